import { runCommand, runCommandSync, type CommandOptions, type CommandResult } from "./command.ts";

export type CgroupMode = "v1" | "v2";

/** Dedicated runc state roots, so our containers never mix with anyone else's. */
export const RUNC_ROOTS: Readonly<Record<CgroupMode, string>> = {
  v1: "/run/dm-test-runc-v1",
  v2: "/run/dm-test-runc-v2",
};

// runc picks its cgroup driver from what is mounted at /sys/fs/cgroup. On the
// hybrid host that is a tmpfs of v1 hierarchies; a private mount namespace
// with cgroup2 mounted there makes runc run as on a pure-v2 host (and attach
// its BPF device program). The cgroup2 tree is the host's, so the host sees
// the container's cgroup under its own cgroup2 mount (/sys/fs/cgroup/unified).
const V2_WRAPPER = `mount --make-rprivate / && mount -t cgroup2 none /sys/fs/cgroup && exec runc --root ${RUNC_ROOTS.v2} "$@"`;

/** argv that runs `runc <args>` against the given mode's root and cgroup driver. */
export function runcCommand(mode: CgroupMode, args: readonly string[]): string[] {
  if (mode === "v1") return ["runc", "--root", RUNC_ROOTS.v1, ...args];
  return ["unshare", "--mount", "--", "sh", "-c", V2_WRAPPER, "sh", ...args];
}

export function runRunc(mode: CgroupMode, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return runCommand(runcCommand(mode, args), options);
}

export function runRuncSync(mode: CgroupMode, args: readonly string[]): { code: number; stderr: string } {
  return runCommandSync(runcCommand(mode, args));
}

export function isNoSuchContainer(stderr: string): boolean {
  return stderr.includes("does not exist");
}
