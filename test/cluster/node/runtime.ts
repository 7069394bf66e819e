// The container-runtime half of the node (what containerd + runc do for the kubelet):
// a new 64-hex container ID per start, the container's cgroup under its pod cgroup,
// device plugin DeviceSpecs turned into OCI devices the way containerd's CRI plugin
// does it (stat the host path for type, numbers, mode and owner), and exit detection.
import { readFileSync, statSync } from "node:fs";
import { TEST_PREFIX } from "../../support/names.ts";
import { startContainer, type Container, type ContainerDevice } from "../../support/runc.ts";
import { containerCgroup, type CgroupDriver, type CgroupMode } from "./cgroups.ts";
import type { DeviceSpec } from "./devices.ts";
import { splitDev } from "../../../agent/container/host-device.ts";

export interface RuntimeContainer {
  /** The CRI container ID (64 hex digits); status shows containerd://<id>. */
  id: string;
  runc: Container;
  cgroupPath: string;
  startedAt: Date;
  /** Host pid of the container's init and its start time in clock ticks (guards pid reuse). */
  pid: number;
  pidStartTicks: string;
}

export interface StartOptions {
  mode: CgroupMode;
  driver: CgroupDriver;
  podCgroup: string;
  args?: string[];
  env: string[];
  devices: readonly DeviceSpec[];
  /** What the container's image ships beyond the busybox rootfs (host path → path in the container). */
  binds?: ReadonlyArray<{ source: string; destination: string }>;
}

export function newContainerId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

export async function startRuntimeContainer(options: StartOptions): Promise<RuntimeContainer> {
  const id = newContainerId();
  const cgroupPath = containerCgroup(options.driver, options.podCgroup, id);
  const runc = await startContainer({
    mode: options.mode,
    // runc ids carry the harness prefix and owner pid so leftovers can be swept.
    id: `${TEST_PREFIX}-${process.pid}-ctr-${id}`,
    cgroupsPath: cgroupPath,
    ...(options.args ? { args: options.args } : {}),
    env: options.env,
    devices: options.devices.map(toContainerDevice),
    ...(options.binds ? { binds: options.binds } : {}),
  });
  const startTicks = procStat(runc.pid)?.startTicks;
  if (startTicks === undefined) {
    // It already exited: keep it so the kubelet reports it as an exited container.
    return { id, runc, cgroupPath, startedAt: new Date(), pid: runc.pid, pidStartTicks: "" };
  }
  return { id, runc, cgroupPath, startedAt: new Date(), pid: runc.pid, pidStartTicks: startTicks };
}

/** containerd's WithDevices: the host node's type, numbers, mode and owner; cgroup access = permissions. */
export function toContainerDevice(spec: DeviceSpec): ContainerDevice {
  let stat;
  try {
    stat = statSync(spec.hostPath);
  } catch (error) {
    throw new Error(`device ${spec.hostPath} for ${spec.containerPath}: ${(error as Error).message}`);
  }
  if (!stat.isBlockDevice() && !stat.isCharacterDevice()) {
    throw new Error(`device ${spec.hostPath} for ${spec.containerPath} is not a device node`);
  }
  return {
    path: spec.containerPath,
    type: stat.isBlockDevice() ? "b" : "c",
    ...splitDev(BigInt(stat.rdev)),
    fileMode: stat.mode & 0o7777,
    uid: stat.uid,
    gid: stat.gid,
    access: spec.permissions,
  };
}

interface ProcStat {
  state: string;
  startTicks: string;
  /** The wait status a zombie leaves for its parent (field 52). */
  waitStatus: number;
}

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after the parenthesised command name, which may itself contain spaces.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", startTicks: fields[19] ?? "", waitStatus: Number(fields[49] ?? 0) };
}

export type ExitObservation = { exited: false } | { exited: true; exitCode?: number };

/**
 * Whether the container's init has exited. runc has no exit event for a detached
 * container, so this is polled. A zombie still holds its wait status; once reaped (or
 * when the pid was reused) the exit code is unknown.
 */
export function observeExit(container: RuntimeContainer): ExitObservation {
  const stat = procStat(container.pid);
  if (!stat || stat.startTicks !== container.pidStartTicks) return { exited: true };
  if (stat.state !== "Z" && stat.state !== "X") return { exited: false };
  const signal = stat.waitStatus & 0x7f;
  return { exited: true, exitCode: signal !== 0 ? 128 + signal : (stat.waitStatus >> 8) & 0xff };
}
