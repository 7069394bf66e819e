// The pods registry strategy: defaulting, admission (service account, default tolerations),
// validation (pkg/apis/core/validation), update rules, graceful deletion and printing.
import { isIP } from "node:net";
import { Pod } from "kubernetes-models/v1/Pod";
import { fieldError, type FieldError } from "./field-errors.ts";
import {
  canonicalQuantity,
  compareQuantities,
  formatQuantity,
  isIntegerQuantity,
  parseQuantity,
  QuantityParseError,
  type Quantity,
} from "./quantity.ts";
import { randomSuffix } from "./random-names.ts";
import { bucketName, metadataFields, type ResourceType, type StoreReader } from "./resource-type.ts";
import { badRequest, forbidden } from "./status.ts";
import type { KubeObject } from "./store.ts";
import { AGE_COLUMN, age, NAME_COLUMN, type TableConvertor } from "./table.ts";
import { deepEqual } from "./deep-equal.ts";
import { dns1123LabelProblems, qualifiedNameProblems } from "./validation.ts";

type Json = Record<string, unknown>;

interface Container extends Json {
  name?: string;
  image?: string;
  imagePullPolicy?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  ports?: Json[];
  volumeMounts?: Json[];
}

export const SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";
const MUTABLE_SPEC_MESSAGE =
  "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

function spec(pod: KubeObject): Json {
  if (typeof pod["spec"] !== "object" || pod["spec"] === null) pod["spec"] = {};
  return pod["spec"] as Json;
}

function status(pod: KubeObject): Json {
  if (typeof pod["status"] !== "object" || pod["status"] === null) pod["status"] = {};
  return pod["status"] as Json;
}

function containerLists(podSpec: Json): Array<[string, Container[]]> {
  const lists: Array<[string, Container[]]> = [];
  for (const key of ["initContainers", "containers", "ephemeralContainers"]) {
    const list = podSpec[key];
    if (Array.isArray(list)) lists.push([key, list as Container[]]);
  }
  return lists;
}

// --- quantities -----------------------------------------------------------------------

/** Quantities are decoded (and so canonicalised) before anything else sees them. */
function canonicalizeResources(podSpec: Json): void {
  const canonicalizeMap = (map: unknown) => {
    if (typeof map !== "object" || map === null) return;
    const m = map as Record<string, unknown>;
    for (const [k, v] of Object.entries(m)) {
      try {
        m[k] = canonicalQuantity(v as string);
      } catch (e) {
        if (e instanceof QuantityParseError) throw badRequest(`Pod in version "v1" cannot be handled as a Pod: ${e.message}`);
        throw e;
      }
    }
  };
  for (const [, list] of containerLists(podSpec)) {
    for (const c of list) {
      canonicalizeMap(c.resources?.requests);
      canonicalizeMap(c.resources?.limits);
    }
  }
  canonicalizeMap(podSpec["overhead"]);
}

// --- defaulting -----------------------------------------------------------------------

function defaultPullPolicy(image: string | undefined): string {
  if (!image) return "IfNotPresent";
  if (image.includes("@")) return "IfNotPresent";
  const lastSegment = image.split("/").pop() ?? "";
  const tag = lastSegment.includes(":") ? lastSegment.split(":").pop() : undefined;
  return tag === undefined || tag === "latest" ? "Always" : "IfNotPresent";
}

/** SetDefaults_Pod / SetDefaults_PodSpec / SetDefaults_Container (applied on every decode). */
function applyDefaults(pod: KubeObject): void {
  const s = spec(pod);
  canonicalizeResources(s);
  s["restartPolicy"] ??= "Always";
  s["dnsPolicy"] ??= "ClusterFirst";
  s["terminationGracePeriodSeconds"] ??= 30;
  s["securityContext"] ??= {};
  s["schedulerName"] ??= "default-scheduler";
  s["enableServiceLinks"] ??= true;
  if (s["serviceAccountName"] === undefined && typeof s["serviceAccount"] === "string") s["serviceAccountName"] = s["serviceAccount"];
  for (const [kind, list] of containerLists(s)) {
    for (const c of list) {
      c.terminationMessagePath ??= "/dev/termination-log";
      c.terminationMessagePolicy ??= "File";
      c.imagePullPolicy ??= defaultPullPolicy(c.image);
      if (kind !== "ephemeralContainers") {
        c.resources ??= {};
        // Limits without requests default the requests to the limits.
        const limits = c.resources.limits;
        if (limits) {
          c.resources.requests ??= {};
          for (const [name, q] of Object.entries(limits)) c.resources.requests[name] ??= q;
        }
      }
      for (const port of (c.ports ?? []) as Json[]) port["protocol"] ??= "TCP";
    }
  }
  for (const volume of (s["volumes"] ?? []) as Json[]) {
    const hasSource = Object.keys(volume).some((k) => k !== "name");
    if (!hasSource) volume["emptyDir"] = {};
  }
  syncIps(pod);
}

/** v1 podIP/podIPs (and hostIP/hostIPs) are two views of one field. */
function syncIps(pod: KubeObject): void {
  const st = pod["status"] as Json | undefined;
  if (!st) return;
  for (const [single, plural] of [["podIP", "podIPs"], ["hostIP", "hostIPs"]] as const) {
    const list = st[plural] as Array<{ ip?: string }> | undefined;
    if (typeof st[single] === "string" && st[single] !== "" && (!list || list.length === 0)) st[plural] = [{ ip: st[single] }];
    else if (list && list.length > 0 && !st[single]) st[single] = list[0]?.ip;
  }
}

/** The ServiceAccount, Priority and DefaultTolerationSeconds admission plugins. */
function admissionMutations(pod: KubeObject, store: StoreReader): void {
  const s = spec(pod);
  const saName = (s["serviceAccountName"] as string | undefined) || "default";
  s["serviceAccountName"] = saName;
  s["serviceAccount"] = saName;
  s["priority"] ??= 0;
  s["preemptionPolicy"] ??= "PreemptLowerPriority";
  const tolerations = (s["tolerations"] ??= []) as Json[];
  for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
    const present = tolerations.some((t) => t["key"] === key && (t["effect"] === "NoExecute" || t["effect"] === undefined));
    if (!present) tolerations.push({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 });
  }
  const sa = store.get(bucketName("", "serviceaccounts"), pod.metadata.namespace, saName);
  const automount = (s["automountServiceAccountToken"] as boolean | undefined) ?? (sa?.["automountServiceAccountToken"] as boolean | undefined) ?? true;
  if (!automount) return;
  const volumeName = `kube-api-access-${randomSuffix()}`;
  const volumes = (s["volumes"] ??= []) as Json[];
  volumes.push({
    name: volumeName,
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
      ],
      defaultMode: 420,
    },
  });
  for (const [kind, list] of containerLists(s)) {
    if (kind === "ephemeralContainers") continue;
    for (const c of list) {
      const mounts = (c.volumeMounts ??= []) as Json[];
      if (!mounts.some((m) => m["mountPath"] === SERVICE_ACCOUNT_MOUNT_PATH)) {
        mounts.push({ name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH });
      }
    }
  }
}

function admitCreate(pod: KubeObject, store: StoreReader): void {
  const saName = (spec(pod)["serviceAccountName"] as string | undefined) ?? "default";
  const ns = pod.metadata.namespace ?? "";
  if (!store.get(bucketName("", "serviceaccounts"), ns, saName)) {
    throw forbidden(
      { group: "", resource: "pods" },
      pod.metadata.name ?? "",
      `error looking up service account ${ns}/${saName}: serviceaccount "${saName}" not found`,
    );
  }
}

// --- QoS ------------------------------------------------------------------------------

export function podQosClass(pod: KubeObject): string {
  const requests = new Map<string, bigint>();
  const limits = new Map<string, bigint>();
  let guaranteed = true;
  const s = spec(pod);
  const all = [...((s["containers"] ?? []) as Container[]), ...((s["initContainers"] ?? []) as Container[])];
  for (const c of all) {
    const found = new Set<string>();
    for (const [kind, target] of [["requests", requests], ["limits", limits]] as const) {
      for (const [name, q] of Object.entries(c.resources?.[kind] ?? {})) {
        if (name !== "cpu" && name !== "memory") continue;
        const nanos = parseQuantity(q).nanos;
        if (nanos <= 0n) continue;
        if (kind === "limits") found.add(name);
        target.set(name, (target.get(name) ?? 0n) + nanos);
      }
    }
    if (!found.has("cpu") || !found.has("memory")) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return "BestEffort";
  if (guaranteed) {
    for (const [name, req] of requests) {
      if (limits.get(name) !== req) guaranteed = false;
    }
  }
  return guaranteed && requests.size === limits.size ? "Guaranteed" : "Burstable";
}

// --- validation -----------------------------------------------------------------------

const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const ENV_VAR_NAME_MESSAGE =
  "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";

const STANDARD_CONTAINER_RESOURCES = new Set(["cpu", "memory", "ephemeral-storage"]);

function isNativeResource(name: string): boolean {
  return !name.includes("/") || name.includes("kubernetes.io/");
}

function isHugePages(name: string): boolean {
  return name.startsWith("hugepages-");
}

export function isExtendedResourceName(name: string): boolean {
  if (isNativeResource(name) || name.startsWith("requests.")) return false;
  return qualifiedNameProblems(`requests.${name}`).length === 0;
}

function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePages(name);
}

function validateResourceName(name: string, path: string): FieldError[] {
  const errs = qualifiedNameProblems(name).map((p) => fieldError.invalid(path, name, p));
  if (!name.includes("/")) {
    if (!STANDARD_CONTAINER_RESOURCES.has(name) && !isHugePages(name)) {
      errs.push(fieldError.invalid(path, name, "must be a standard resource for containers"));
    }
  } else if (!isNativeResource(name) && !isExtendedResourceName(name)) {
    errs.push(fieldError.invalid(path, name, "doesn't follow extended resource name standard"));
  }
  return errs;
}

function validateQuantityValue(name: string, q: Quantity, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (q.nanos < 0n) errs.push(fieldError.invalid(path, formatQuantity(q), "must be greater than or equal to 0"));
  if (isExtendedResourceName(name) && !isIntegerQuantity(q)) {
    errs.push(fieldError.invalidStringer(path, formatQuantity(q), "must be an integer"));
  }
  return errs;
}

function validateResources(c: Container, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  const limPath = `${path}.limits`;
  const reqPath = `${path}.requests`;
  let cpuOrMemory = false;
  let hugePages = false;
  for (const [name, text] of Object.entries(limits)) {
    const keyPath = `${limPath}[${name}]`;
    errs.push(...validateResourceName(name, keyPath));
    errs.push(...validateQuantityValue(name, parseQuantity(text), keyPath));
    if (name === "cpu" || name === "memory") cpuOrMemory = true;
    if (isHugePages(name)) hugePages = true;
  }
  for (const [name, text] of Object.entries(requests)) {
    const keyPath = `${reqPath}[${name}]`;
    errs.push(...validateResourceName(name, keyPath));
    const q = parseQuantity(text);
    errs.push(...validateQuantityValue(name, q, keyPath));
    const limitText = limits[name];
    if (limitText !== undefined) {
      const limit = parseQuantity(limitText);
      // Extended resources cannot be overcommitted: requests must equal limits.
      if (compareQuantities(q, limit) !== 0 && !isOvercommitAllowed(name)) {
        errs.push(fieldError.invalid(reqPath, formatQuantity(q), `must be equal to ${name} limit of ${formatQuantity(limit)}`));
      } else if (compareQuantities(q, limit) > 0) {
        errs.push(fieldError.invalid(reqPath, formatQuantity(q), `must be less than or equal to ${name} limit of ${formatQuantity(limit)}`));
      }
    } else if (!isOvercommitAllowed(name)) {
      errs.push(fieldError.required(limPath, "Limit must be set for non overcommitable resources"));
    }
    if (name === "cpu" || name === "memory") cpuOrMemory = true;
    if (isHugePages(name)) hugePages = true;
  }
  if (hugePages && !cpuOrMemory) errs.push(fieldError.forbidden(path, "HugePages require cpu or memory"));
  return errs;
}

function validateContainers(podSpec: Json, volumeNames: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  const containers = podSpec["containers"];
  if (!Array.isArray(containers) || containers.length === 0) errs.push(fieldError.required("spec.containers"));
  for (const [kind, list] of containerLists(podSpec)) {
    list.forEach((c, i) => {
      const path = `spec.${kind}[${i}]`;
      const name = c.name ?? "";
      if (name === "") errs.push(fieldError.required(`${path}.name`));
      else {
        for (const p of dns1123LabelProblems(name)) errs.push(fieldError.invalid(`${path}.name`, name, p));
        if (seen.has(name)) errs.push(fieldError.duplicate(`${path}.name`, name));
        seen.add(name);
      }
      if (!c.image) errs.push(fieldError.required(`${path}.image`));
      if (kind !== "ephemeralContainers") errs.push(...validateResources(c, `${path}.resources`));
      const ports = (c.ports ?? []) as Json[];
      ports.forEach((port, j) => {
        const portPath = `${path}.ports[${j}]`;
        const number = port["containerPort"];
        if (typeof number === "number" && (number < 1 || number > 65535)) {
          errs.push(fieldError.invalid(`${portPath}.containerPort`, number, "must be between 1 and 65535, inclusive"));
        }
        const protocol = port["protocol"];
        if (protocol !== undefined && !["TCP", "UDP", "SCTP"].includes(protocol as string)) {
          errs.push(fieldError.notSupported(`${portPath}.protocol`, protocol, ["SCTP", "TCP", "UDP"]));
        }
      });
      ((c["env"] ?? []) as Json[]).forEach((env, j) => {
        const envName = (env["name"] as string | undefined) ?? "";
        const envPath = `${path}.env[${j}].name`;
        if (envName === "") errs.push(fieldError.required(envPath));
        else if (!ENV_VAR_NAME.test(envName)) errs.push(fieldError.invalid(envPath, envName, ENV_VAR_NAME_MESSAGE));
      });
      ((c.volumeMounts ?? []) as Json[]).forEach((mount, j) => {
        const mountName = mount["name"] as string | undefined;
        if (!mountName) errs.push(fieldError.required(`${path}.volumeMounts[${j}].name`));
        else if (!volumeNames.has(mountName)) {
          errs.push(fieldError.notFound(`${path}.volumeMounts[${j}].name`, mountName));
        }
        if (!mount["mountPath"]) errs.push(fieldError.required(`${path}.volumeMounts[${j}].mountPath`));
      });
    });
  }
  return errs;
}

function validateVolumes(podSpec: Json): { errs: FieldError[]; names: Set<string> } {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ((podSpec["volumes"] ?? []) as Json[]).forEach((v, i) => {
    const name = (v["name"] as string | undefined) ?? "";
    const path = `spec.volumes[${i}].name`;
    if (name === "") errs.push(fieldError.required(path));
    else {
      for (const p of dns1123LabelProblems(name)) errs.push(fieldError.invalid(path, name, p));
      if (names.has(name)) errs.push(fieldError.duplicate(path, name));
    }
    names.add(name);
    const sources = Object.keys(v).filter((k) => k !== "name");
    if (sources.length > 1) errs.push(fieldError.forbidden(`spec.volumes[${i}]`, "may not specify more than 1 volume type"));
  });
  return { errs, names };
}

function validateStatusIps(pod: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const st = (pod["status"] ?? {}) as Json;
  for (const field of ["podIPs", "hostIPs"]) {
    ((st[field] ?? []) as Array<{ ip?: string }>).forEach((entry, i) => {
      if (isIP(entry.ip ?? "") === 0) {
        errs.push(fieldError.invalid(`status.${field}[${i}].ip`, entry.ip ?? "", "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
      }
    });
  }
  return errs;
}

function validatePod(pod: KubeObject): FieldError[] {
  const s = spec(pod);
  const volumes = validateVolumes(s);
  const errs = [...volumes.errs, ...validateContainers(s, volumes.names)];
  const grace = s["terminationGracePeriodSeconds"];
  if (typeof grace === "number" && grace < 0) {
    errs.push(fieldError.invalid("spec.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"));
  }
  const deadline = s["activeDeadlineSeconds"];
  if (typeof deadline === "number" && deadline < 1) {
    errs.push(fieldError.invalid("spec.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive"));
  }
  errs.push(...validateStatusIps(pod));
  return errs;
}

function tolerationKey(t: Json): string {
  return JSON.stringify([t["key"], t["operator"], t["value"], t["effect"], t["tolerationSeconds"]]);
}

/** ValidatePodUpdate: only a handful of spec fields may change after creation. */
function validatePodUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const errs = validatePod(pod);
  const next = structuredClone(spec(pod));
  const prev = spec(old);
  // Overwrite what may change with the old values; anything still different is forbidden.
  for (const [kind, list] of containerLists(next)) {
    if (kind === "ephemeralContainers") continue;
    const oldList = (prev[kind] ?? []) as Container[];
    list.forEach((c, i) => {
      const o = oldList[i];
      if (o && c.image) c.image = o.image;
    });
  }
  next["activeDeadlineSeconds"] = prev["activeDeadlineSeconds"];
  if (typeof prev["terminationGracePeriodSeconds"] === "number" && (prev["terminationGracePeriodSeconds"] as number) < 0 && next["terminationGracePeriodSeconds"] === 1) {
    next["terminationGracePeriodSeconds"] = prev["terminationGracePeriodSeconds"];
  }
  const oldTolerations = (prev["tolerations"] ?? []) as Json[];
  const newTolerations = (next["tolerations"] ?? []) as Json[];
  const newKeys = new Set(newTolerations.map(tolerationKey));
  if (oldTolerations.every((t) => newKeys.has(tolerationKey(t)))) next["tolerations"] = prev["tolerations"];
  if (!deepEqual(next, prev)) {
    errs.push(fieldError.forbidden("spec", `${MUTABLE_SPEC_MESSAGE}\n${specDiff(prev, next)}`));
  }
  const nextDeadline = spec(pod)["activeDeadlineSeconds"];
  const prevDeadline = prev["activeDeadlineSeconds"];
  if (typeof prevDeadline === "number" && (typeof nextDeadline !== "number" || nextDeadline > prevDeadline)) {
    errs.push(fieldError.invalid("spec.activeDeadlineSeconds", nextDeadline ?? null, "must be less than or equal to previous value"));
  }
  return errs;
}

function validatePodStatusUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const errs = validateStatusIps(pod);
  const st = status(pod);
  const oldSt = status(old);
  if (st["qosClass"] !== oldSt["qosClass"]) {
    errs.push(fieldError.invalid("status.qosClass", st["qosClass"] ?? "", "field is immutable"));
  }
  if (spec(old)["restartPolicy"] === "Never") {
    const oldStatuses = new Map(((oldSt["containerStatuses"] ?? []) as Json[]).map((c) => [c["name"], c]));
    ((st["containerStatuses"] ?? []) as Json[]).forEach((c, i) => {
      const before = oldStatuses.get(c["name"]);
      const wasTerminated = (before?.["state"] as Json | undefined)?.["terminated"] !== undefined;
      const isTerminated = (c["state"] as Json | undefined)?.["terminated"] !== undefined;
      if (wasTerminated && !isTerminated) {
        errs.push(fieldError.forbidden(`status.containerStatuses[${i}].state`, "may not be transitioned to non-terminated state"));
      }
    });
  }
  return errs;
}

/** A short, cmp.Diff-like hint about which top-level spec fields changed. */
function specDiff(prev: Json, next: Json): string {
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)]);
  const changed = [...keys].filter((k) => !deepEqual(prev[k], next[k]));
  return `  core.PodSpec{\n${changed.map((k) => `- \t${k}: ${JSON.stringify(prev[k])},\n+ \t${k}: ${JSON.stringify(next[k])},`).join("\n")}\n  }\n`;
}


// --- deletion ---------------------------------------------------------------------------

/**
 * CheckGracefulDelete: unscheduled or finished pods go at once; a bound pod waits for its
 * kubelet to confirm with a grace-0 delete. A pod bound to a node that has no Node object
 * goes at once too, standing in for the pod GC that force-deletes orphans.
 */
function deletionGracePeriod(pod: KubeObject, requested: number | undefined, store: StoreReader): number {
  const s = spec(pod);
  const st = (pod["status"] ?? {}) as Json;
  let period = requested ?? (s["terminationGracePeriodSeconds"] as number | undefined) ?? 30;
  const nodeName = s["nodeName"] as string | undefined;
  if (!nodeName) period = 0;
  if (st["phase"] === "Failed" || st["phase"] === "Succeeded") period = 0;
  if (nodeName && !store.get(bucketName("", "nodes"), undefined, nodeName)) period = 0;
  return Math.max(0, period);
}

// --- printing ---------------------------------------------------------------------------

function podStatusReason(pod: KubeObject): string {
  const st = (pod["status"] ?? {}) as Json;
  let reason = (st["reason"] as string | undefined) || (st["phase"] as string | undefined) || "Pending";
  const initStatuses = (st["initContainerStatuses"] ?? []) as Json[];
  const initCount = ((spec(pod)["initContainers"] ?? []) as unknown[]).length;
  let initializing = false;
  initStatuses.forEach((c, i) => {
    if (initializing) return;
    const state = (c["state"] ?? {}) as Json;
    const terminated = state["terminated"] as Json | undefined;
    const waiting = state["waiting"] as Json | undefined;
    if (terminated && terminated["exitCode"] === 0) return;
    initializing = true;
    if (terminated) reason = terminated["reason"] ? `Init:${String(terminated["reason"])}` : `Init:ExitCode:${String(terminated["exitCode"])}`;
    else if (waiting?.["reason"] && waiting["reason"] !== "PodInitializing") reason = `Init:${String(waiting["reason"])}`;
    else reason = `Init:${i}/${initCount}`;
  });
  if (!initializing) {
    for (const c of [...((st["containerStatuses"] ?? []) as Json[])].reverse()) {
      const state = (c["state"] ?? {}) as Json;
      const waiting = state["waiting"] as Json | undefined;
      const terminated = state["terminated"] as Json | undefined;
      if (waiting?.["reason"]) reason = String(waiting["reason"]);
      else if (terminated?.["reason"]) reason = String(terminated["reason"]);
      else if (terminated) reason = terminated["signal"] ? `Signal:${String(terminated["signal"])}` : `ExitCode:${String(terminated["exitCode"])}`;
    }
  }
  if (pod.metadata.deletionTimestamp) reason = st["reason"] === "NodeLost" ? "Unknown" : "Terminating";
  return reason;
}

const POD_TABLE: TableConvertor = {
  columns: [
    NAME_COLUMN,
    { name: "Ready", type: "string", description: "The aggregate readiness state of this pod for accepting traffic." },
    { name: "Status", type: "string", description: "The aggregate status of the containers in this pod." },
    { name: "Restarts", type: "string", description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted." },
    AGE_COLUMN,
    { name: "IP", type: "string", priority: 1, description: "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated." },
    { name: "Node", type: "string", priority: 1, description: "NodeName is a request to schedule this pod onto a specific node." },
    { name: "Nominated Node", type: "string", priority: 1, description: "nominatedNodeName is set when this pod preempts other pods on the node." },
    { name: "Readiness Gates", type: "string", priority: 1, description: "If specified, all readiness gates will be evaluated for pod readiness." },
  ],
  cells(pod, now) {
    const st = (pod["status"] ?? {}) as Json;
    const statuses = (st["containerStatuses"] ?? []) as Json[];
    const total = ((spec(pod)["containers"] ?? []) as unknown[]).length;
    const ready = statuses.filter((c) => c["ready"] === true).length;
    const restarts = statuses.reduce((n, c) => n + ((c["restartCount"] as number | undefined) ?? 0), 0);
    const gates = (spec(pod)["readinessGates"] ?? []) as unknown[];
    const gateCell = gates.length === 0 ? "<none>" : `0/${gates.length}`;
    return [
      pod.metadata.name ?? "",
      `${ready}/${total}`,
      podStatusReason(pod),
      String(restarts),
      age(pod.metadata.creationTimestamp, now),
      (st["podIP"] as string | undefined) || "<none>",
      (spec(pod)["nodeName"] as string | undefined) || "<none>",
      (st["nominatedNodeName"] as string | undefined) || "<none>",
      gateCell,
    ];
  },
};

export const podResource: ResourceType = {
  group: "",
  version: "v1",
  resource: "pods",
  kind: "Pod",
  singularName: "pod",
  namespaced: true,
  shortNames: ["po"],
  categories: ["all"],
  verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
  bucket: bucketName("", "pods"),
  decode: { apiVersion: "v1", kind: "Pod", typeName: "V1Pod", schema: Pod },
  nameRule: "dns1123Subdomain",
  fieldSelectors: [
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
  selectableFields(pod) {
    const s = spec(pod);
    const st = (pod["status"] ?? {}) as Json;
    return {
      ...metadataFields(pod, true),
      "spec.nodeName": (s["nodeName"] as string | undefined) ?? "",
      "spec.restartPolicy": (s["restartPolicy"] as string | undefined) ?? "",
      "spec.schedulerName": (s["schedulerName"] as string | undefined) ?? "",
      "spec.serviceAccountName": (s["serviceAccountName"] as string | undefined) ?? "",
      "spec.hostNetwork": String(s["hostNetwork"] === true),
      "status.phase": (st["phase"] as string | undefined) ?? "",
      "status.podIP": (st["podIP"] as string | undefined) ?? "",
      "status.nominatedNodeName": (st["nominatedNodeName"] as string | undefined) ?? "",
    };
  },
  hasStatus: true,
  tracksGeneration: false,
  allowCreateOnUpdate: false,
  returnDeletedObject: true,
  normalize: applyDefaults,
  prepareForCreate(pod, store) {
    admissionMutations(pod, store);
    pod["status"] = { phase: "Pending", qosClass: podQosClass(pod) };
  },
  admitCreate,
  validate: validatePod,
  validateUpdate: validatePodUpdate,
  validateStatusUpdate: validatePodStatusUpdate,
  deletionGracePeriod,
  table: POD_TABLE,
};
