// Device nodes inside a container's mount namespace, through the native
// layer (no mknod binary needed in the image, symlinks cannot escape). All
// node work of one grant happens in one namespace entry.
import { loadNative, type NativeError, type NsOp, type NsStat } from "../../native/index.ts";
import type { DeviceNodeStat } from "./host-device.ts";

/** A node to make at `path` inside the container: the device, its permission bits and owner. */
export interface NodeSpec extends DeviceNodeStat {
  path: string;
}

/** The node's own identity (st_dev, st_ino), as /proc/PID/maps shows a mapping of it. */
export interface NodeIdentity {
  devMajor: number;
  devMinor: number;
  ino: number;
}

/** Something other than the wanted device node is at the path. */
export class NodeConflictError extends Error {
  override readonly name = "NodeConflictError";
}

const DIR_MODE = 0o755;

function describeStat(st: NsStat): string {
  return st.type === "c" || st.type === "b" ? `device ${st.type} ${st.rdevMajor}:${st.rdevMinor}` : { d: "a directory", f: "a regular file", l: "a symlink", o: "a special file" }[st.type];
}

const isNodeOf = (st: NsStat | undefined, spec: Pick<NodeSpec, "type" | "major" | "minor">): st is NsStat =>
  st !== undefined && st.type === spec.type && st.rdevMajor === spec.major && st.rdevMinor === spec.minor;

const identity = (st: NsStat): NodeIdentity => ({ devMajor: st.devMajor, devMinor: st.devMinor, ino: st.ino });

export interface NodeChanges {
  /** Removed only where that very device is still at the path. */
  unlink: NodeSpec[];
  /** Made where missing; a node of the same device already there is kept. */
  ensure: NodeSpec[];
}

export interface NodeOutcome {
  unlinked: NodeSpec[];
  created: Array<NodeSpec & { node: NodeIdentity }>;
  /** Already there (same device), left as it was. */
  present: Array<NodeSpec & { node: NodeIdentity }>;
  /** The first failure (a conflict, or an errno error); everything else was still attempted. */
  error?: NodeConflictError | NativeError;
}

export function changeNodes(pid: number, changes: NodeChanges): NodeOutcome {
  const ops: NsOp[] = [
    ...changes.unlink.map((n): NsOp => ({ op: "unlink", path: n.path, kind: n.type, major: n.major, minor: n.minor })),
    ...changes.ensure.map((n): NsOp => ({ op: "mknod", path: n.path, kind: n.type, major: n.major, minor: n.minor, mode: n.mode, uid: n.uid, gid: n.gid, dirMode: DIR_MODE })),
  ];
  const outcome: NodeOutcome = { unlinked: [], created: [], present: [] };
  if (ops.length === 0) return outcome;
  const results = loadNative().nsBatch(pid, ops);
  results.forEach((r, i) => {
    if (i < changes.unlink.length) {
      const spec = changes.unlink[i]!;
      // Gone already, or replaced by something that is not ours: nothing of ours is left there.
      if (r.ok || r.error.code === "ENOENT") {
        if (r.ok && r.removed) outcome.unlinked.push(spec);
      } else outcome.error ??= r.error;
      return;
    }
    const spec = changes.ensure[i - changes.unlink.length]!;
    if (r.ok) outcome.created.push({ ...spec, node: identity(r.stat!) });
    else if (r.error.code === "EEXIST" && isNodeOf(r.stat, spec)) outcome.present.push({ ...spec, node: identity(r.stat) });
    else if (r.error.code === "EEXIST" && r.stat) {
      outcome.error ??= new NodeConflictError(`${spec.path} already exists in the container as ${describeStat(r.stat)}, not ${spec.type} ${spec.major}:${spec.minor}`);
    } else outcome.error ??= r.error;
  });
  return outcome;
}
