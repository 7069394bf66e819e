// The agent DaemonSet's capability list (deploy/base/agent-daemonset.yaml),
// proven on real runc containers in both cgroup modes: the compiled binary,
// holding exactly those capabilities (as root with everything else dropped,
// as the container runtime gives them), attaches a device, lists it, finds a
// holder of another user (reading its /proc), and force-detaches (killing
// it). Each capability left out makes some step fail, so the list is exact.
// (CAP_BPF is not in it: bpf() accepts CAP_SYS_ADMIN, which setns needs anyway.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAfterAll, registerCleanup } from "../support/cleanup.ts";
import { createLoopDevice, type LoopDevice } from "../support/loop.ts";
import { requireRoot } from "../support/prereqs.ts";
import { startContainer, type CgroupMode, type Container } from "../support/runc.ts";
import { AGENT, BINARY, container, render, requireBinary } from "./manifests.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);
if (ready) requireBinary();

const SETPRIV = Bun.which("setpriv");
/** A user the container's processes are not: holders of other users need CAP_SYS_PTRACE to inspect and CAP_KILL to end. */
const OTHER_UID = 4242;
/** Debian's group "disk". */
const DISK_GID = 6;

const manifestCapabilities = (): string[] => container(render("deploy"), AGENT).securityContext.capabilities.add;

interface Step {
  step: string;
  code: number;
  output: string;
}

/** `command` as the agent's container runs: uid 0, no supplementary groups, only `capabilities`. */
async function withCapabilities(capabilities: string[], args: string[], command: string[] = [BINARY]): Promise<Step> {
  if (!SETPRIV) throw new Error("setpriv (util-linux) is not on PATH: it drops capabilities like the container runtime does");
  const bounding = ["-all", ...capabilities.map((c) => `+${c.toLowerCase()}`)].join(",");
  const child = Bun.spawn([SETPRIV, "--clear-groups", "--inh-caps=-all", `--bounding-set=${bounding}`, "--", ...command, ...args], {
    cwd: "/",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { step: command.length > 1 ? "agent node" : args[0]!, code, output: `${stdout}${stderr}`.trim() };
}

/** Alive and not a zombie (a zombie has let go of its files). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * A process of another user holding `path` open, moved into the container's
 * cgroups (where the agent looks for the container's processes).
 */
function startHolder(c: Container, path: string): { pid: number; stop(): void } {
  const fd = openSync(path, "r");
  const child = Bun.spawn([SETPRIV!, `--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, "--clear-groups", "--", "/bin/busybox", "sleep", "1000"], { stdin: fd, stdout: "ignore", stderr: "ignore" });
  closeSync(fd);
  for (const dir of [c.cgroup.unified, c.cgroup.v1Devices]) if (dir) writeFileSync(join(dir, "cgroup.procs"), String(child.pid));
  const unregister = registerCleanup(() => child.kill("SIGKILL"), `holder ${child.pid}`);
  return {
    pid: child.pid,
    stop: () => {
      child.kill("SIGKILL");
      unregister();
    },
  };
}

/** attach, list, a refused detach naming the holder, a forced detach: the first step that fails, or the last. */
async function agentFlow(capabilities: string[], mode: CgroupMode, loop: LoopDevice): Promise<Step> {
  const c = await startContainer({ mode });
  const unregister = registerCleanup(() => c.stop(), `container ${c.id}`);
  try {
    const pid = String(c.pid);
    const attach = await withCapabilities(capabilities, ["attach", "--pid", pid, `${loop.path}:rw:/dev/dm-test/data`]);
    if (attach.code !== 0) return attach;
    const read = await c.exec(["head", "-c", "4096", "/dev/dm-test/data"]);
    if (read.code !== 0 || !Buffer.from(read.stdout).equals(Buffer.from(loop.bytes))) return { step: "read inside", code: 1, output: `read ${read.stdout.length} bytes, exit ${read.code}` };
    // The agent gives a node the host node's owner (here root:disk); the CLI above uses root:root.
    const node = await withCapabilities(capabilities, [pid, "/dev/dm-test/owned", "b", String(loop.major), String(loop.minor), String(0o660), "0", String(DISK_GID)], [process.execPath, join(import.meta.dir, "agent-node.ts")]);
    if (node.code !== 0) return node;
    const owned = statSync(`/proc/${c.pid}/root/dev/dm-test/owned`);
    if (owned.gid !== DISK_GID) return { step: "agent node", code: 1, output: `the node's group is ${owned.gid}, not ${DISK_GID}` };
    const list = await withCapabilities(capabilities, ["list", "--pid", pid]);
    if (list.code !== 0 || !list.output.includes("/dev/dm-test/data")) return { ...list, code: list.code || 1 };
    const holder = startHolder(c, `/proc/${c.pid}/root/dev/dm-test/data`);
    try {
      const refused = await withCapabilities(capabilities, ["detach", "--pid", pid, "/dev/dm-test/data"]);
      if (!refused.output.includes(`pid ${holder.pid}`)) return { step: "detach (busy)", code: refused.code || 1, output: refused.output };
      const forced = await withCapabilities(capabilities, ["detach", "--pid", pid, "--force", "--grace-period", "1", "/dev/dm-test/data"]);
      if (forced.code !== 0) return { ...forced, step: "detach --force" };
      if (running(holder.pid)) return { step: "detach --force (holder ended)", code: 1, output: `pid ${holder.pid} still runs; the binary said: ${forced.output}` };
      const gone = !existsSync(`/proc/${c.pid}/root/dev/dm-test/data`);
      return { step: "detach --force", code: gone ? 0 : 1, output: forced.output };
    } finally {
      holder.stop();
    }
  } finally {
    await c.stop();
    unregister();
  }
}

describe.skipIf(!ready)("the agent's capabilities", () => {
  let loop: LoopDevice;
  beforeAll(async () => {
    loop = await createLoopDevice();
    // As udev leaves block devices on a host (root:disk 0660).
    chownSync(loop.path, 0, DISK_GID);
    chmodSync(loop.path, 0o660);
  });
  afterAll(async () => {
    await loop?.detach();
  });

  for (const mode of ["v1", "v2"] as CgroupMode[]) {
    test(`with exactly the DaemonSet's capabilities, every step works (cgroup ${mode})`, async () => {
      const result = await agentFlow(manifestCapabilities(), mode, loop);
      expect(result).toMatchObject({ step: "detach --force", code: 0 });
    }, 60_000);
  }

  test("each capability is needed: without it some step fails in some cgroup mode", async () => {
    const all = manifestCapabilities();
    const needless: string[] = [];
    for (const capability of all) {
      const without = all.filter((c) => c !== capability);
      const results = [await agentFlow(without, "v1", loop), await agentFlow(without, "v2", loop)];
      if (results.every((r) => r.code === 0)) needless.push(capability);
    }
    expect(needless).toEqual([]);
  }, 300_000);
});
