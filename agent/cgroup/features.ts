// What this host's kernel offers for device grants, found by asking it.
import { readFileSync } from "node:fs";
import { isNativeError, loadNative } from "../../native/index.ts";
import { parseCgroupMounts } from "./locate.ts";
import { BPF_F_ALLOW_MULTI, BPF_F_REPLACE } from "./v2.ts";

export type CgroupLayout = "v1" | "v2" | "hybrid" | "none";

export interface HostFeatures {
  cgroupLayout: CgroupLayout;
  v1DevicesMount?: string;
  cgroup2Mount?: string;
  /** BPF_F_REPLACE (Linux 5.6+): atomic compare-and-swap of a device program. */
  bpfReplace: boolean | "unknown";
  bpfReplaceDetail: string;
}

/** allow-all program: r0 = 1; exit. Never attached: it only serves as a probe argument. */
const PROBE_PROGRAM = new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

/**
 * Asks the kernel to replace a program that is not attached: a kernel that
 * knows BPF_F_REPLACE answers ENOENT, an older one EINVAL. Nothing is attached
 * either way.
 */
function probeBpfReplace(cgroup2Mount: string): { bpfReplace: boolean | "unknown"; bpfReplaceDetail: string } {
  const native = loadNative();
  let fd = -1;
  try {
    fd = native.bpfProgLoad(PROBE_PROGRAM, "dm_probe", "Apache-2.0");
    native.bpfProgAttach(cgroup2Mount, fd, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, fd);
    native.bpfProgDetach(cgroup2Mount, fd);
    return { bpfReplace: "unknown", bpfReplaceDetail: "the probe attached unexpectedly (detached again)" };
  } catch (e) {
    if (isNativeError(e) && e.code === "ENOENT") return { bpfReplace: true, bpfReplaceDetail: "supported" };
    if (isNativeError(e) && e.code === "EINVAL") return { bpfReplace: false, bpfReplaceDetail: "kernel rejects BPF_F_REPLACE (Linux < 5.6)" };
    return { bpfReplace: "unknown", bpfReplaceDetail: isNativeError(e) ? `${e.code} from ${e.syscall}` : String(e) };
  } finally {
    if (fd >= 0) native.close(fd);
  }
}

export function detectHostFeatures(mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): HostFeatures {
  const mounts = parseCgroupMounts(mountinfo);
  const v1DevicesMount = mounts.find((m) => m.hierarchy === "devices")?.mountPoint;
  const cgroup2Mount = mounts.find((m) => m.hierarchy === "")?.mountPoint;
  const cgroupLayout: CgroupLayout = v1DevicesMount && cgroup2Mount ? "hybrid" : v1DevicesMount ? "v1" : cgroup2Mount ? "v2" : "none";
  const replace = cgroup2Mount ? probeBpfReplace(cgroup2Mount) : { bpfReplace: "unknown" as const, bpfReplaceDetail: "no cgroup2 mount" };
  return { cgroupLayout, v1DevicesMount, cgroup2Mount, ...replace };
}
