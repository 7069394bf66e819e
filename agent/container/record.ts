// What device-mounter has granted to one container, kept in the kernel as an
// extended attribute of the container's own cgroup directory. It lives and
// dies with the container, survives restarts of device-mounter, and needs no
// local state; the cgroup rules and device nodes are checked against it.
import * as v from "valibot";
import { loadNative } from "../../native/index.ts";

export const RECORD_XATTR = "trusted.device-mounter.grants";

const Access = v.pipe(v.string(), v.regex(/^r?w?m?$/), v.minLength(1));
const DeviceType = v.picklist(["c", "b"]);
const Uint = v.pipe(v.number(), v.integer(), v.minValue(0));

const GrantedDeviceSchema = v.object({
  /** Absolute path of the node inside the container. */
  path: v.pipe(v.string(), v.startsWith("/")),
  type: DeviceType,
  major: Uint,
  minor: Uint,
  access: Access,
  mode: Uint,
  uid: Uint,
  gid: Uint,
  /** The node was there before device-mounter (e.g. put there by the runtime): never removed by a revoke. */
  nodePreexisting: v.boolean(),
  /** Who granted it ("agent" for the node agent; absent for the node CLI). */
  grantor: v.optional(v.string()),
  /** The node's st_dev and st_ino, to recognise a mapping of it in /proc/PID/maps. */
  node: v.optional(v.object({ devMajor: Uint, devMinor: Uint, ino: Uint })),
});

const DeviceAccessSchema = v.object({ type: DeviceType, major: Uint, minor: Uint, access: Access });

const GrantRecordSchema = v.object({
  version: v.literal(1),
  devices: v.array(GrantedDeviceSchema),
  /** cgroup v1 only: the access bits device-mounter itself wrote to devices.allow (the runtime's own are never revoked). */
  v1Added: v.array(DeviceAccessSchema),
});

export type GrantedDevice = v.InferOutput<typeof GrantedDeviceSchema>;
export type DeviceAccess = v.InferOutput<typeof DeviceAccessSchema>;
export type GrantRecord = v.InferOutput<typeof GrantRecordSchema>;

export const emptyRecord = (): GrantRecord => ({ version: 1, devices: [], v1Added: [] });

export class CorruptRecordError extends Error {
  override readonly name = "CorruptRecordError";
}

export function readRecord(cgroupDir: string): GrantRecord {
  const raw = loadNative().getxattr(cgroupDir, RECORD_XATTR);
  if (!raw) return emptyRecord();
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new CorruptRecordError(`${RECORD_XATTR} on ${cgroupDir} is not JSON`);
  }
  const result = v.safeParse(GrantRecordSchema, parsed);
  if (!result.success) throw new CorruptRecordError(`${RECORD_XATTR} on ${cgroupDir}: ${v.summarize(result.issues)}`);
  return result.output;
}

export function writeRecord(cgroupDir: string, record: GrantRecord): void {
  const native = loadNative();
  if (record.devices.length === 0 && record.v1Added.length === 0) native.removexattr(cgroupDir, RECORD_XATTR);
  else native.setxattr(cgroupDir, RECORD_XATTR, new TextEncoder().encode(JSON.stringify(record)));
}
