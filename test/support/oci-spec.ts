// The OCI runtime config we hand to runc, written out here instead of
// post-processing `runc spec` so the harness does not depend on that output.
// Modelled on runc 1.1's default spec (mounts, masked/readonly paths,
// capabilities, namespaces); differences are commented.

/** A device the way kubelet passes a device plugin's DeviceSpec to the runtime. */
export interface ContainerDevice {
  /** Path inside the container, e.g. /dev/dm-test-loop. */
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
  /** cgroup access, default "rwm". */
  access?: string;
}

export interface OciSpecInput {
  rootfsPath: string;
  readonlyRootfs: boolean;
  args: readonly string[];
  env: readonly string[];
  cgroupsPath: string;
  devices: readonly ContainerDevice[];
  hostname: string;
  /** Host files or directories bound read-only into the container (what an image would ship). */
  binds?: ReadonlyArray<{ source: string; destination: string }>;
}

interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

interface OciDeviceRule {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access: string;
}

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const DEFAULT_CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

const DEFAULT_MOUNTS: OciMount[] = [
  { destination: "/proc", type: "proc", source: "proc" },
  { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
  // Not in runc's default: a writable /tmp even with the shared read-only rootfs.
  { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=65536k"] },
];

const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/proc/scsi",
];

const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export function buildOciSpec(input: OciSpecInput): Record<string, unknown> {
  const deviceRules: OciDeviceRule[] = [
    { allow: false, access: "rwm" },
    ...input.devices.map(
      (device): OciDeviceRule => ({
        allow: true,
        type: device.type,
        major: device.major,
        minor: device.minor,
        access: device.access ?? "rwm",
      }),
    ),
  ];
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...input.args],
      env: [DEFAULT_PATH, ...input.env],
      cwd: "/",
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
        ambient: DEFAULT_CAPABILITIES,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: input.rootfsPath, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts: [
      ...DEFAULT_MOUNTS,
      ...(input.binds ?? []).map((b) => ({ destination: b.destination, type: "bind", source: b.source, options: ["rbind", "ro", "nosuid", "nodev"] })),
    ],
    linux: {
      cgroupsPath: input.cgroupsPath,
      // Only device rules: the hybrid host's cgroup2 tree has no controllers
      // enabled, so memory/cpu limits would fail in v2 mode.
      resources: { devices: deviceRules },
      devices: input.devices.map((device) => ({
        path: device.path,
        type: device.type,
        major: device.major,
        minor: device.minor,
        fileMode: device.fileMode ?? 0o666,
        uid: device.uid ?? 0,
        gid: device.gid ?? 0,
      })),
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
