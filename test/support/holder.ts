// A process inside a container that holds a device open, for busy-unmount
// tests: started in the background by the container's shell, and found by
// its command among the container's processes once it has exec'd.
import { readFileSync } from "node:fs";
import type { Container } from "./runc.ts";

function containerPids(container: Container): number[] {
  const dir = container.cgroup.v1Devices ?? container.cgroup.unified;
  return readFileSync(`${dir}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Starts `sleep` with `path` open on stdin inside the container; resolves with its host PID. */
export async function startHolder(container: Container, path: string): Promise<number> {
  const started = await container.execText(["sh", "-c", `sleep 1000 < ${path} > /dev/null 2>&1 &`]);
  if (started.code !== 0) throw new Error(`cannot start a holder of ${path}: ${started.stderr}`);
  // The shell returns before its child has exec'd sleep, and processes give no event to wait on.
  for (let i = 0; i < 100; i++) {
    const pid = containerPids(container).find((p) => p !== container.pid && commOf(p) === "sleep");
    if (pid !== undefined) return pid;
    await Bun.sleep(20);
  }
  throw new Error(`no sleep process holding ${path} appeared in container ${container.id}`);
}
