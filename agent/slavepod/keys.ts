// The labels and annotations device-mounter puts on slave pods and reads back:
// what finds the slave pods of one (owner, container, device type) and what
// they granted. A caller may not set or patch any of them.

export const DM_PREFIX = "device-mounter.io/";

/** "true" on every slave pod. */
export const SLAVE_LABEL = `${DM_PREFIX}slave`;
export const OWNER_UID_LABEL = `${DM_PREFIX}owner-uid`;
/** The target container's name (a DNS label, so a valid label value). */
export const CONTAINER_LABEL = `${DM_PREFIX}container`;
/** The device type's canonical name. */
export const DEVICE_TYPE_LABEL = `${DM_PREFIX}device-type`;

/** "<namespace>/<name>" of the owner pod. */
export const OWNER_ANNOTATION = `${DM_PREFIX}owner`;
export const CONTAINER_ANNOTATION = `${DM_PREFIX}container`;
export const DEVICE_TYPE_ANNOTATION = `${DM_PREFIX}device-type`;
/** Position of the slave pod among those of one mount request. */
export const INDEX_ANNOTATION = `${DM_PREFIX}index`;
/** JSON record of what the slave pod's devices were granted as (grant-record.ts). */
export const DEVICES_ANNOTATION = `${DM_PREFIX}devices`;

/**
 * Every key device-mounter sets or reads. Other keys under the prefix stay the
 * caller's: the public API's own example sends `device-mounter.io/expansion`.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set([
  SLAVE_LABEL,
  OWNER_UID_LABEL,
  CONTAINER_LABEL,
  DEVICE_TYPE_LABEL,
  OWNER_ANNOTATION,
  CONTAINER_ANNOTATION,
  DEVICE_TYPE_ANNOTATION,
  INDEX_ANNOTATION,
  DEVICES_ANNOTATION,
]);

export const isReservedKey = (key: string): boolean => RESERVED_KEYS.has(key);

/**
 * Pod annotations that container runtimes act on: CDI device injection
 * (containerd, CRI-O), CRI-O's and containerd's allowed annotations (extra
 * devices, user namespaces, cgroup settings), Kata's configuration overrides,
 * and the legacy AppArmor/seccomp profile selectors. The slave pod is created
 * with the agent's rights, so a caller must not reach the runtime through it.
 */
export const RUNTIME_ANNOTATION_PREFIXES = [
  "cdi.k8s.io/",
  "io.kubernetes.cri-o.",
  "io.kubernetes.cri.",
  "io.katacontainers.",
  "run.oci.",
  "container.apparmor.security.beta.kubernetes.io/",
  "seccomp.security.alpha.kubernetes.io/",
  "container.seccomp.security.alpha.kubernetes.io/",
];

export const isRuntimeAnnotation = (key: string): boolean => RUNTIME_ANNOTATION_PREFIXES.some((prefix) => key.startsWith(prefix));

export interface SlavePodFilter {
  ownerUid: string;
  container?: string;
  /** Canonical device type name. */
  deviceType?: string;
}

/** Label selector for the slave pods of an owner, optionally of one container and device type. */
export function slavePodSelector(filter: SlavePodFilter): string {
  const terms = [`${SLAVE_LABEL}=true`, `${OWNER_UID_LABEL}=${filter.ownerUid}`];
  if (filter.container !== undefined) terms.push(`${CONTAINER_LABEL}=${filter.container}`);
  if (filter.deviceType !== undefined) terms.push(`${DEVICE_TYPE_LABEL}=${filter.deviceType}`);
  return terms.join(",");
}
