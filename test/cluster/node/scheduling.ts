// The default scheduler's filter plugins and its failure message, as pure functions:
// NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector + required affinity)
// and NodeResourcesFit, each with the reason text kube-scheduler prints. Like the real
// framework, a node is judged by the first plugin that rejects it.
import type { V1Node, V1NodeSelectorRequirement, V1NodeSelectorTerm, V1Pod, V1Taint, V1Toleration } from "@kubernetes/client-node";
import { canonicalAmount, podRequests, type ResourceList } from "./resources.ts";

export const DEFAULT_SCHEDULER_NAME = "default-scheduler";

/**
 * "Unschedulable" failures might be fixed by preempting pods; "UnschedulableAndUnresolvable"
 * ones (affinity, taints, cordon) cannot, which changes the preemption half of the message.
 */
export interface FilterFailure {
  reasons: string[];
  resolvableByPreemption: boolean;
}

export interface NodeState {
  node: V1Node;
  /** Non-terminal pods bound (or assumed) to the node. */
  pods: readonly V1Pod[];
}

export function filterNode(pod: V1Pod, state: NodeState): FilterFailure | undefined {
  return (
    nodeUnschedulable(pod, state.node) ??
    taintToleration(pod, state.node) ??
    nodeAffinityFailure(pod, state.node) ??
    resourcesFit(pod, state)
  );
}

function nodeUnschedulable(pod: V1Pod, node: V1Node): FilterFailure | undefined {
  if (!node.spec?.unschedulable) return undefined;
  const tolerated = (pod.spec?.tolerations ?? []).some((toleration) =>
    tolerates(toleration, { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }),
  );
  return tolerated ? undefined : { reasons: ["node(s) were unschedulable"], resolvableByPreemption: false };
}

function taintToleration(pod: V1Pod, node: V1Node): FilterFailure | undefined {
  const untolerated = (node.spec?.taints ?? []).find(
    (taint) =>
      (taint.effect === "NoSchedule" || taint.effect === "NoExecute") &&
      !(pod.spec?.tolerations ?? []).some((toleration) => tolerates(toleration, taint)),
  );
  if (!untolerated) return undefined;
  return {
    reasons: [`node(s) had untolerated taint {${untolerated.key}: ${untolerated.value ?? ""}}`],
    resolvableByPreemption: false,
  };
}

export function tolerates(toleration: V1Toleration, taint: V1Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  const operator = toleration.operator ?? "Equal";
  // An empty key with Exists tolerates every taint; an empty key otherwise matches nothing.
  if (operator === "Exists") return true;
  if (!toleration.key) return false;
  return (toleration.value ?? "") === (taint.value ?? "");
}

export function nodeAffinityFailure(pod: V1Pod, node: V1Node): FilterFailure | undefined {
  const labels = node.metadata?.labels ?? {};
  const selectorMatches = Object.entries(pod.spec?.nodeSelector ?? {}).every(([key, value]) => labels[key] === value);
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  const affinityMatches = !required || required.nodeSelectorTerms.some((term) => termMatches(term, node));
  if (selectorMatches && affinityMatches) return undefined;
  return { reasons: ["node(s) didn't match Pod's node affinity/selector"], resolvableByPreemption: false };
}

/** Requirements of a term are ANDed; a term without any requirement matches no node. */
function termMatches(term: V1NodeSelectorTerm, node: V1Node): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return false;
  const labels = node.metadata?.labels ?? {};
  return (
    expressions.every((requirement) => requirementMatches(requirement, labels[requirement.key])) &&
    fields.every(
      (requirement) => requirement.key === "metadata.name" && requirementMatches(requirement, node.metadata?.name),
    )
  );
}

function requirementMatches(requirement: V1NodeSelectorRequirement, value: string | undefined): boolean {
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case "In":
      return value !== undefined && values.includes(value);
    case "NotIn":
      return value === undefined || !values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt": {
      if (value === undefined || values.length !== 1 || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(values[0] ?? "")) {
        return false;
      }
      const difference = Number(value) - Number(values[0]);
      return requirement.operator === "Gt" ? difference > 0 : difference < 0;
    }
    default:
      return false;
  }
}

function resourcesFit(pod: V1Pod, state: NodeState): FilterFailure | undefined {
  const allocatable = allocatableOf(state.node);
  const reasons: string[] = [];
  if (state.pods.length + 1 > (allocatable.get("pods") ?? 0)) reasons.push("Too many pods");
  const requested = requestedOn(state.pods);
  for (const [resource, amount] of podRequests(pod)) {
    if (amount <= 0 || resource === "pods") continue;
    const free = (allocatable.get(resource) ?? 0) - (requested.get(resource) ?? 0);
    if (amount > free) reasons.push(`Insufficient ${resource}`);
  }
  return reasons.length > 0 ? { reasons, resolvableByPreemption: true } : undefined;
}

export function allocatableOf(node: V1Node): ResourceList {
  const list: ResourceList = new Map();
  for (const [name, quantity] of Object.entries(node.status?.allocatable ?? {})) {
    list.set(name, canonicalAmount(name, quantity));
  }
  return list;
}

export function requestedOn(pods: readonly V1Pod[]): ResourceList {
  const total: ResourceList = new Map();
  for (const pod of pods) {
    for (const [name, amount] of podRequests(pod)) total.set(name, (total.get(name) ?? 0) + amount);
  }
  return total;
}

/** Least-allocated score on cpu and memory (what NodeResourcesFit scores by default), 0..100. */
export function leastAllocatedScore(pod: V1Pod, state: NodeState): number {
  const allocatable = allocatableOf(state.node);
  const requested = requestedOn([...state.pods, pod]);
  const scores = ["cpu", "memory"].map((resource) => {
    const capacity = allocatable.get(resource) ?? 0;
    if (capacity === 0) return 0;
    return (Math.max(0, capacity - (requested.get(resource) ?? 0)) * 100) / capacity;
  });
  return scores.reduce((sum, score) => sum + score, 0) / scores.length;
}

/**
 * The FitError text: "0/N nodes are available: <count> <reason>, ... preemption: 0/N
 * nodes are available: <count> <preemption verdict>." Reason histograms are sorted as
 * strings, as the scheduler sorts them.
 */
export function unschedulableMessage(pod: V1Pod, failures: readonly FilterFailure[]): string {
  const total = failures.length;
  const reasons = new Map<string, number>();
  for (const failure of failures) for (const reason of failure.reasons) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  let message = `0/${total} nodes are available:`;
  const histogram = histogramText(reasons);
  if (histogram) message += ` ${histogram}.`;
  if (pod.spec?.preemptionPolicy === "Never") return `${message} preemption: not eligible due to preemptionPolicy=Never.`;
  const verdicts = new Map<string, number>();
  for (const failure of failures) {
    // No pod has a lower priority than another here (no PriorityClasses are served), so
    // preemption can never find victims.
    const verdict = failure.resolvableByPreemption
      ? "No preemption victims found for incoming pod"
      : "Preemption is not helpful for scheduling";
    verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
  }
  return `${message} preemption: 0/${total} nodes are available: ${histogramText(verdicts)}.`;
}

function histogramText(counts: ReadonlyMap<string, number>): string {
  return [...counts]
    .map(([reason, count]) => `${count} ${reason}`)
    .sort()
    .join(", ");
}
