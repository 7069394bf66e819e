// Entry point of the single executable. Exit codes: 0 ok, 1 failure, 2 usage.
import { describeError, UsageError } from "./cli/errors.ts";
import { agentCommand } from "../agent/command.ts";
import { holdCommand } from "../agent/hold.ts";
import { apiserverCommand } from "./apiserver/command.ts";
import { isKubectlPlugin, MOUNT_USAGE, mountCommand, UNMOUNT_USAGE, unmountCommand } from "./cli/kube-commands.ts";
import { attachCommand, detachCommand, listCommand, versionCommand } from "./cli/node-commands.ts";

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

const COMMANDS: Record<string, Command> = {
  mount: mountCommand,
  unmount: unmountCommand,
  apiserver: apiserverCommand,
  agent: agentCommand,
  hold: () => holdCommand(),
  attach: attachCommand,
  detach: detachCommand,
  list: listCommand,
  version: versionCommand,
};

export async function main(argv: string[], _asKubectlPlugin = false): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`device-mounter: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  try {
    await command(rest, (line) => console.log(line));
    return 0;
  } catch (e) {
    console.error(`device-mounter ${name}: ${describeError(e)}`);
    if (process.env.DEVICE_MOUNTER_DEBUG && e instanceof Error) console.error(e.stack);
    return e instanceof UsageError ? 2 : 1;
  }
}

// Installed as kubectl-device_mounter, `kubectl device-mounter mount ...` runs the same commands.
if (import.meta.main) process.exit(await main(process.argv.slice(2), isKubectlPlugin(process.argv[1] ?? process.argv0)));
