// Device nodes inside a container's mount namespace, through the native
// layer (no mknod binary needed in the image, symlinks cannot escape). Work
// is batched: one namespace entry per step, however many devices.
import { loadNative, type NativeError, type NsOp, type NsStat } from "../../native/index.ts";

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

export const isNodeOf = (st: NsStat | undefined, spec: Pick<NodeSpec, "type" | "major" | "minor">): st is NsStat =>
  st !== undefined && st.type === spec.type && st.rdevMajor === spec.major && st.rdevMinor === spec.minor;

/** What is at each path in the container (undefined: nothing), in one namespace entry. */
export function statNodes(pid: number, paths: string[]): Map<string, NsStat | undefined> {
  const unique = [...new Set(paths)];
  const found = new Map<string, NsStat | undefined>();
  if (unique.length === 0) return found;
  const results = loadNative().nsBatch(
    pid,
    unique.map((path) => ({ op: "stat", path })),
  );
  results.forEach((r, i) => {
    if (r.ok) found.set(unique[i]!, r.stat);
    else if (r.error.code === "ENOENT") found.set(unique[i]!, undefined);
    else throw r.error;
  });
  return found;
}

/** Whether `spec`'s device is at its path already; throws when something else is there. */
export function nodePresent(st: NsStat | undefined, spec: NodeSpec): boolean {
  if (st === undefined) return false;
  if (isNodeOf(st, spec)) return true;
  throw new NodeConflictError(`${spec.path} already exists in the container as ${describeStat(st)}, not ${spec.type} ${spec.major}:${spec.minor}`);
}

export interface NodeChanges {
  unlink: NodeSpec[];
  create: NodeSpec[];
}

export interface NodeOutcome {
  unlinked: NodeSpec[];
  created: NodeSpec[];
  /** The first failure, if any; everything else was still attempted. */
  error?: NativeError;
}

/** Unlinks then creates, in one namespace entry. A node already gone counts as unlinked. */
export function changeNodes(pid: number, changes: NodeChanges): NodeOutcome {
  const ops: NsOp[] = [
    ...changes.unlink.map((n): NsOp => ({ op: "unlink", path: n.path })),
    ...changes.create.map((n): NsOp => ({ op: "mknod", path: n.path, kind: n.type, major: n.major, minor: n.minor, mode: n.mode, uid: n.uid, gid: n.gid, dirMode: DIR_MODE })),
  ];
  const outcome: NodeOutcome = { unlinked: [], created: [] };
  if (ops.length === 0) return outcome;
  const results = loadNative().nsBatch(pid, ops);
  const specs = [...changes.unlink, ...changes.create];
  results.forEach((r, i) => {
    const spec = specs[i]!;
    const isUnlink = i < changes.unlink.length;
    if (r.ok || (isUnlink && r.error.code === "ENOENT")) (isUnlink ? outcome.unlinked : outcome.created).push(spec);
    else outcome.error ??= r.error;
  });
  return outcome;
}
