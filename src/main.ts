// Entry point of the single executable. Exit codes: 0 ok, 1 failure, 2 usage.
import { describeError, UsageError } from "./cli/errors.ts";
import { isKubectlPlugin, MOUNT_USAGE, UNMOUNT_USAGE } from "./cli/usage.ts";

const USAGE = `device-mounter: hot-mount devices into running containers

Usage (through Kubernetes; also as \`kubectl device-mounter ...\`):
  ${MOUNT_USAGE}
  ${UNMOUNT_USAGE}

Servers:
  device-mounter apiserver [flags]   the aggregated API device-mounter.io/v1alpha1 (--help for flags)
  device-mounter agent [flags]       the node agent, a DaemonSet (--help for flags)
  device-mounter hold                what slave pods run: waits until terminated

On a node, for any running container:
  device-mounter attach --pid PID [--cgroup DIR]... DEVICE[:ACCESS[:CONTAINER_PATH]]...
  device-mounter detach --pid PID [--cgroup DIR]... [--force] [--grace-period SECONDS] (DEVICE|CONTAINER_PATH... | --all)
  device-mounter list   --pid PID [--cgroup DIR]... [-o table|json]
  device-mounter version [-o json]

DEVICE is a host device node (e.g. /dev/loop3); ACCESS is a subset of rwm
(default rw); CONTAINER_PATH defaults to the host path. PID is a host PID of
any process in the target container.`;

type Command = (argv: string[], out: (line: string) => void) => Promise<void>;

// Loaded on demand: a command pays only for its own dependencies (the node
// CLI and the slave pods' `hold` start without the Kubernetes client, gRPC or
// the schema models the servers need).
const COMMANDS: Record<string, () => Promise<Command>> = {
  mount: async () => (await import("./cli/kube-commands.ts")).mountCommand,
  unmount: async () => (await import("./cli/kube-commands.ts")).unmountCommand,
  apiserver: async () => (await import("./apiserver/command.ts")).apiserverCommand,
  agent: async () => (await import("../agent/command.ts")).agentCommand,
  hold: async () => (await import("../agent/hold.ts")).holdCommand,
  attach: async () => (await import("./cli/node-commands.ts")).attachCommand,
  detach: async () => (await import("./cli/node-commands.ts")).detachCommand,
  list: async () => (await import("./cli/node-commands.ts")).listCommand,
  version: async () => (await import("./cli/node-commands.ts")).versionCommand,
};

export async function main(argv: string[], asKubectlPlugin = false): Promise<number> {
  const [name, ...rest] = argv;
  // As a kubectl plugin the same commands run; only the help names them as kubectl does.
  const usage = asKubectlPlugin ? USAGE.replace(/^(\s*)device-mounter (mount|unmount)/gm, "$1kubectl device-mounter $2") : USAGE;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`device-mounter: unknown command ${JSON.stringify(name)}\n\n${usage}`);
    return 2;
  }
  try {
    const command = await load();
    await command(rest, (line) => console.log(line));
    return 0;
  } catch (e) {
    console.error(`device-mounter ${name}: ${describeError(e)}`);
    if (process.env.DEVICE_MOUNTER_DEBUG && e instanceof Error) console.error(e.stack);
    return e instanceof UsageError ? 2 : 1;
  }
}

// Installed as kubectl-device_mounter, `kubectl device-mounter mount ...` runs the same commands.
// (In a compiled Bun executable argv[1] is the bundle's path; argv0 is the name it was run by.)
if (import.meta.main) process.exit(await main(process.argv.slice(2), isKubectlPlugin(process.argv0)));
