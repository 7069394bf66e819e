// Declarative device grants for one running container: each call states the
// full set of devices device-mounter grants to it, and the difference to what
// is granted now is applied to the cgroup layers that enforce device access
// and to the device nodes in the container's mount namespace. Any failure
// puts back what was there before.
import { existsSync, readdirSync } from "node:fs";
import { loadNative } from "../../native/index.ts";
import type { DeviceRule } from "../devices/rules.ts";
import { locateCgroupDirs, type CgroupDirs } from "../cgroup/locate.ts";
import { executeV1, planV1, readDevicesList, v1Enforces } from "../cgroup/v1.ts";
import { applyV2 } from "../cgroup/v2.ts";
import { findHolders, listCgroupPids, realClock, terminate, type Clock, type DeviceInUse, type Holder } from "./busy.ts";
import { lockGrants } from "./grant-lock.ts";
import { changeNodes, type NodeOutcome, type NodeSpec } from "./nodes.ts";
import { readRecord, writeRecord, type DeviceAccess, type GrantRecord, type GrantedDevice } from "./record.ts";

export interface DeviceSpec extends NodeSpec {
  /** Canonical subset of "rwm". */
  access: string;
  /** Who asked for it (e.g. "agent"), kept in the record so each grantor manages only its own. */
  grantor?: string;
}

export interface ContainerTarget {
  /** A process of the container, as the host sees it. */
  pid: number;
  /** Overrides the cgroup directories found from /proc/PID/cgroup. */
  cgroupDirs?: CgroupDirs;
}

/** Which cgroup layers restrict the container's devices, and where its record lives. */
export interface Enforcement {
  v1?: string;
  v2?: string;
  recordDir: string;
}

export class DeviceBusyError extends Error {
  override readonly name = "DeviceBusyError";
  /** "pid 42 (python) using c 195:0; …" */
  readonly inUseBy: string;
  constructor(readonly holders: Holder[]) {
    const inUseBy = holders.map((h) => `pid ${h.pid} (${h.comm}) using ${h.devices.join(", ")}`).join("; ");
    super(`device in use by ${inUseBy}; stop those processes or force the unmount`);
    this.inUseBy = inUseBy;
  }
}

export class NoContainerCgroupError extends Error {
  override readonly name = "NoContainerCgroupError";
}

export class InvalidGrantError extends Error {
  override readonly name = "InvalidGrantError";
}

export interface GrantOptions {
  /** End processes that use a device being revoked (SIGTERM, then SIGKILL after graceMs). */
  force?: boolean;
  graceMs?: number;
  /** How long to wait while another process changes this container's grants (default 10 s). */
  lockTimeoutMs?: number;
  clock?: Clock;
}

/**
 * The full set of devices to grant, or how to derive it from what is granted
 * now: the plan sees the record under the lock, so a change made meanwhile by
 * another process is not lost. A plan may throw to refuse; nothing changes then.
 */
export type DesiredGrants = DeviceSpec[] | ((current: GrantedDevice[]) => DeviceSpec[]);

export interface GrantResult {
  enforcement: Enforcement;
  added: GrantedDevice[];
  removed: GrantedDevice[];
  unchanged: GrantedDevice[];
  /** Processes ended by a forced revoke. */
  killed: Holder[];
  /** The kernel (cgroup rules or nodes) had to be changed: with nothing added or removed, a repair. */
  kernelChanged: boolean;
}

/** Only a hierarchy's root cgroup has release_agent (v1) or lacks cgroup.type (v2). */
const isHierarchyRoot = (dir: string) => existsSync(`${dir}/release_agent`) || (!existsSync(`${dir}/devices.list`) && !existsSync(`${dir}/cgroup.type`));

export function findEnforcement(target: ContainerTarget): Enforcement {
  const dirs = target.cgroupDirs ?? locateCgroupDirs(target.pid);
  const v1 = dirs.v1Devices && v1Enforces(readDevicesList(dirs.v1Devices)) ? dirs.v1Devices : undefined;
  const v2 = dirs.unified && loadNative().bpfProgQuery(dirs.unified).progIds.length > 0 ? dirs.unified : undefined;
  // The record must sit on a cgroup of this container alone; a layer that
  // enforces is one, and otherwise any non-root directory is the best we have.
  const recordDir = v2 ?? v1 ?? [dirs.unified, dirs.v1Devices].find((d) => d !== undefined && !isHierarchyRoot(d));
  if (!recordDir) throw new NoContainerCgroupError(`process ${target.pid} is in no cgroup of its own (${JSON.stringify(dirs)}); pass the container's cgroup explicitly`);
  return { v1, v2, recordDir };
}

const deviceKey = (d: { type: string; major: number; minor: number }) => `${d.type} ${d.major}:${d.minor}`;
const sameDevice = (a: NodeSpec, b: NodeSpec) => deviceKey(a) === deviceKey(b);
const sameGrant = (a: GrantedDevice, b: DeviceSpec) =>
  sameDevice(a, b) && a.access === b.access && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.grantor === b.grantor;

/** Access per device, merged over every path the device is granted at. */
function accessByDevice(devices: Array<{ type: "c" | "b"; major: number; minor: number; access: string }>): DeviceAccess[] {
  const merged = new Map<string, DeviceAccess>();
  for (const d of devices) {
    const prev = merged.get(deviceKey(d));
    const access = ["r", "w", "m"].filter((b) => d.access.includes(b) || prev?.access.includes(b)).join("");
    merged.set(deviceKey(d), { type: d.type, major: d.major, minor: d.minor, access });
  }
  return [...merged.values()];
}

const toRules = (access: DeviceAccess[]): DeviceRule[] => access.map((a) => ({ ...a, allow: true }) as DeviceRule);

function validate(desired: DeviceSpec[]): void {
  const seen = new Set<string>();
  for (const d of desired) {
    if (!d.path.startsWith("/")) throw new InvalidGrantError(`container path ${JSON.stringify(d.path)} is not absolute`);
    if (seen.has(d.path)) throw new InvalidGrantError(`container path ${d.path} is given twice`);
    if (!/^r?w?m?$/.test(d.access) || d.access === "") throw new InvalidGrantError(`access ${JSON.stringify(d.access)} for ${d.path} is not a subset of "rwm" in that order`);
    seen.add(d.path);
  }
}

function containerPids(dir: string): number[] {
  const pids = listCgroupPids(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) pids.push(...containerPids(`${dir}/${entry.name}`));
  }
  return pids;
}

/** Reads what device-mounter has granted to the container. */
export function readGrants(target: ContainerTarget): { enforcement: Enforcement; record: GrantRecord } {
  const enforcement = findEnforcement(target);
  return { enforcement, record: readRecord(enforcement.recordDir) };
}

export async function setGrants(target: ContainerTarget, desiredGrants: DesiredGrants, options: GrantOptions = {}): Promise<GrantResult> {
  const enforcement = findEnforcement(target);
  const release = await lockGrants(enforcement.recordDir, options.lockTimeoutMs ?? 10_000, options.clock);
  try {
    const record = readRecord(enforcement.recordDir);
    const desired = typeof desiredGrants === "function" ? desiredGrants(record.devices) : desiredGrants;
    return await applyGrants(target.pid, enforcement, record, desired, options);
  } finally {
    release();
  }
}

async function applyGrants(pid: number, enforcement: Enforcement, record: GrantRecord, desired: DeviceSpec[], options: GrantOptions): Promise<GrantResult> {
  validate(desired);
  const wanted = new Map(desired.map((d) => [d.path, d]));
  const recorded = (d: DeviceSpec) => record.devices.find((r) => r.path === d.path && sameDevice(r, d));

  const unchanged = record.devices.filter((c) => {
    const w = wanted.get(c.path);
    return w !== undefined && sameGrant(c, w);
  });
  const removed = record.devices.filter((c) => {
    const w = wanted.get(c.path);
    return w === undefined || !sameDevice(c, w);
  });
  const killed = await clearHolders(enforcement, removed, desired, options);

  const nextAccess = accessByDevice(desired);
  const v1Plan = enforcement.v1 ? planV1(enforcement.v1, nextAccess, record.v1Added) : undefined;
  // The record goes first and over-approximates, so that a crash half-way
  // leaves every grant recorded and a later call can take it back.
  const intent: GrantRecord = {
    version: 1,
    devices: [
      ...desired.map((d) => ({ ...specOf(d), nodePreexisting: recorded(d)?.nodePreexisting ?? false, node: recorded(d)?.node })),
      ...record.devices.filter((c) => !wanted.has(c.path)),
    ],
    v1Added: accessByDevice([...record.v1Added, ...(v1Plan?.added ?? [])]),
  };

  let nodes: NodeOutcome = { unlinked: [], created: [], present: [] };
  let cgroupTouched = false;
  try {
    writeRecord(enforcement.recordDir, intent);
    // Missing nodes are (re)made for every grant, unchanged ones too: attach repairs.
    nodes = changeNodes(pid, { unlink: removed.filter((r) => !r.nodePreexisting), ensure: desired });
    if (nodes.error) throw nodes.error;
    cgroupTouched = true;
    if (v1Plan) executeV1(v1Plan);
    const v2Outcome = enforcement.v2 ? applyV2(enforcement.v2, toRules(nextAccess)) : "unrestricted";
    const kernelChanged = (v1Plan?.writes.length ?? 0) > 0 || v2Outcome === "replaced" || nodes.created.length > 0 || nodes.unlinked.length > 0;
    const next: GrantedDevice[] = desired.map((d) => {
      const created = nodes.created.find((n) => n.path === d.path);
      const present = nodes.present.find((n) => n.path === d.path);
      const nodePreexisting = created ? false : (recorded(d)?.nodePreexisting ?? true);
      return { ...specOf(d), nodePreexisting, node: (created ?? present)?.node };
    });
    writeRecord(enforcement.recordDir, { version: 1, devices: next, v1Added: v1Plan?.added ?? [] });
    return {
      enforcement,
      added: next.filter((n) => !unchanged.some((u) => u.path === n.path)),
      removed,
      unchanged,
      killed,
      kernelChanged,
    };
  } catch (error) {
    const rollbackErrors = rollBack(enforcement, pid, record, { nodes, cgroupTouched, v1Added: intent.v1Added });
    if (rollbackErrors.length) Object.assign(error as object, { rollbackErrors });
    throw error;
  }
}

/** A grant as a request to grant it again (what a plan returns for devices it keeps). */
export const specOf = (d: DeviceSpec): DeviceSpec => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, access: d.access, mode: d.mode, uid: d.uid, gid: d.gid, ...(d.grantor ? { grantor: d.grantor } : {}) });

/** Devices being revoked must not be in use, unless the caller forces it. */
async function clearHolders(enforcement: Enforcement, removed: GrantedDevice[], desired: DeviceSpec[], options: GrantOptions): Promise<Holder[]> {
  const stillGranted = new Set(desired.map(deviceKey));
  const revoked: DeviceInUse[] = removed.filter((r) => !stillGranted.has(deviceKey(r))).map((r) => ({ type: r.type, major: r.major, minor: r.minor, node: r.node }));
  if (revoked.length === 0) return [];
  const holders = findHolders(containerPids(enforcement.recordDir), revoked);
  if (holders.length === 0) return [];
  if (!options.force) throw new DeviceBusyError(holders);
  await terminate(
    holders.map((h) => h.pid),
    options.graceMs ?? 5000,
    options.clock ?? realClock,
  );
  return holders;
}

function rollBack(
  enforcement: Enforcement,
  pid: number,
  before: GrantRecord,
  done: { nodes: NodeOutcome; cgroupTouched: boolean; v1Added: DeviceAccess[] },
): unknown[] {
  const errors: unknown[] = [];
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      errors.push(e);
    }
  };
  if (done.cgroupTouched) {
    const access = accessByDevice(before.devices);
    if (enforcement.v1) attempt(() => executeV1(planV1(enforcement.v1!, access, done.v1Added)));
    if (enforcement.v2) attempt(() => applyV2(enforcement.v2!, toRules(access)));
  }
  attempt(() => {
    const undone = changeNodes(pid, { unlink: done.nodes.created, ensure: done.nodes.unlinked });
    if (undone.error) throw undone.error;
  });
  attempt(() => writeRecord(enforcement.recordDir, before));
  return errors;
}
