// Strategies of the kinds without much behaviour of their own: namespaces, events,
// configmaps, secrets, serviceaccounts, leases and poddisruptionbudgets.
import { Lease } from "kubernetes-models/coordination.k8s.io/v1/Lease";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Event } from "kubernetes-models/v1/Event";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { SchemaModel } from "./decode.ts";
import { deepEqual } from "./deep-equal.ts";
import { fieldError, type FieldError } from "./field-errors.ts";
import { apiVersionOf, bucketName, metadataFields, type ResourceType, type Verb } from "./resource-type.ts";
import type { KubeObject } from "./store.ts";
import { AGE_COLUMN, age, DEFAULT_TABLE, NAME_COLUMN, type TableConvertor } from "./table.ts";
import { dns1123SubdomainProblems, type NameRule } from "./validation.ts";

type Json = Record<string, unknown>;

const ALL_VERBS: Verb[] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

interface SimpleResourceSpec {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  typeName: string;
  schema: SchemaModel;
  shortNames?: string[];
  nameRule?: NameRule;
  extraFieldSelectors?: Record<string, (obj: KubeObject) => string>;
  hasStatus?: boolean;
  tracksGeneration?: boolean;
  allowCreateOnUpdate?: boolean;
  returnDeletedObject?: boolean;
  validate?: (obj: KubeObject) => FieldError[];
  /** Extra rules for updates, on top of `validate`. */
  validateUpdate?: (obj: KubeObject, old: KubeObject) => FieldError[];
  prepareForCreate?: (obj: KubeObject) => void;
  /** Applied on every decode (defaulting and v1 conversion quirks). */
  normalize?: (obj: KubeObject) => void;
  table?: TableConvertor;
}

function simpleResource(s: SimpleResourceSpec): ResourceType {
  const extra = s.extraFieldSelectors ?? {};
  const base = s.namespaced ? ["metadata.name", "metadata.namespace"] : ["metadata.name"];
  return {
    group: s.group,
    version: s.version,
    resource: s.resource,
    kind: s.kind,
    singularName: s.kind.toLowerCase(),
    namespaced: s.namespaced,
    shortNames: s.shortNames ?? [],
    categories: [],
    verbs: ALL_VERBS,
    bucket: bucketName(s.group, s.resource),
    decode: { apiVersion: apiVersionOf(s), kind: s.kind, typeName: s.typeName, schema: s.schema },
    nameRule: s.nameRule ?? "dns1123Subdomain",
    fieldSelectors: [...base, ...Object.keys(extra)],
    selectableFields(obj) {
      const fields = metadataFields(obj, s.namespaced);
      for (const [name, get] of Object.entries(extra)) fields[name] = get(obj);
      return fields;
    },
    hasStatus: s.hasStatus ?? false,
    tracksGeneration: s.tracksGeneration ?? false,
    allowCreateOnUpdate: s.allowCreateOnUpdate ?? false,
    returnDeletedObject: s.returnDeletedObject ?? false,
    prepareForCreate: s.prepareForCreate,
    normalize: s.normalize,
    validate: s.validate,
    validateUpdate: (obj, old) => [...(s.validate?.(obj) ?? []), ...(s.validateUpdate?.(obj, old) ?? [])],
    table: s.table ?? DEFAULT_TABLE,
  };
}

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const CONFIG_KEY_MESSAGE =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

function validateDataKeys(obj: KubeObject, fields: string[]): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  for (const field of fields) {
    for (const key of Object.keys((obj[field] ?? {}) as Json)) {
      if (!CONFIG_KEY.test(key) || key.length > 253) errs.push(fieldError.invalid(`${field}[${key}]`, key, CONFIG_KEY_MESSAGE));
      if (seen.has(key)) errs.push(fieldError.invalid(`${field}[${key}]`, key, "duplicate of key present in data"));
      seen.add(key);
    }
  }
  return errs;
}

/** `immutable: true` ConfigMaps and Secrets keep their data forever. */
function validateImmutableData(obj: KubeObject, old: KubeObject, fields: string[]): FieldError[] {
  if (old["immutable"] !== true) return [];
  const message = "field is immutable when `immutable` is set";
  const errs = fields.filter((f) => !deepEqual(obj[f] ?? {}, old[f] ?? {})).map((f) => fieldError.forbidden(f, message));
  if (obj["immutable"] !== true) errs.push(fieldError.forbidden("immutable", message));
  return errs;
}

function dataCount(obj: KubeObject, fields: string[]): number {
  return fields.reduce((n, f) => n + Object.keys((obj[f] ?? {}) as Json).length, 0);
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

export const namespaceResource: ResourceType = {
  ...simpleResource({
    group: "",
    version: "v1",
    resource: "namespaces",
    kind: "Namespace",
    namespaced: false,
    typeName: "V1Namespace",
    schema: Namespace,
    shortNames: ["ns"],
    nameRule: "dns1123Label",
    hasStatus: true,
    returnDeletedObject: true,
    extraFieldSelectors: { "status.phase": (o) => str((o["status"] as Json | undefined)?.["phase"]) },
    prepareForCreate(ns) {
      const specFinalizers = (((ns["spec"] as Json | undefined)?.["finalizers"] ?? []) as string[]).filter((f) => f !== "kubernetes");
      ns["spec"] = { finalizers: [...specFinalizers, "kubernetes"] };
      ns["status"] = { phase: "Active" };
    },
    table: {
      columns: [NAME_COLUMN, { name: "Status", type: "string", description: "The status of the namespace" }, AGE_COLUMN],
      cells: (o, now) => [o.metadata.name ?? "", str((o["status"] as Json | undefined)?.["phase"]), age(o.metadata.creationTimestamp, now)],
    },
  }),
  verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  // The NamespaceDefaultLabelName feature: every namespace is labelled with its own name.
  normalize(ns) {
    ns.metadata.labels = { ...ns.metadata.labels, "kubernetes.io/metadata.name": ns.metadata.name ?? "" };
  },
};

function involved(o: KubeObject): Json {
  return (o["involvedObject"] ?? {}) as Json;
}

function validateEvent(event: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const involvedNamespace = str(involved(event)["namespace"]);
  const namespace = event.metadata.namespace ?? "";
  if (!event["eventTime"]) {
    const matches = involvedNamespace === "" ? namespace === "" || namespace === "default" : namespace === involvedNamespace;
    if (!matches) errs.push(fieldError.invalid("involvedObject.namespace", involvedNamespace, "does not match event.namespace"));
  }
  for (const p of dns1123SubdomainProblems(namespace)) errs.push(fieldError.invalid("namespace", namespace, p));
  return errs;
}

export const eventResource = simpleResource({
  group: "",
  version: "v1",
  resource: "events",
  kind: "Event",
  namespaced: true,
  typeName: "CoreV1Event",
  schema: Event,
  shortNames: ["ev"],
  allowCreateOnUpdate: true,
  extraFieldSelectors: {
    "involvedObject.kind": (o) => str(involved(o)["kind"]),
    "involvedObject.namespace": (o) => str(involved(o)["namespace"]),
    "involvedObject.name": (o) => str(involved(o)["name"]),
    "involvedObject.uid": (o) => str(involved(o)["uid"]),
    "involvedObject.apiVersion": (o) => str(involved(o)["apiVersion"]),
    "involvedObject.resourceVersion": (o) => str(involved(o)["resourceVersion"]),
    "involvedObject.fieldPath": (o) => str(involved(o)["fieldPath"]),
    reason: (o) => str(o["reason"]),
    reportingComponent: (o) => str(o["reportingComponent"]),
    source: (o) => str((o["source"] as Json | undefined)?.["component"]) || str(o["reportingComponent"]),
    type: (o) => str(o["type"]),
  },
  validate: validateEvent,
  table: {
    columns: [
      { name: "Last Seen", type: "string", description: "Time when this Event was last observed." },
      { name: "Type", type: "string", description: "Type of this event (Normal, Warning), new types could be added in the future." },
      { name: "Reason", type: "string", description: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status." },
      { name: "Object", type: "string", description: "The object that this event is about." },
      { name: "Message", type: "string", description: "A human-readable description of the status of this operation." },
    ],
    cells(o, now) {
      const inv = involved(o);
      const last = str(o["lastTimestamp"]) || str(o["eventTime"]) || o.metadata.creationTimestamp;
      return [age(last, now), str(o["type"]), str(o["reason"]), `${str(inv["kind"]).toLowerCase()}/${str(inv["name"])}`, str(o["message"])];
    },
  },
});

export const configMapResource = simpleResource({
  group: "",
  version: "v1",
  resource: "configmaps",
  kind: "ConfigMap",
  namespaced: true,
  typeName: "V1ConfigMap",
  schema: ConfigMap,
  shortNames: ["cm"],
  validate: (o) => validateDataKeys(o, ["data", "binaryData"]),
  validateUpdate: (o, old) => validateImmutableData(o, old, ["data", "binaryData"]),
  table: {
    columns: [NAME_COLUMN, { name: "Data", type: "integer", description: "Number of data entries" }, AGE_COLUMN],
    cells: (o, now) => [o.metadata.name ?? "", dataCount(o, ["data", "binaryData"]), age(o.metadata.creationTimestamp, now)],
  },
});

export const secretResource = simpleResource({
  group: "",
  version: "v1",
  resource: "secrets",
  kind: "Secret",
  namespaced: true,
  typeName: "V1Secret",
  schema: Secret,
  extraFieldSelectors: { type: (o) => str(o["type"]) },
  normalize(secret) {
    // stringData is write-only: merged into data (base64) and dropped, on every write.
    const stringData = (secret["stringData"] ?? {}) as Record<string, string>;
    const data = (secret["data"] ?? {}) as Record<string, string>;
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v).toString("base64");
    if (Object.keys(data).length > 0) secret["data"] = data;
    delete secret["stringData"];
    if (!secret["type"]) secret["type"] = "Opaque";
  },
  validate: (o) => validateDataKeys(o, ["data"]),
  validateUpdate(o, old) {
    const errs = validateImmutableData(o, old, ["data"]);
    if (o["type"] !== old["type"]) errs.push(fieldError.invalid("type", o["type"] ?? "", "field is immutable"));
    return errs;
  },
  table: {
    columns: [
      NAME_COLUMN,
      { name: "Type", type: "string", description: "The type of the secret" },
      { name: "Data", type: "integer", description: "The number of entries in the secret" },
      AGE_COLUMN,
    ],
    cells: (o, now) => [o.metadata.name ?? "", str(o["type"]), dataCount(o, ["data"]), age(o.metadata.creationTimestamp, now)],
  },
});

export const serviceAccountResource = simpleResource({
  group: "",
  version: "v1",
  resource: "serviceaccounts",
  kind: "ServiceAccount",
  namespaced: true,
  typeName: "V1ServiceAccount",
  schema: ServiceAccount,
  shortNames: ["sa"],
  table: {
    columns: [NAME_COLUMN, { name: "Secrets", type: "string", description: "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use." }, AGE_COLUMN],
    cells: (o, now) => [o.metadata.name ?? "", String(((o["secrets"] ?? []) as unknown[]).length), age(o.metadata.creationTimestamp, now)],
  },
});

export const leaseResource = simpleResource({
  group: "coordination.k8s.io",
  version: "v1",
  resource: "leases",
  kind: "Lease",
  namespaced: true,
  typeName: "V1Lease",
  schema: Lease,
  table: {
    columns: [NAME_COLUMN, { name: "Holder", type: "string", description: "The holder of the lease" }, AGE_COLUMN],
    cells: (o, now) => [o.metadata.name ?? "", str((o["spec"] as Json | undefined)?.["holderIdentity"]), age(o.metadata.creationTimestamp, now)],
  },
});

function validatePdb(pdb: KubeObject): FieldError[] {
  const s = (pdb["spec"] ?? {}) as Json;
  if (s["minAvailable"] !== undefined && s["maxUnavailable"] !== undefined) {
    return [fieldError.invalid("spec", s, "minAvailable and maxUnavailable cannot be both set")];
  }
  return [];
}

export const podDisruptionBudgetResource = simpleResource({
  group: "policy",
  version: "v1",
  resource: "poddisruptionbudgets",
  kind: "PodDisruptionBudget",
  namespaced: true,
  typeName: "V1PodDisruptionBudget",
  schema: PodDisruptionBudget,
  shortNames: ["pdb"],
  hasStatus: true,
  tracksGeneration: true,
  validate: validatePdb,
  prepareForCreate(pdb) {
    pdb["status"] = { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
  },
  table: {
    columns: [
      NAME_COLUMN,
      { name: "Min Available", type: "string", description: "The minimum number of pods that must be available simultaneously" },
      { name: "Max Unavailable", type: "string", description: "The maximum number of pods that may be unavailable simultaneously" },
      { name: "Allowed Disruptions", type: "integer", description: "Calculated number of pods that may be disrupted at this time" },
      AGE_COLUMN,
    ],
    cells(o, now) {
      const s = (o["spec"] ?? {}) as Json;
      const st = (o["status"] ?? {}) as Json;
      const show = (v: unknown) => (v === undefined ? "N/A" : String(v));
      return [o.metadata.name ?? "", show(s["minAvailable"]), show(s["maxUnavailable"]), (st["disruptionsAllowed"] as number | undefined) ?? 0, age(o.metadata.creationTimestamp, now)];
    },
  },
});
