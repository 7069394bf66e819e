// Device nodes inside a container's mount namespace, through the native
// layer (no mknod binary needed in the image, symlinks cannot escape).
import { isNativeError, loadNative, type NsStat } from "../../native/index.ts";

export interface NodeSpec {
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

/** Something other than the wanted device node is at the path; nothing was changed. */
export class NodeConflictError extends Error {
  override readonly name = "NodeConflictError";
}

const DIR_MODE = 0o755;

function describeStat(st: NsStat): string {
  return st.type === "c" || st.type === "b" ? `device ${st.type} ${st.rdevMajor}:${st.rdevMinor}` : { d: "a directory", f: "a regular file", l: "a symlink", o: "a special file" }[st.type];
}

/** The node at `path` in the container, or undefined when nothing is there. */
export function statNode(pid: number, path: string): NsStat | undefined {
  try {
    return loadNative().nsStat(pid, path);
  } catch (e) {
    if (isNativeError(e) && e.code === "ENOENT") return undefined;
    throw e;
  }
}

export const isNodeOf = (st: NsStat | undefined, spec: Pick<NodeSpec, "type" | "major" | "minor">): st is NsStat =>
  st !== undefined && st.type === spec.type && st.rdevMajor === spec.major && st.rdevMinor === spec.minor;

/** Checks that `spec.path` is free or already holds that very device; returns whether it is there already. */
export function checkNodeSlot(pid: number, spec: NodeSpec): boolean {
  const st = statNode(pid, spec.path);
  if (st === undefined) return false;
  if (isNodeOf(st, spec)) return true;
  throw new NodeConflictError(`${spec.path} already exists in the container as ${describeStat(st)}, not ${spec.type} ${spec.major}:${spec.minor}`);
}

/** Creates the node unless that device is already there; returns whether it created it. */
export function ensureNode(pid: number, spec: NodeSpec): boolean {
  if (checkNodeSlot(pid, spec)) return false;
  loadNative().nsMknod(pid, spec.path, spec.type, spec.major, spec.minor, spec.mode, spec.uid, spec.gid, DIR_MODE);
  return true;
}

/** Removes the node if it is still that device; something else at the path is left alone. */
export function removeNode(pid: number, spec: Pick<NodeSpec, "path" | "type" | "major" | "minor">): boolean {
  const st = statNode(pid, spec.path);
  if (!isNodeOf(st, spec)) return false;
  try {
    loadNative().nsUnlink(pid, spec.path);
    return true;
  } catch (e) {
    if (isNativeError(e) && e.code === "ENOENT") return false;
    throw e;
  }
}
