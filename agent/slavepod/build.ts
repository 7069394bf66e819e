// The spec of a slave pod: a pod that asks the scheduler and the device plugin
// for devices on the owner's node, so that they are legitimately allocated
// (and counted against the owner's namespace), while device-mounter grants
// them to the owner's container. It runs only the agent's own `hold` process.
import type { V1Pod } from "@kubernetes/client-node";
import { Pod } from "kubernetes-models/v1/Pod";
import type { JsonPatchOperation } from "../../src/api/agent.ts";
import { StatusError, type StatusCause } from "../../src/api/status.ts";
import { annotationProblems, labelProblems } from "./k8s-names.ts";
import {
  CONTAINER_ANNOTATION,
  CONTAINER_LABEL,
  DEVICE_TYPE_ANNOTATION,
  DEVICE_TYPE_LABEL,
  INDEX_ANNOTATION,
  isReservedKey,
  isRuntimeAnnotation,
  OWNER_ANNOTATION,
  OWNER_UID_LABEL,
  SLAVE_LABEL,
} from "./keys.ts";
import { ALLOWED_PATCH_PATHS, applyPatches, nodePinning, nodePinningProblem, patchPathProblems } from "./patches.ts";

export const HOLD_CONTAINER = "hold";
/** The agent image's binary (see build.ts and deploy/). */
export const HOLD_COMMAND = ["/device-mounter", "hold"];
/**
 * Guaranteed QoS needs cpu and memory requests equal to limits in every
 * container. Small, but not starving: the hold process is the bun-compiled
 * binary (about 2 MiB anonymous + 24 MiB file-backed RSS idle), and with a 1m
 * CPU quota its start-up alone would take seconds.
 */
export const HOLD_CPU = "10m";
export const HOLD_MEMORY = "32Mi";
/** nobody: the hold process needs no identity. */
const HOLD_UID = 65534;
/** The API server truncates generateName to this before adding 5 random characters. */
const GENERATE_NAME_MAX = 58;

export interface SlavePodInput {
  owner: V1Pod;
  /** The owner's target container. */
  container: string;
  /** Canonical device type name. */
  deviceType: string;
  /** Device resource name → quantity, already validated against the type and the node. */
  resources: Record<string, string>;
  nodeName: string;
  /** The agent's own image. */
  image: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  patches: JsonPatchOperation[];
  /** Position of this slave pod among those of one mount request. */
  index: number;
}

const invalid = (causes: StatusCause[], hint = ""): StatusError =>
  new StatusError("Invalid", `slave pod refused: ${causes.map((c) => c.message).join("; ")}${hint}`, { causes });

function reservedKeyCauses(map: Record<string, string>, field: "labels" | "annotations"): StatusCause[] {
  return Object.keys(map)
    .filter(isReservedKey)
    .map((key) => ({ reason: "FieldValueForbidden", field: `${field}[${key}]`, message: `${field} key ${key} is device-mounter's own` }));
}

function runtimeAnnotationCauses(annotations: Record<string, string>, field: string): StatusCause[] {
  return Object.keys(annotations)
    .filter(isRuntimeAnnotation)
    .map((key) => ({ reason: "FieldValueForbidden", field: `${field}[${key}]`, message: `${field} key ${key} would be acted on by the container runtime` }));
}

const syntaxCauses = (problems: string[], field: string): StatusCause[] =>
  problems.map((message) => ({ reason: "FieldValueInvalid", field, message }));

function generateNameFor(ownerName: string, deviceType: string): string {
  const type = deviceType.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return `${ownerName}-dm-${type}-`.slice(0, GENERATE_NAME_MAX);
}

export function buildSlavePod(input: SlavePodInput): V1Pod {
  const { owner } = input;
  const ownerName = owner.metadata?.name;
  const namespace = owner.metadata?.namespace;
  const uid = owner.metadata?.uid;
  if (!ownerName || !namespace || !uid) {
    throw new StatusError("InternalError", `owner pod ${namespace ?? "?"}/${ownerName ?? "?"} lacks a name, namespace or uid`);
  }

  const pathCauses = patchPathProblems(input.patches);
  const inputCauses = [
    ...reservedKeyCauses(input.labels, "labels"),
    ...reservedKeyCauses(input.annotations, "annotations"),
    ...runtimeAnnotationCauses(input.annotations, "annotations"),
    ...syntaxCauses(labelProblems(input.labels, "labels"), "labels"),
    ...syntaxCauses(annotationProblems(input.annotations, "annotations"), "annotations"),
    ...pathCauses,
  ];
  if (inputCauses.length > 0) {
    throw invalid(inputCauses, pathCauses.length > 0 ? `. Patches may change only ${ALLOWED_PATCH_PATHS.join(", ")}` : "");
  }

  const ownLabels = {
    [SLAVE_LABEL]: "true",
    [OWNER_UID_LABEL]: uid,
    [CONTAINER_LABEL]: input.container,
    [DEVICE_TYPE_LABEL]: input.deviceType,
  };
  const ownAnnotations = {
    [OWNER_ANNOTATION]: `${namespace}/${ownerName}`,
    [CONTAINER_ANNOTATION]: input.container,
    [DEVICE_TYPE_ANNOTATION]: input.deviceType,
    [INDEX_ANNOTATION]: String(input.index),
  };
  const quantities = { ...input.resources, cpu: HOLD_CPU, memory: HOLD_MEMORY };
  const built: V1Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: generateNameFor(ownerName, input.deviceType),
      namespace,
      labels: { ...input.labels, ...ownLabels },
      annotations: { ...input.annotations, ...ownAnnotations },
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: ownerName, uid, blockOwnerDeletion: true, controller: false }],
    },
    spec: {
      // Placed by the scheduler, not bound by nodeName: scheduler plugins and
      // device plugins still decide, and an unfit node leaves it Unschedulable.
      affinity: { nodeAffinity: nodePinning(input.nodeName) },
      // What the API server would default it to; explicit, so that the public
      // API's own example patch (a `replace` of it) applies.
      schedulerName: "default-scheduler",
      tolerations: structuredClone(owner.spec?.tolerations ?? []),
      ...(owner.spec?.priorityClassName ? { priorityClassName: owner.spec.priorityClassName } : {}),
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, runAsUser: HOLD_UID, runAsGroup: HOLD_UID, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: HOLD_CONTAINER,
          image: input.image,
          imagePullPolicy: "IfNotPresent",
          command: [...HOLD_COMMAND],
          resources: { requests: { ...quantities }, limits: { ...quantities } },
          securityContext: {
            privileged: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
    },
  };

  const pod = input.patches.length > 0 ? applyPatches(built, input.patches) : built;

  try {
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
  } catch (error) {
    throw invalid([{ reason: "FieldValueInvalid", field: "patches", message: `the ${input.patches.length > 0 ? "patched " : ""}slave pod is not a valid Pod: ${(error as Error).message}` }]);
  }
  // Valid as a Pod, so labels and annotations are string maps now.
  const labels = (pod.metadata?.labels ?? {}) as Record<string, string>;
  const annotations = (pod.metadata?.annotations ?? {}) as Record<string, string>;
  const pinning = nodePinningProblem(pod, input.nodeName);
  const resultCauses: StatusCause[] = [
    ...(pinning ? [{ reason: "FieldValueForbidden", field: "patches", message: pinning }] : []),
    ...runtimeAnnotationCauses(annotations, "metadata.annotations"),
    ...syntaxCauses(labelProblems(labels, "metadata.labels"), "metadata.labels"),
    ...syntaxCauses(annotationProblems(annotations, "metadata.annotations"), "metadata.annotations"),
  ];
  if (resultCauses.length > 0) throw invalid(resultCauses);
  return pod;
}
