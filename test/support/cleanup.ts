import { afterAll } from "bun:test";
import type { Subprocess } from "bun";

export { sweepLeftovers, type SweepOptions, type SweepReport } from "./leftovers.ts";

export type CleanupFn = () => void | Promise<void>;

export interface CleanupOptions {
  /**
   * Synchronous best-effort variant run from the process "exit" event, where
   * promises never settle any more. Without it the entry is only reported.
   */
  onExit?: () => void;
}

interface CleanupEntry {
  label: string;
  run: CleanupFn;
  onExit?: () => void;
}

const pending = new Set<CleanupEntry>();
let inFlight: Promise<void> | undefined;

/**
 * Registers something to undo. Returns an unregister function for callers
 * that undo it themselves (e.g. Container.stop()).
 */
export function registerCleanup(fn: CleanupFn, label: string, options: CleanupOptions = {}): () => void {
  const entry: CleanupEntry = { label, run: fn, ...(options.onExit ? { onExit: options.onExit } : {}) };
  pending.add(entry);
  return () => {
    pending.delete(entry);
  };
}

/** Labels of everything still registered, newest last. */
export function pendingCleanupLabels(): string[] {
  return [...pending].map((entry) => entry.label);
}

/**
 * Undoes everything registered, newest first (containers before the loop
 * devices and directories they use). Every entry runs even if others fail;
 * failures are thrown together afterwards so a test run shows them.
 */
export function cleanupAll(): Promise<void> {
  inFlight ??= runAll().finally(() => {
    inFlight = undefined;
  });
  return inFlight;
}

async function runAll(): Promise<void> {
  const failures: string[] = [];
  for (const entry of [...pending].reverse()) {
    pending.delete(entry);
    try {
      await entry.run();
    } catch (error) {
      failures.push(`${entry.label}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failures.length > 0) throw new Error(`cleanup failed for ${failures.length} item(s):\n  ${failures.join("\n  ")}`);
}

/**
 * Call at the top level of every test file that creates harness resources:
 * bun evaluates this module once per process, so a hook registered here at
 * import time would only belong to the first test file.
 */
export function cleanupAfterAll(): void {
  afterAll(cleanupAll);
}

/** Kills a spawned helper process (e.g. a fake kubelet) on cleanup. */
export function registerChildProcess(child: Subprocess, label: string): () => void {
  return registerCleanup(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await child.exited;
    },
    label,
    { onExit: () => child.kill("SIGKILL") },
  );
}

function runExitFallbacks(): void {
  for (const entry of [...pending].reverse()) {
    pending.delete(entry);
    try {
      if (entry.onExit) entry.onExit();
      else console.error(`dm-test cleanup: process exiting with "${entry.label}" not cleaned up`);
    } catch (error) {
      console.error(`dm-test cleanup: "${entry.label}" failed during exit: ${String(error)}`);
    }
  }
}

function cleanupThenExit(signal: "SIGINT" | "SIGTERM", exitCode: number): void {
  console.error(`dm-test cleanup: ${signal} received, cleaning up ${pending.size} item(s)`);
  cleanupAll()
    .catch((error: unknown) => console.error(String(error)))
    .finally(() => process.exit(exitCode));
}

process.once("exit", runExitFallbacks);
process.once("SIGINT", () => cleanupThenExit("SIGINT", 130));
process.once("SIGTERM", () => cleanupThenExit("SIGTERM", 143));
