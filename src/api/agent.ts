// The agent's internal API (apiserver → agent on the target pod's node). Both
// modes import these types and schemas, so the two sides cannot drift apart.
// Errors travel as metav1.Status bodies (./status.ts) and keep their code.
import * as v from "valibot";

export const AGENT_MOUNT_PATH = "/v1/mount";
export const AGENT_UNMOUNT_PATH = "/v1/unmount";

const Name = v.pipe(v.string(), v.minLength(1), v.maxLength(253));
const StringMap = v.record(v.string(), v.string());

/** One RFC 6902 operation, already JSON-decoded from the contract's string form. */
export const JsonPatchOperationSchema = v.looseObject({
  op: v.picklist(["add", "remove", "replace", "move", "copy", "test"]),
  path: v.string(),
  value: v.optional(v.unknown()),
  from: v.optional(v.string()),
});
export type JsonPatchOperation = v.InferOutput<typeof JsonPatchOperationSchema>;

export const AgentMountRequestSchema = v.object({
  namespace: Name,
  pod: Name,
  /** The pod's uid as the caller saw it: the agent refuses if the pod was replaced meanwhile. */
  podUid: v.string(),
  /** Empty: the pod's only regular container. */
  container: v.optional(v.string()),
  deviceType: Name,
  /** resource name → quantity, e.g. {"nvidia.com/gpu": "1"}. */
  resources: StringMap,
  annotations: StringMap,
  labels: StringMap,
  patches: v.array(JsonPatchOperationSchema),
  /** From the contract's wait_second. */
  timeoutSeconds: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Who asked, for Events and logs. */
  user: v.string(),
});
export type AgentMountRequest = v.InferOutput<typeof AgentMountRequestSchema>;

export const AgentUnmountRequestSchema = v.object({
  namespace: Name,
  pod: Name,
  podUid: v.string(),
  container: v.optional(v.string()),
  deviceType: Name,
  force: v.boolean(),
  timeoutSeconds: v.pipe(v.number(), v.integer(), v.minValue(0)),
  user: v.string(),
});
export type AgentUnmountRequest = v.InferOutput<typeof AgentUnmountRequestSchema>;

export interface MountedDevice {
  /** The device plugin's ID (e.g. a GPU UUID). */
  deviceId: string;
  resource: string;
  /** Path inside the container. */
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  access: string;
  /** Permission bits and owner of the node in the container. */
  mode: number;
  uid: number;
  gid: number;
}

export interface AgentMountResponse {
  kind: "MountResult";
  container: string;
  containerId: string;
  devices: MountedDevice[];
  slavePods: string[];
  message: string;
}

export interface AgentUnmountResponse {
  kind: "UnmountResult";
  container: string;
  devices: MountedDevice[];
  slavePods: string[];
  /** Processes ended because the unmount was forced. */
  killed: Array<{ pid: number; comm: string }>;
  message: string;
}
