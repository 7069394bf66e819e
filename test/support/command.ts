import { constants } from "node:os";

export interface CommandResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

export interface CommandOptions {
  stdin?: string | Uint8Array;
  timeoutMs?: number;
  /**
   * Send stdout and stderr to this fd instead of capturing them. Needed for
   * commands whose children inherit stdio and outlive them (`runc run -d`):
   * a pipe would stay open until the container exits.
   */
  outputFd?: number;
  /**
   * Runs when the timeout passes, to end the command gracefully (e.g. kill
   * what it started so it exits on its own); it is SIGKILLed only if it is
   * still running ON_TIMEOUT_GRACE_MS later.
   */
  onTimeout?: () => void;
}

const ON_TIMEOUT_GRACE_MS = 1_000;

function exitCodeOf(exitCode: number | null, signal: string | number | null): number {
  if (exitCode !== null) return exitCode;
  const signalNumber =
    typeof signal === "number" ? signal : signal ? constants.signals[signal as keyof typeof constants.signals] : undefined;
  return 128 + (signalNumber ?? 0);
}

export function describeCommand(cmd: readonly string[]): string {
  return cmd.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part))).join(" ");
}

/** Runs a command to completion; a non-zero exit is returned, not thrown. */
export async function runCommand(cmd: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const { stdin, timeoutMs, outputFd, onTimeout } = options;
  const child = Bun.spawn({
    cmd: [...cmd],
    stdin: stdin === undefined ? "ignore" : typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin,
    stdout: outputFd ?? "pipe",
    stderr: outputFd ?? "pipe",
  });
  let timedOut = false;
  let killTimer: Timer | undefined;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          if (onTimeout === undefined) {
            child.kill("SIGKILL");
            return;
          }
          try {
            onTimeout();
          } finally {
            killTimer = setTimeout(() => child.kill("SIGKILL"), ON_TIMEOUT_GRACE_MS);
          }
        }, timeoutMs);
  try {
    const [stdout, stderr] = await Promise.all([
      child.stdout instanceof ReadableStream ? Bun.readableStreamToBytes(child.stdout) : new Uint8Array(),
      child.stderr instanceof ReadableStream ? Bun.readableStreamToText(child.stderr) : "",
      child.exited,
    ]);
    if (timedOut) throw new Error(`command timed out after ${timeoutMs} ms: ${describeCommand(cmd)}`);
    return { code: exitCodeOf(child.exitCode, child.signalCode), stdout, stderr };
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
  }
}

/** Like runCommand, but a non-zero exit throws an error carrying the command and its stderr. */
export async function runCommandOk(cmd: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const result = await runCommand(cmd, options);
  if (result.code !== 0) {
    throw new Error(`command failed (exit ${result.code}): ${describeCommand(cmd)}: ${result.stderr.trim()}`);
  }
  return result;
}

/** Synchronous variant for process-exit handlers, where nothing async runs any more. */
export function runCommandSync(cmd: readonly string[]): { code: number; stderr: string } {
  const result = Bun.spawnSync({ cmd: [...cmd], stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  return { code: exitCodeOf(result.exitCode, result.signalCode ?? null), stderr: result.stderr.toString() };
}
