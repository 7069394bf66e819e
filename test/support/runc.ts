import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { ancestorDirs, claimAncestors, releaseAncestors } from "./cgroup-ancestors.ts";
import { allHierarchyRoots, hostCgroupMounts, removeCgroupTree, v1HierarchyWith } from "./cgroupfs.ts";
import { registerCleanup } from "./cleanup.ts";
import type { CommandResult } from "./command.ts";
import { buildOciSpec, type ContainerDevice } from "./oci-spec.ts";
import { buildBusyboxRootfs, sharedBusyboxRootfs } from "./rootfs.ts";
import { isNoSuchContainer, runRunc, runRuncSync, type CgroupMode } from "./runc-cli.ts";
import { makeTempDir } from "./tempdir.ts";
import { testName } from "./names.ts";

export type { CgroupMode } from "./runc-cli.ts";
export type { ContainerDevice } from "./oci-spec.ts";

export interface StartContainerOptions {
  mode: CgroupMode;
  /** runc container id; default dm-test-<pid>-ctr-<random>. */
  id?: string;
  /** OCI linux.cgroupsPath (cgroupfs driver); default /dm-test/<id>. */
  cgroupsPath?: string;
  /** Default: sleep for a day. */
  args?: string[];
  /** Extra KEY=value entries; PATH is always set. */
  env?: string[];
  /** Added to linux.devices (runc creates the nodes) and allowed in linux.resources.devices. */
  devices?: ContainerDevice[];
  /** Default true: the per-process shared busybox rootfs. False gives the container its own writable copy. */
  readonlyRootfs?: boolean;
  /** Host paths bound read-only into the container (see OciSpecInput.binds). */
  binds?: ReadonlyArray<{ source: string; destination: string }>;
}

export interface ContainerCgroup {
  /** Host path of the container's v1 devices cgroup (v1 mode only). */
  v1Devices?: string;
  /** Host path of the container's cgroup2 dir (runc creates it in both modes on a hybrid host). */
  unified: string;
}

export interface ExecOptions {
  stdin?: string | Uint8Array;
  /** Default 10 s; the exec is killed and the call rejects when it passes. */
  timeoutMs?: number;
}

export interface ExecTextResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type ContainerState = "running" | "stopped" | "gone";

export interface Container {
  id: string;
  mode: CgroupMode;
  /** Host pid of the container's init. */
  pid: number;
  bundle: string;
  cgroupsPath: string;
  cgroup: ContainerCgroup;
  /** `runc exec` without a tty; stdout is raw bytes. */
  exec(args: string[], options?: ExecOptions): Promise<CommandResult>;
  execText(args: string[], options?: ExecOptions): Promise<ExecTextResult>;
  /** `runc kill`, default SIGTERM. */
  kill(signal?: string): Promise<void>;
  /** Kills, `runc delete --force`s, removes cgroup dirs and the bundle. Idempotent. */
  stop(): Promise<void>;
  state(): Promise<ContainerState>;
}

const DEFAULT_ARGS = ["sleep", "86400"];
const DEFAULT_EXEC_TIMEOUT_MS = 10_000;
const RUNC_CALL_TIMEOUT_MS = 30_000;

/** Host dirs in which runc places the container's cgroup for a mode. */
function hierarchyRootsFor(mode: CgroupMode): { roots: string[]; v1Devices?: string; unified: string } {
  const mounts = hostCgroupMounts();
  if (mounts.unified === undefined) throw new Error("cgroup2 is not mounted on the host (looked in /proc/self/mountinfo)");
  if (mode === "v2") return { roots: [mounts.unified], unified: mounts.unified };
  const devices = v1HierarchyWith("devices", mounts);
  if (devices === undefined) throw new Error("the v1 devices controller is not mounted on the host");
  // In hybrid mode runc joins every v1 hierarchy and also the cgroup2 tree.
  return {
    roots: allHierarchyRoots(mounts),
    v1Devices: devices.mountPoint,
    unified: mounts.unified,
  };
}

function validateDevices(devices: readonly ContainerDevice[]): void {
  for (const device of devices) {
    // Nodes outside /dev (a per-container tmpfs) would be created in the shared rootfs.
    if (!device.path.startsWith("/dev/")) throw new Error(`container device path must be under /dev/: ${device.path}`);
  }
}

function killPidFromFile(pidFile: string): void {
  try {
    process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGKILL");
  } catch {
    // Not started yet, or already gone.
  }
}

export async function startContainer(options: StartContainerOptions): Promise<Container> {
  const { mode } = options;
  const id = options.id ?? testName("ctr");
  const cgroupsPath = options.cgroupsPath ?? `/dm-test/${id}`;
  if (!cgroupsPath.startsWith("/")) throw new Error(`cgroupsPath must be absolute for the cgroupfs driver: ${cgroupsPath}`);
  const devices = options.devices ?? [];
  validateDevices(devices);
  const readonlyRootfs = options.readonlyRootfs ?? true;
  const hierarchies = hierarchyRootsFor(mode);
  const leafDirs = hierarchies.roots.map((root) => posix.join(root, cgroupsPath));

  const bundle = makeTempDir("bundle");
  let rootfsPath: string;
  if (readonlyRootfs) {
    rootfsPath = await sharedBusyboxRootfs();
  } else {
    rootfsPath = join(bundle.path, "rootfs");
    await buildBusyboxRootfs(rootfsPath);
  }
  const spec = buildOciSpec({
    rootfsPath,
    readonlyRootfs,
    args: options.args ?? DEFAULT_ARGS,
    env: options.env ?? [],
    cgroupsPath,
    devices,
    hostname: "dm-test",
    ...(options.binds ? { binds: options.binds } : {}),
  });
  writeFileSync(join(bundle.path, "config.json"), JSON.stringify(spec, null, 2));

  const claimedAncestors = claimAncestors(ancestorDirs(hierarchies.roots, cgroupsPath));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopAndRemove();
    return stopping;
  };
  const stopAndRemove = async (): Promise<void> => {
    unregister();
    const failures: string[] = [];
    const deleted = await runRunc(mode, ["delete", "--force", id], { timeoutMs: RUNC_CALL_TIMEOUT_MS });
    if (deleted.code !== 0 && !isNoSuchContainer(deleted.stderr)) {
      failures.push(`runc delete --force ${id} (${mode}): ${deleted.stderr.trim()}`);
    }
    // runc removes the leaf cgroup itself; this only catches what a failed delete left.
    for (const dir of leafDirs) {
      try {
        await removeCgroupTree(dir);
      } catch (error) {
        failures.push(`removing cgroup ${dir}: ${String(error)}`);
      }
    }
    try {
      releaseAncestors(claimedAncestors);
    } catch (error) {
      failures.push(`removing parent cgroups of ${cgroupsPath}: ${String(error)}`);
    }
    bundle.remove();
    if (failures.length > 0) throw new Error(`stopping container ${id}: ${failures.join("; ")}`);
  };
  const unregister = registerCleanup(stop, `container ${id} (${mode})`, {
    onExit: () => {
      runRuncSync(mode, ["delete", "--force", id]);
      releaseAncestors(claimedAncestors);
      bundle.remove();
    },
  });

  const pidFile = join(bundle.path, "init.pid");
  const logPath = join(bundle.path, "container.log");
  const logFd = openSync(logPath, "w");
  let run: CommandResult;
  try {
    // The container's stdio is the log file: runc -d hands its own stdio to
    // the container, so pipes to us would stay open as long as it runs.
    run = await runRunc(mode, ["run", "--detach", "--pid-file", pidFile, "--bundle", bundle.path, id], {
      outputFd: logFd,
      timeoutMs: RUNC_CALL_TIMEOUT_MS,
    });
  } finally {
    closeSync(logFd);
  }
  if (run.code !== 0 || !existsSync(pidFile)) {
    const log = existsSync(logPath) ? readFileSync(logPath, "utf8").trim() : "";
    await stop().catch(() => {});
    throw new Error(`runc run ${id} (${mode}, cgroupsPath ${cgroupsPath}) failed with exit ${run.code}: ${log}`);
  }
  const pid = Number(readFileSync(pidFile, "utf8").trim());

  let execCount = 0;
  const exec = async (args: string[], execOptions: ExecOptions = {}): Promise<CommandResult> => {
    if (args.length === 0) throw new Error(`exec in container ${id}: empty command`);
    const execPidFile = join(bundle.path, `exec-${++execCount}.pid`);
    try {
      return await runRunc(mode, ["exec", "--pid-file", execPidFile, id, ...args], {
        timeoutMs: execOptions.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
        ...(execOptions.stdin === undefined ? {} : { stdin: execOptions.stdin }),
        // Kill the exec'd process rather than runc: killing runc would leave
        // it running (or a zombie) in the container, which slows runc delete.
        onTimeout: () => killPidFromFile(execPidFile),
      });
    } catch (error) {
      throw new Error(`exec ${JSON.stringify(args)} in container ${id} (${mode}): ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      rmSync(execPidFile, { force: true });
    }
  };

  return {
    id,
    mode,
    pid,
    bundle: bundle.path,
    cgroupsPath,
    cgroup: {
      ...(hierarchies.v1Devices === undefined ? {} : { v1Devices: posix.join(hierarchies.v1Devices, cgroupsPath) }),
      unified: posix.join(hierarchies.unified, cgroupsPath),
    },
    exec,
    async execText(args, execOptions) {
      const result = await exec(args, execOptions);
      return { code: result.code, stdout: new TextDecoder().decode(result.stdout), stderr: result.stderr };
    },
    async kill(signal = "SIGTERM") {
      const killed = await runRunc(mode, ["kill", id, signal], { timeoutMs: RUNC_CALL_TIMEOUT_MS });
      if (killed.code !== 0) throw new Error(`runc kill ${id} ${signal} (${mode}) failed: ${killed.stderr.trim()}`);
    },
    stop,
    async state() {
      const result = await runRunc(mode, ["state", id], { timeoutMs: RUNC_CALL_TIMEOUT_MS });
      if (result.code !== 0) {
        if (isNoSuchContainer(result.stderr)) return "gone";
        throw new Error(`runc state ${id} (${mode}) failed: ${result.stderr.trim()}`);
      }
      const { status } = JSON.parse(new TextDecoder().decode(result.stdout)) as { status: string };
      return status === "stopped" ? "stopped" : "running";
    },
  };
}
