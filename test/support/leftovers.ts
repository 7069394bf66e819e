import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, posix } from "node:path";
import { allHierarchyRoots, removeCgroupTree, rmdirIfPresent } from "./cgroupfs.ts";
import { runCommand } from "./command.ts";
import { isOwnedByLiveProcess, ownerPidOf, TEST_PREFIX } from "./names.ts";
import { isNoSuchContainer, RUNC_ROOTS, runRunc, type CgroupMode } from "./runc-cli.ts";

// Finds what crashed test runs left behind. Anything whose name carries the
// pid of a process that still runs is someone's live test and is skipped, so
// a sweep is safe next to a running test suite; dm-test names without an
// owner pid count as orphaned.

export interface SweepReport {
  containers: string[];
  loopDevices: string[];
  cgroupDirs: string[];
  tempDirs: string[];
  /** Resources skipped because their owner process still runs. */
  skippedLive: string[];
  errors: string[];
}

const CGROUP_SEARCH_DEPTH = 5;
// Parents our tests create above a dm-test leaf (the kubelet stand-in uses
// systemd-style kubepods paths); removed once empty.
const TEST_PARENT_PATTERN = /dm-test|^kubepods/;

export interface SweepOptions {
  /**
   * Only sweep what this (dead) process created; other orphans stay. Lets a
   * test check the sweep without touching anything a concurrent run owns.
   */
  ownerPid?: number;
}

/** Which names a sweep may remove. */
type LeftoverFilter = (name: string) => boolean;

export async function sweepLeftovers(options: SweepOptions = {}): Promise<SweepReport> {
  const { ownerPid } = options;
  const isLeftover: LeftoverFilter =
    ownerPid === undefined
      ? (name) => !isOwnedByLiveProcess(name)
      : (name) => ownerPidOf(name) === ownerPid && !isOwnedByLiveProcess(name);
  const report: SweepReport = { containers: [], loopDevices: [], cgroupDirs: [], tempDirs: [], skippedLive: [], errors: [] };
  const containerCgroups: string[] = [];
  for (const mode of ["v1", "v2"] as const) containerCgroups.push(...(await sweepContainers(mode, isLeftover, report)));
  await sweepCgroups(isLeftover, ownerPid === undefined, containerCgroups, report);
  await sweepLoopDevices(isLeftover, report);
  sweepTempDirs(isLeftover, report);
  return report;
}

interface RuncState {
  init_process_pid?: number;
  config?: { cgroups?: { path?: string } };
}

function readRuncState(stateDir: string): RuncState {
  try {
    return JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as RuncState;
  } catch {
    return {};
  }
}

/** Deletes orphaned containers; returns their cgroupsPaths, whose parents runc leaves behind. */
async function sweepContainers(mode: CgroupMode, isLeftover: LeftoverFilter, report: SweepReport): Promise<string[]> {
  const root = RUNC_ROOTS[mode];
  if (!existsSync(root)) return [];
  const cgroupsPaths: string[] = [];
  for (const id of readdirSync(root)) {
    if (!isLeftover(id)) {
      if (isOwnedByLiveProcess(id)) report.skippedLive.push(`container ${mode}:${id}`);
      continue;
    }
    const stateDir = join(root, id);
    const state = readRuncState(stateDir);
    if (state.config?.cgroups?.path) cgroupsPaths.push(state.config.cgroups.path);
    const deleted = await runRunc(mode, ["delete", "--force", id], { timeoutMs: 30_000 });
    if (deleted.code !== 0 && !isNoSuchContainer(deleted.stderr) && existsSync(stateDir)) {
      // A state dir runc cannot load: kill its init ourselves, drop the state.
      try {
        if (state.init_process_pid) process.kill(state.init_process_pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      rmSync(stateDir, { recursive: true, force: true });
      report.errors.push(`runc delete --force ${id} (${mode}) failed, removed its state dir: ${deleted.stderr.trim()}`);
    }
    report.containers.push(`${mode}:${id}`);
  }
  return cgroupsPaths;
}

async function sweepCgroups(
  isLeftover: LeftoverFilter,
  includeSharedParents: boolean,
  containerCgroups: readonly string[],
  report: SweepReport,
): Promise<void> {
  for (const root of allHierarchyRoots()) {
    // Deleted containers: runc removed the leaf (unless delete failed) but not its parents.
    for (const cgroupsPath of containerCgroups) {
      const leaf = posix.join(root, cgroupsPath);
      try {
        report.cgroupDirs.push(...(await removeCgroupTree(leaf)));
        report.cgroupDirs.push(...removeEmptyTestParents(root, dirname(leaf)));
      } catch (error) {
        report.errors.push(`removing cgroup ${leaf}: ${String(error)}`);
      }
    }
    for (const dir of findOrphanCgroups(root, 1, isLeftover, report)) {
      try {
        report.cgroupDirs.push(...(await removeCgroupTree(dir)));
        report.cgroupDirs.push(...removeEmptyTestParents(root, dirname(dir)));
      } catch (error) {
        report.errors.push(`removing cgroup ${dir}: ${String(error)}`);
      }
    }
    if (!includeSharedParents) continue;
    // Shared parents (/dm-test) whose children all belonged to dead runs.
    for (const dir of findSharedTestParents(root, 1)) {
      report.cgroupDirs.push(...removeEmptyTestParents(root, dir));
    }
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(dir, entry.name));
  } catch {
    return [];
  }
}

function findOrphanCgroups(dir: string, depth: number, isLeftover: LeftoverFilter, report: SweepReport): string[] {
  if (depth > CGROUP_SEARCH_DEPTH) return [];
  return subdirs(dir).flatMap((child) => {
    const name = basename(child);
    if (name.includes(TEST_PREFIX) && name !== TEST_PREFIX) {
      if (isLeftover(name)) return [child];
      if (isOwnedByLiveProcess(name)) report.skippedLive.push(`cgroup ${child}`);
      return [];
    }
    return findOrphanCgroups(child, depth + 1, isLeftover, report);
  });
}

function findSharedTestParents(dir: string, depth: number): string[] {
  if (depth > CGROUP_SEARCH_DEPTH) return [];
  return subdirs(dir).flatMap((child) => [
    ...findSharedTestParents(child, depth + 1),
    ...(basename(child) === TEST_PREFIX ? [child] : []),
  ]);
}

/** rmdir `dir` and its parents while they are empty test parents, stopping below `root`. */
function removeEmptyTestParents(root: string, dir: string): string[] {
  const removed: string[] = [];
  for (let current = dir; current.startsWith(`${root}/`) && TEST_PARENT_PATTERN.test(basename(current)); current = dirname(current)) {
    if (subdirs(current).length > 0) break;
    try {
      rmdirIfPresent(current);
    } catch {
      break; // Still in use (processes or a concurrent run): not a leftover.
    }
    removed.push(current);
  }
  return removed;
}

async function sweepLoopDevices(isLeftover: LeftoverFilter, report: SweepReport): Promise<void> {
  const listed = await runCommand(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE"]);
  if (listed.code !== 0) {
    report.errors.push(`losetup --list failed: ${listed.stderr.trim()}`);
    return;
  }
  const text = new TextDecoder().decode(listed.stdout).trim();
  if (text === "") return; // No loop devices at all: losetup prints nothing.
  const { loopdevices } = JSON.parse(text) as { loopdevices: Array<{ name: string; "back-file": string | null }> };
  for (const { name, "back-file": backFile } of loopdevices) {
    if (!backFile?.includes(TEST_PREFIX)) continue;
    if (!isLeftover(backFile)) {
      if (isOwnedByLiveProcess(backFile)) report.skippedLive.push(`loop device ${name} (${backFile})`);
      continue;
    }
    const detached = await runCommand(["losetup", "--detach", name]);
    if (detached.code === 0) report.loopDevices.push(`${name} (${backFile})`);
    else report.errors.push(`losetup --detach ${name}: ${detached.stderr.trim()}`);
  }
}

// Only temp dirs named by testName(): /tmp/dm-test-* without an owner pid may
// be anyone's scratch space.
function sweepTempDirs(isLeftover: LeftoverFilter, report: SweepReport): void {
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    if (!name.startsWith(`${TEST_PREFIX}-`) || ownerPidOf(name) === undefined) continue;
    const path = join(base, name);
    if (!isLeftover(name)) {
      if (isOwnedByLiveProcess(name)) report.skippedLive.push(`temp dir ${path}`);
      continue;
    }
    rmSync(path, { recursive: true, force: true });
    report.tempDirs.push(path);
  }
}
