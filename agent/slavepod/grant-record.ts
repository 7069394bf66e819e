// What a slave pod's devices were granted as, kept on the slave pod itself
// (an annotation), so that an agent restarted with no local state can re-grant
// them to a restarted container or revoke them when the slave pod goes.
import type { V1Pod } from "@kubernetes/client-node";
import * as v from "valibot";
import type { MountedDevice } from "../../src/api/agent.ts";
import { fieldProblems } from "../../src/api/public.ts";
import { DEVICES_ANNOTATION } from "./keys.ts";

const Uint = v.pipe(v.number(), v.integer(), v.minValue(0));

const MountedDeviceSchema: v.GenericSchema<MountedDevice> = v.object({
  deviceId: v.string(),
  resource: v.string(),
  path: v.pipe(v.string(), v.startsWith("/")),
  type: v.picklist(["c", "b"]),
  major: Uint,
  minor: Uint,
  access: v.pipe(v.string(), v.regex(/^r?w?m?$/), v.minLength(1)),
  mode: Uint,
  uid: Uint,
  gid: Uint,
});

const SlaveGrantSchema = v.object({
  version: v.literal(1),
  /** The target container instance the devices were granted to, as pod status names it ("containerd://…"). */
  containerId: v.pipe(v.string(), v.minLength(1)),
  devices: v.array(MountedDeviceSchema),
});

export type SlaveGrant = v.InferOutput<typeof SlaveGrantSchema>;

export type ReadGrantResult = { grant: SlaveGrant; reason?: undefined } | { grant: null; reason: string };

/** The annotation recording a grant, for a create or a merge patch of the slave pod. */
export function grantAnnotations(devices: MountedDevice[], containerId: string): Record<string, string> {
  const grant: SlaveGrant = { version: 1, containerId, devices };
  return { [DEVICES_ANNOTATION]: JSON.stringify(grant) };
}

/** A copy of the pod carrying the grant record. */
export function annotateGrant(pod: V1Pod, devices: MountedDevice[], containerId: string): V1Pod {
  return {
    ...pod,
    metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, ...grantAnnotations(devices, containerId) } },
  };
}

/** The grant record, or null and why there is none (absent, not JSON, or not a record). */
export function readGrant(pod: V1Pod): ReadGrantResult {
  const name = `slave pod ${pod.metadata?.namespace ?? "?"}/${pod.metadata?.name ?? "?"}`;
  const text = pod.metadata?.annotations?.[DEVICES_ANNOTATION];
  if (text === undefined) return { grant: null, reason: `${name} has no ${DEVICES_ANNOTATION} annotation` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { grant: null, reason: `${name}: ${DEVICES_ANNOTATION} is not JSON: ${(error as Error).message}` };
  }
  const parsed = v.safeParse(SlaveGrantSchema, json);
  if (!parsed.success) {
    const problems = fieldProblems(parsed.issues).map((p) => `${p.field || "(record)"}: ${p.message}`);
    return { grant: null, reason: `${name}: ${DEVICES_ANNOTATION} is not a grant record: ${problems.join("; ")}` };
  }
  return { grant: parsed.output };
}
