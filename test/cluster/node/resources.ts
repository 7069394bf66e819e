// Resource arithmetic shared by the scheduler and the kubelet, with the same rules as
// the real ones: quantities in canonical integer units (millicores for cpu, whole units
// for everything else, rounded up), pod requests as max(sum(containers), each init
// container) plus overhead, limits defaulting requests, and the QoS class rules.
import type { V1Container, V1Pod, V1ResourceRequirements } from "@kubernetes/client-node";

export type ResourceList = Map<string, number>;
export type QosClass = "Guaranteed" | "Burstable" | "BestEffort";

const BINARY_SUFFIXES: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL_SUFFIXES: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** Parses a Kubernetes quantity ("500m", "1Gi", "2", "1e3") into its plain numeric value. */
export function parseQuantity(quantity: string | number): number {
  if (typeof quantity === "number") return quantity;
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|[a-zA-Z]*)$/.exec(quantity.trim());
  if (!match) throw new Error(`invalid resource quantity ${JSON.stringify(quantity)}`);
  const [, numberPart = "", suffix = ""] = match;
  const value = Number(numberPart);
  if (/^[eE]/.test(suffix)) return value * 10 ** Number(suffix.slice(1));
  const multiplier = BINARY_SUFFIXES[suffix] ?? DECIMAL_SUFFIXES[suffix];
  if (multiplier === undefined) throw new Error(`invalid resource quantity ${JSON.stringify(quantity)}: unknown suffix`);
  return value * multiplier;
}

/** A quantity in the unit the scheduler compares: millicores for cpu, whole units otherwise. */
export function canonicalAmount(resource: string, quantity: string | number): number {
  const value = parseQuantity(quantity);
  // A tiny epsilon keeps binary float noise ("0.1" * 1000) from rounding up a whole unit.
  return Math.ceil((resource === "cpu" ? value * 1000 : value) - 1e-9);
}

export function formatAmount(resource: string, amount: number): string {
  return resource === "cpu" ? (amount % 1000 === 0 ? String(amount / 1000) : `${amount}m`) : String(amount);
}

function toResourceList(values: Record<string, string | number> | undefined): ResourceList {
  const list: ResourceList = new Map();
  for (const [name, quantity] of Object.entries(values ?? {})) list.set(name, canonicalAmount(name, quantity));
  return list;
}

/** Requests as the API server defaults them: a limit without a request is also the request. */
export function effectiveRequests(resources: V1ResourceRequirements | undefined): ResourceList {
  const requests = toResourceList(resources?.requests as Record<string, string> | undefined);
  for (const [name, amount] of toResourceList(resources?.limits as Record<string, string> | undefined)) {
    if (!requests.has(name)) requests.set(name, amount);
  }
  return requests;
}

export function limitsOf(resources: V1ResourceRequirements | undefined): ResourceList {
  return toResourceList(resources?.limits as Record<string, string> | undefined);
}

function addInto(target: ResourceList, source: ResourceList): void {
  for (const [name, amount] of source) target.set(name, (target.get(name) ?? 0) + amount);
}

function maxInto(target: ResourceList, source: ResourceList): void {
  for (const [name, amount] of source) target.set(name, Math.max(target.get(name) ?? 0, amount));
}

function isSidecar(container: V1Container): boolean {
  return container.restartPolicy === "Always";
}

/**
 * What the pod occupies on a node: regular containers and sidecars run together, each
 * classic init container runs alone (while the sidecars started before it run too).
 */
export function podRequests(pod: V1Pod): ResourceList {
  const total: ResourceList = new Map();
  for (const container of pod.spec?.containers ?? []) addInto(total, effectiveRequests(container.resources));
  const sidecars: ResourceList = new Map();
  const initPeak: ResourceList = new Map();
  for (const container of pod.spec?.initContainers ?? []) {
    const requests = effectiveRequests(container.resources);
    if (isSidecar(container)) {
      addInto(sidecars, requests);
      continue;
    }
    const whileRunning: ResourceList = new Map(sidecars);
    addInto(whileRunning, requests);
    maxInto(initPeak, whileRunning);
  }
  addInto(total, sidecars);
  maxInto(total, initPeak);
  addInto(total, toResourceList(pod.spec?.overhead as Record<string, string> | undefined));
  return total;
}

/** Resources whose QoS the kubelet tracks; extended resources do not affect the class. */
const QOS_RESOURCES = ["cpu", "memory"] as const;

export function qosClassOf(pod: V1Pod): QosClass {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let anySet = false;
  let guaranteed = true;
  for (const container of containers) {
    const requests = effectiveRequests(container.resources);
    const limits = limitsOf(container.resources);
    for (const resource of QOS_RESOURCES) {
      const request = requests.get(resource);
      const limit = limits.get(resource);
      if ((request !== undefined && request !== 0) || (limit !== undefined && limit !== 0)) anySet = true;
      if (limit === undefined || request === undefined || request !== limit) guaranteed = false;
    }
  }
  if (!anySet) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

/** Extended resources a container asks for (non-native names with a domain, e.g. example.com/loop). */
export function extendedResourceLimits(container: V1Container): Map<string, number> {
  const result = new Map<string, number>();
  for (const [name, amount] of limitsOf(container.resources)) {
    if (isExtendedResourceName(name) && amount > 0) result.set(name, amount);
  }
  return result;
}

export function isExtendedResourceName(name: string): boolean {
  return name.includes("/") && !name.startsWith("kubernetes.io/") && !name.startsWith("requests.");
}
