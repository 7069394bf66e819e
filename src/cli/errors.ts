// Turns an error into the one line a CLI user sees. Expected failures name
// what failed and where; only unexpected ones say so (and keep their stack
// behind DEVICE_MOUNTER_DEBUG).
export class UsageError extends Error {
  override readonly name = "UsageError";
}

interface ErrnoLike {
  code: string;
  syscall?: string;
  path?: string;
  step?: string;
  message: string;
}

const isErrnoLike = (e: unknown): e is ErrnoLike =>
  e instanceof Error && typeof (e as unknown as Partial<ErrnoLike>).code === "string" && /^E[A-Z0-9]+$/.test((e as unknown as ErrnoLike).code);

/** Errors of our own that describe an expected condition completely. */
const EXPECTED = new Set([
  "UsageError",
  "DeviceBusyError",
  "GrantsLockedError",
  "NodeConflictError",
  "UnsafeProgramError",
  "InvalidGrantError",
  "NotADeviceError",
  "NoContainerCgroupError",
  "CorruptRecordError",
  "NotGrantedError",
  "StatusError",
  "KubeConfigError",
  "CannotInspectError",
  "TerminateError",
]);

export function describeError(e: unknown): string {
  if (isErrnoLike(e)) {
    // Node's own message already reads "EPERM: operation not permitted, open '/x'"; reorder it to say where first.
    const reason = e.message.replace(/^E[A-Z0-9]+: /, "").replace(/, .*$/, "");
    const where = e.path ? ` on ${e.path}` : "";
    const step = e.step ? ` (step ${e.step})` : "";
    const rollback = (e as { rollbackErrors?: unknown[] }).rollbackErrors?.length ? "; rolling back also failed, see logs" : "";
    return `${e.code} from ${e.syscall ?? "a system call"}${where}${step}: ${reason}${rollback}`;
  }
  if (e instanceof Error && EXPECTED.has(e.name)) return e.message;
  if (e instanceof Error) return `unexpected ${e.name}: ${e.message}`;
  return `unexpected failure: ${String(e)}`;
}
