import { existsSync } from "node:fs";

// Every resource the harness creates carries this prefix plus the creating
// process's pid, so a sweep can tell a crashed run's leftovers from the live
// resources of a test run that is still going on in another process.
export const TEST_PREFIX = "dm-test";

const OWNER_PID_PATTERN = /dm-test-(\d+)-/;

/** `dm-test-<pid>-<kind>-<random>`: unique, and names the process that owns it. */
export function testName(kind: string): string {
  const random = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
  return `${TEST_PREFIX}-${process.pid}-${kind}-${random}`;
}

/** The pid embedded by testName(), or undefined for names made some other way. */
export function ownerPidOf(name: string): number | undefined {
  const match = OWNER_PID_PATTERN.exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * True when the name was made by a process that still runs. Names without an
 * owner pid count as orphaned: nothing alive claims them.
 */
export function isOwnedByLiveProcess(name: string): boolean {
  const pid = ownerPidOf(name);
  if (pid === undefined) return false;
  if (pid === process.pid) return true;
  return existsSync(`/proc/${pid}`);
}
