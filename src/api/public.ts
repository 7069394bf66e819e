// The public API device-mounter.io/v1alpha1 (../../../shared/spec/seed-api.md):
// the query parameters and the JSON body of PUT .../pods/{name}/mount and
// .../unmount, as valibot schemas. The apiserver validates requests with them
// and the CLI checks its arguments with them before sending, so both agree on
// what is valid.
import * as v from "valibot";
import { annotationKeyProblems, ANNOTATIONS_TOTAL_MAX_BYTES, dns1123LabelProblems, labelValueProblems, qualifiedNameProblems } from "./k8s-names.ts";
import { isPositive, isWholeNumber, parseQuantity, QuantityError } from "../apiserver/validation/quantity.ts";
import { JsonPatchOperationSchema, type AgentMountResponse, type AgentUnmountResponse, type JsonPatchOperation } from "./agent.ts";

export const API_GROUP = "device-mounter.io";
export const API_VERSION = "v1alpha1";
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;
export const MOUNT_SUBRESOURCE = "mount";
export const UNMOUNT_SUBRESOURCE = "unmount";
export const DEFAULT_WAIT_SECONDS = 10;

export const devicePath = (namespace: string, pod: string, subresource: typeof MOUNT_SUBRESOURCE | typeof UNMOUNT_SUBRESOURCE): string =>
  `/apis/${GROUP_VERSION}/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/${subresource}`;

/** Adds one issue per problem, each saying which value it is about. */
const problemsCheck = (what: string, problemsOf: (value: string) => string[]) =>
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const problem of problemsOf(dataset.value)) addIssue({ message: `${what} ${JSON.stringify(dataset.value)} ${problem}` });
  });

// ---- query parameters ----

const DEVICE_TYPE = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

const DeviceTypeParam = v.pipe(
  v.string("device_type is required: the type of device to mount, e.g. device_type=NVIDIA_GPU"),
  v.regex(DEVICE_TYPE, (issue) => `device_type ${JSON.stringify(issue.input)} must be 1 to 63 letters, digits, '_', '-' or '.', starting and ending with a letter or digit (e.g. NVIDIA_GPU)`),
);

const ContainerParam = v.pipe(v.string(), problemsCheck("container", dns1123LabelProblems));

const waitSecondParam = (maxWaitSeconds: number) =>
  v.pipe(
    v.string(),
    v.regex(/^[0-9]+$/, (issue) => `wait_second ${JSON.stringify(issue.input)} must be a whole number of seconds from 0 to ${maxWaitSeconds}`),
    v.transform(Number),
    v.maxValue(maxWaitSeconds, (issue) => `wait_second ${issue.input} is more than the maximum of ${maxWaitSeconds} seconds`),
  );

const ForceParam = v.pipe(
  v.string(),
  v.transform((s) => s.toLowerCase()),
  v.picklist(["1", "0", "true", "false"], (issue) => `force ${JSON.stringify(issue.input)} must be 1, 0, true or false`),
  v.transform((s) => s === "1" || s === "true"),
);

const mountQueryEntries = (maxWaitSeconds: number) => ({
  device_type: DeviceTypeParam,
  container: v.optional(ContainerParam),
  wait_second: v.optional(waitSecondParam(maxWaitSeconds), String(DEFAULT_WAIT_SECONDS)),
});

/** The only required parameter is device_type, so a missing key is always that one. */
const missingDeviceType = () => "device_type is required: the type of device to mount, e.g. device_type=NVIDIA_GPU";

/** Query of PUT .../mount. Empty values count as absent (as in the reference implementation). */
export const mountQuerySchema = (maxWaitSeconds: number) => v.object(mountQueryEntries(maxWaitSeconds), missingDeviceType);

/** Query of PUT .../unmount. */
export const unmountQuerySchema = (maxWaitSeconds: number) =>
  v.object({ ...mountQueryEntries(maxWaitSeconds), force: v.optional(ForceParam, "0") }, missingDeviceType);

export const MOUNT_QUERY_PARAMETERS = ["device_type", "container", "wait_second"] as const;
export const UNMOUNT_QUERY_PARAMETERS = [...MOUNT_QUERY_PARAMETERS, "force"] as const;

export interface MountParameters {
  deviceType: string;
  container?: string;
  waitSeconds: number;
}
export interface UnmountParameters extends MountParameters {
  force: boolean;
}

// ---- body of PUT .../mount ----

/** Resource names without a domain, or in kubernetes.io/, are Kubernetes' own (cpu, memory, hugepages-2Mi); others are extended resources. */
export const isExtendedResource = (name: string): boolean => name.includes("/") && !name.includes("kubernetes.io/");

const ResourceName = v.pipe(v.string(), problemsCheck("resource name", qualifiedNameProblems));

const QuantityValue = v.pipe(
  v.union([v.string(), v.number()], "must be a quantity string such as \"1\" or \"2Gi\""),
  v.transform((q) => String(q)),
);

const isJsonObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** v.record, but a JSON array is not a record (valibot would take its indexes as keys). */
const jsonRecord = <K extends v.GenericSchema<string, string>, V extends v.GenericSchema>(key: K, value: V, message: string) =>
  v.pipe(v.custom<Record<string, unknown>>(isJsonObject, message), v.record(key, value, message));

const Resources = v.pipe(
  jsonRecord(ResourceName, QuantityValue, 'resources must be an object of resource name → quantity, e.g. {"nvidia.com/gpu": "1"}'),
  v.check((r) => Object.keys(r).length > 0, "resources must name at least one resource, e.g. {\"nvidia.com/gpu\": \"1\"}"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const [name, text] of Object.entries(dataset.value)) {
      const path: [v.ObjectPathItem] = [{ type: "object", origin: "value", input: dataset.value, key: name, value: text }];
      try {
        const quantity = parseQuantity(text);
        if (!isPositive(quantity)) addIssue({ message: `quantity ${JSON.stringify(text)} must be greater than zero`, path });
        else if (isExtendedResource(name) && !isWholeNumber(quantity)) addIssue({ message: `quantity ${JSON.stringify(text)} must be a whole number: ${name} is an extended resource`, path });
      } catch (e) {
        if (!(e instanceof QuantityError)) throw e;
        addIssue({ message: e.message, path });
      }
    }
  }),
);

const Labels = jsonRecord(
  v.pipe(v.string(), problemsCheck("label key", qualifiedNameProblems)),
  v.pipe(v.string("label values must be strings"), problemsCheck("label value", labelValueProblems)),
  "labels must be an object of string → string",
);

const Annotations = v.pipe(
  jsonRecord(v.pipe(v.string(), problemsCheck("annotation key", annotationKeyProblems)), v.string("annotation values must be strings"), "annotations must be an object of string → string"),
  v.check(
    (a) => Object.entries(a).reduce((n, [k, val]) => n + Buffer.byteLength(k) + Buffer.byteLength(val), 0) <= ANNOTATIONS_TOTAL_MAX_BYTES,
    `annotations may hold at most ${ANNOTATIONS_TOTAL_MAX_BYTES} bytes of keys and values in total`,
  ),
);

const PATCH_EXAMPLE = String.raw`"{\"op\":\"replace\",\"path\":\"/spec/schedulerName\",\"value\":\"volcano\"}"`;
const POINTER = /^(\/([^~]|~[01])*)*$/;
const OPS = JsonPatchOperationSchema.entries.op.options;

/** What is wrong with one decoded RFC 6902 operation (empty: nothing). */
export function patchOperationProblems(op: unknown): string[] {
  if (typeof op !== "object" || op === null || Array.isArray(op)) return [`must encode a JSON object (one RFC 6902 operation), not ${Array.isArray(op) ? "an array" : JSON.stringify(op)}`];
  const o = op as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof o.op !== "string" || !(OPS as readonly string[]).includes(o.op)) problems.push(`"op" must be one of ${OPS.join(", ")}`);
  if (typeof o.path !== "string") problems.push(`"path" is required: a JSON pointer such as /spec/schedulerName`);
  else if (!POINTER.test(o.path)) problems.push(`"path" ${JSON.stringify(o.path)} is not a JSON pointer: it must be empty or start with '/', and '~' must be followed by 0 or 1`);
  if ((o.op === "add" || o.op === "replace" || o.op === "test") && !("value" in o)) problems.push(`"value" is required for op ${o.op}`);
  if (o.op === "move" || o.op === "copy") {
    if (typeof o.from !== "string") problems.push(`"from" is required for op ${o.op}: a JSON pointer`);
    else if (!POINTER.test(o.from)) problems.push(`"from" ${JSON.stringify(o.from)} is not a JSON pointer`);
  }
  return problems;
}

/** One contract patch: a string holding a JSON-encoded RFC 6902 operation. Outputs the decoded operation. */
export const PatchString = v.pipe(
  v.string(`each patch must be a string holding one JSON-encoded RFC 6902 operation, e.g. ${PATCH_EXAMPLE}`),
  v.rawTransform<string, JsonPatchOperation>(({ dataset, addIssue, NEVER }) => {
    let decoded: unknown;
    try {
      decoded = JSON.parse(dataset.value);
    } catch (e) {
      addIssue({ message: `is not valid JSON (${(e as Error).message}); each patch is a string holding one operation, e.g. ${PATCH_EXAMPLE}` });
      return NEVER;
    }
    const problems = patchOperationProblems(decoded);
    for (const problem of problems) addIssue({ message: problem });
    const parsed = v.safeParse(JsonPatchOperationSchema, decoded);
    if (problems.length || !parsed.success) {
      if (!problems.length) addIssue({ message: "is not an RFC 6902 operation" });
      return NEVER;
    }
    return parsed.output;
  }),
);

const BODY_FIELDS = "resources, annotations, labels and patches";

export const MountBodySchema = v.pipe(
  v.custom<Record<string, unknown>>(isJsonObject, `the body must be a JSON object with ${BODY_FIELDS}`),
  v.strictObject(
  {
    resources: Resources,
    annotations: v.optional(Annotations, {}),
    labels: v.optional(Labels, {}),
    patches: v.optional(v.array(PatchString, "patches must be an array of strings"), []),
  },
  (issue) =>
    issue.expected === "never"
      ? `unknown field; the body takes ${BODY_FIELDS}`
      : issue.expected === '"resources"'
        ? 'resources is required: the device resources to request, e.g. {"nvidia.com/gpu": "1"}'
        : `the body must be a JSON object with ${BODY_FIELDS}`,
  ),
);
export type MountBody = v.InferOutput<typeof MountBodySchema>;
/** The body as sent over the wire (patches still JSON strings). */
export interface MountRequestBody {
  resources: Record<string, string>;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  patches?: string[];
}

// ---- issues → field + message ----

export interface FieldProblem {
  field: string;
  message: string;
}

/** Renders a valibot issue path like resources[nvidia.com/gpu] or patches[0]. */
const fieldOf = (path: v.IssuePathItem[] | undefined): string =>
  (path ?? []).reduce((field, item, i) => {
    const key = String((item as { key?: unknown }).key);
    return i === 0 ? key : `${field}[${key}]`;
  }, "");

export function fieldProblems(issues: readonly v.BaseIssue<unknown>[]): FieldProblem[] {
  return issues.map((issue) => ({ field: fieldOf(issue.path), message: issue.message }));
}

// ---- responses ----

export interface MountResult extends Omit<AgentMountResponse, "kind"> {
  kind: "MountResult";
  apiVersion: typeof GROUP_VERSION;
}
export interface UnmountResult extends Omit<AgentUnmountResponse, "kind"> {
  kind: "UnmountResult";
  apiVersion: typeof GROUP_VERSION;
}
