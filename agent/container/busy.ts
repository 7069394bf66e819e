// Finds the processes of a container that use a device (hold it open or have
// it mapped), and ends them when an unmount is forced.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { splitDev } from "./host-device.ts";

export interface DeviceInUse {
  type: "c" | "b";
  major: number;
  minor: number;
  /** The node's own identity (st_dev, st_ino) inside the container, for matching /proc/PID/maps. */
  node?: { devMajor: number; devMinor: number; ino: number };
}

export interface Holder {
  pid: number;
  comm: string;
  /** Which of the devices it uses, as "c 10:232". */
  devices: string[];
}

export function listCgroupPids(cgroupDir: string): number[] {
  return readFileSync(`${cgroupDir}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
}

const deviceKey = (d: { type: string; major: number; minor: number }) => `${d.type} ${d.major}:${d.minor}`;

function readComm(procRoot: string, pid: number): string {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/** The process is gone (or the fd closed) meanwhile: nothing to see. Anything else means we cannot tell. */
const vanished = (e: unknown) => ["ENOENT", "ESRCH"].includes((e as NodeJS.ErrnoException).code ?? "");

/** Never fail open: a process whose files cannot be inspected might hold the device. */
class CannotInspectError extends Error {
  override readonly name = "CannotInspectError";
  constructor(pid: number, what: string, cause: unknown) {
    super(`cannot tell whether pid ${pid} uses the device: reading its ${what} failed (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`);
  }
}

function openDevices(procRoot: string, pid: number): Set<string> {
  const found = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`${procRoot}/${pid}/fd`);
  } catch (e) {
    if (vanished(e)) return found;
    throw new CannotInspectError(pid, "open files", e);
  }
  for (const fd of fds) {
    try {
      const st = statSync(`${procRoot}/${pid}/fd/${fd}`, { bigint: true });
      const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : undefined;
      if (type) found.add(deviceKey({ type, ...splitDev(st.rdev) }));
    } catch (e) {
      if (!vanished(e)) throw new CannotInspectError(pid, `fd ${fd}`, e);
    }
  }
  return found;
}

/** "7:3 12345" pairs (st_dev major:minor in hex, inode) of everything mapped. */
function mappedNodes(procRoot: string, pid: number): Set<string> {
  const found = new Set<string>();
  let maps: string;
  try {
    maps = readFileSync(`${procRoot}/${pid}/maps`, "utf8");
  } catch (e) {
    if (vanished(e)) return found;
    throw new CannotInspectError(pid, "memory maps", e);
  }
  for (const line of maps.split("\n")) {
    const fields = line.split(/\s+/);
    const dev = fields[3];
    const ino = fields[4];
    if (!dev || !ino || ino === "0") continue;
    const [maj, min] = dev.split(":");
    found.add(`${parseInt(maj!, 16)}:${parseInt(min!, 16)} ${ino}`);
  }
  return found;
}

/** The processes among `pids` that hold one of `devices` open or mapped. */
export function findHolders(pids: number[], devices: DeviceInUse[], procRoot = "/proc"): Holder[] {
  const holders: Holder[] = [];
  for (const pid of pids) {
    const open = openDevices(procRoot, pid);
    const mapped = devices.some((d) => d.node) ? mappedNodes(procRoot, pid) : new Set<string>();
    const using = devices.filter(
      (d) => open.has(deviceKey(d)) || (d.node !== undefined && mapped.has(`${d.node.devMajor}:${d.node.devMinor} ${d.node.ino}`)),
    );
    if (using.length) holders.push({ pid, comm: readComm(procRoot, pid), devices: using.map(deviceKey) });
  }
  return holders;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** A zombie has released its files and mappings already, so it counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** A process that should have been ended is still there: the device stays granted. */
export class TerminateError extends Error {
  override readonly name = "TerminateError";
}

/**
 * SIGTERM, then SIGKILL whatever is still alive after `graceMs`. Processes
 * give no event we could wait on from outside their parent, so this polls.
 * Resolves once every pid is gone; throws TerminateError naming those that
 * are not (a signal refused, or a process stuck in the kernel).
 */
export async function terminate(pids: number[], graceMs: number, clock: Clock = realClock): Promise<void> {
  const refused = new Map<number, string>();
  const signal = (sig: NodeJS.Signals, pid: number) => {
    try {
      process.kill(pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") refused.set(pid, `${sig}: ${(e as NodeJS.ErrnoException).code}`);
    }
  };
  pids.forEach((pid) => signal("SIGTERM", pid));
  const waitGone = async (deadline: number) => {
    while (pids.some(alive) && clock.now() < deadline) await clock.sleep(20);
  };
  await waitGone(clock.now() + graceMs);
  const left = pids.filter(alive);
  left.forEach((pid) => signal("SIGKILL", pid));
  await waitGone(clock.now() + 2000);
  const survivors = pids.filter(alive);
  if (survivors.length) {
    throw new TerminateError(`could not end ${survivors.map((pid) => `pid ${pid}${refused.has(pid) ? ` (${refused.get(pid)})` : ""}`).join(", ")}; the device stays granted`);
  }
}
