// kube-scheduler stand-in: watches pods and nodes over the API, schedules pods that name
// this scheduler (pods naming another one stay Pending, as on a cluster without it) one
// at a time, binds through pods/binding, and marks pods that fit nowhere with
// PodScheduled=False/Unschedulable and the real FitError text. Unschedulable pods are
// retried when a pod goes away or finishes, or when a node changes.
import type { KubeConfig, V1Node, V1Pod, V1PodCondition } from "@kubernetes/client-node";
import {
  apiErrorCode,
  describeApiError,
  makeCoreApi,
  recordPodEvent,
  startInformer,
  updatePodStatus,
  type Informer,
} from "./api.ts";
import {
  DEFAULT_SCHEDULER_NAME,
  filterNode,
  leastAllocatedScore,
  unschedulableMessage,
  type FilterFailure,
  type NodeState,
} from "./scheduling.ts";

export interface SchedulerOptions {
  kubeConfig: KubeConfig;
  schedulerName?: string;
  /** Where problems the scheduler cannot report on a pod go; default console.error. */
  log?: (message: string) => void;
}

export interface Scheduler {
  stop(): Promise<void>;
}

const NO_NODES_MESSAGE = "no nodes available to schedule pods";

export function isTerminal(pod: V1Pod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

export async function startScheduler(options: SchedulerOptions): Promise<Scheduler> {
  const schedulerName = options.schedulerName ?? DEFAULT_SCHEDULER_NAME;
  const log = options.log ?? ((message: string) => console.error(`[scheduler] ${message}`));
  const core = makeCoreApi(options.kubeConfig);
  const source = { component: schedulerName };

  const activeQueue = new Set<string>();
  const unschedulable = new Set<string>();
  /** Pods bound by us whose binding the informer has not shown yet: uid → node. */
  const assumed = new Map<string, { node: string; pod: V1Pod }>();
  let stopped = false;
  let draining: Promise<void> | undefined;

  const keyOf = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const wantsUs = (pod: V1Pod) =>
    !pod.spec?.nodeName &&
    !pod.metadata?.deletionTimestamp &&
    !isTerminal(pod) &&
    (pod.spec?.schedulerName ?? DEFAULT_SCHEDULER_NAME) === schedulerName;

  const retryUnschedulable = () => {
    for (const key of unschedulable) activeQueue.add(key);
    unschedulable.clear();
    kick();
  };

  const onPodSeen = (pod: V1Pod) => {
    const uid = pod.metadata?.uid ?? "";
    if (pod.spec?.nodeName || isTerminal(pod)) assumed.delete(uid);
    if (isTerminal(pod)) retryUnschedulable();
    if (wantsUs(pod) && !unschedulable.has(keyOf(pod))) {
      activeQueue.add(keyOf(pod));
      kick();
    }
  };

  // Heartbeats rewrite node status every few seconds; only what filters look at
  // (as the real scheduler's queueing hints) makes unschedulable pods worth a retry.
  const nodeSignatures = new Map<string, string>();
  const onNodeSeen = (node: V1Node) => {
    const signature = JSON.stringify([node.metadata?.labels, node.spec?.taints, node.spec?.unschedulable, node.status?.allocatable]);
    if (nodeSignatures.get(node.metadata?.name ?? "") === signature) return;
    nodeSignatures.set(node.metadata?.name ?? "", signature);
    retryUnschedulable();
  };

  const pods: Informer<V1Pod> = await startInformer<V1Pod>(
    options.kubeConfig,
    "/api/v1/pods",
    () => core.listPodForAllNamespaces(),
    {
      add: onPodSeen,
      update: onPodSeen,
      delete(pod) {
        assumed.delete(pod.metadata?.uid ?? "");
        activeQueue.delete(keyOf(pod));
        unschedulable.delete(keyOf(pod));
        retryUnschedulable();
      },
    },
    { onError: (error) => log(`pod watch failed, restarting: ${describeApiError(error)}`) },
  );
  const nodes: Informer<V1Node> = await startInformer<V1Node>(
    options.kubeConfig,
    "/api/v1/nodes",
    () => core.listNode(),
    { add: onNodeSeen, update: onNodeSeen, delete: retryUnschedulable },
    { onError: (error) => log(`node watch failed, restarting: ${describeApiError(error)}`) },
  );

  function kick(): void {
    if (stopped || draining) return;
    // Started on a later tick so `draining` is set before the loop can finish and clear it.
    draining = Promise.resolve().then(drain);
  }

  async function drain(): Promise<void> {
    try {
      while (!stopped && activeQueue.size > 0) {
        const key = activeQueue.values().next().value as string;
        activeQueue.delete(key);
        const [namespace = "", name = ""] = key.split("/");
        const pod = pods.get(name, namespace);
        if (!pod || !wantsUs(pod) || assumed.has(pod.metadata?.uid ?? "")) continue;
        try {
          await scheduleOne(pod);
        } catch (error) {
          log(`scheduling ${key} failed: ${describeApiError(error)}`);
          unschedulable.add(key);
        }
      }
    } finally {
      draining = undefined;
      if (!stopped && activeQueue.size > 0) kick();
    }
  }

  function nodeStates(pod: V1Pod): NodeState[] {
    const byNode = new Map<string, V1Pod[]>();
    for (const other of pods.list()) {
      const node = other.spec?.nodeName;
      if (!node || isTerminal(other) || other.metadata?.uid === pod.metadata?.uid) continue;
      byNode.set(node, [...(byNode.get(node) ?? []), other]);
    }
    for (const { node, pod: assumedPod } of assumed.values()) byNode.set(node, [...(byNode.get(node) ?? []), assumedPod]);
    return nodes.list().map((node) => ({ node, pods: byNode.get(node.metadata?.name ?? "") ?? [] }));
  }

  async function scheduleOne(pod: V1Pod): Promise<void> {
    const states = nodeStates(pod);
    const failures: FilterFailure[] = [];
    const feasible: NodeState[] = [];
    for (const state of states) {
      const failure = filterNode(pod, state);
      if (failure) failures.push(failure);
      else feasible.push(state);
    }
    if (feasible.length === 0) {
      const message = states.length === 0 ? NO_NODES_MESSAGE : unschedulableMessage(pod, failures);
      await markUnschedulable(pod, message);
      return;
    }
    const scored = feasible.map((state) => ({ state, score: leastAllocatedScore(pod, state) }));
    const best = Math.max(...scored.map(({ score }) => score));
    // Ties are broken at random, as kube-scheduler's selectHost does.
    const candidates = scored.filter(({ score }) => score === best);
    const chosen = candidates[Math.floor(Math.random() * candidates.length)]?.state.node.metadata?.name ?? "";
    await bind(pod, chosen);
  }

  async function bind(pod: V1Pod, nodeName: string): Promise<void> {
    const namespace = pod.metadata?.namespace ?? "default";
    const name = pod.metadata?.name ?? "";
    const uid = pod.metadata?.uid ?? "";
    assumed.set(uid, { node: nodeName, pod });
    try {
      await core.createNamespacedPodBinding({
        name,
        namespace,
        body: {
          apiVersion: "v1",
          kind: "Binding",
          metadata: { name, namespace, uid },
          target: { apiVersion: "v1", kind: "Node", name: nodeName },
        },
      });
    } catch (error) {
      assumed.delete(uid);
      // Gone, or bound by someone else meanwhile: nothing left to schedule.
      if (apiErrorCode(error) === 404 || apiErrorCode(error) === 409) return;
      throw new Error(`binding pod ${namespace}/${name} to ${nodeName}: ${describeApiError(error)}`);
    }
    await recordPodEvent(core, source, pod, "Normal", "Scheduled", `Successfully assigned ${namespace}/${name} to ${nodeName}`);
  }

  async function markUnschedulable(pod: V1Pod, message: string): Promise<void> {
    unschedulable.add(keyOf(pod));
    const namespace = pod.metadata?.namespace ?? "default";
    const name = pod.metadata?.name ?? "";
    const updated = await updatePodStatus(core, namespace, name, pod.metadata?.uid ?? "", (latest) => {
      if (latest.spec?.nodeName) return false;
      const status = (latest.status ??= {});
      const conditions = (status.conditions ??= []);
      const existing = conditions.find((condition) => condition.type === "PodScheduled");
      if (existing?.status === "False" && existing.reason === "Unschedulable" && existing.message === message) return false;
      const condition: V1PodCondition = {
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message,
        lastProbeTime: null as unknown as Date,
        lastTransitionTime: existing?.status === "False" && existing.lastTransitionTime ? existing.lastTransitionTime : new Date(),
      };
      status.conditions = [...conditions.filter((other) => other !== existing), condition];
      status.phase ??= "Pending";
      return true;
    });
    if (updated) await recordPodEvent(core, source, pod, "Warning", "FailedScheduling", message);
  }

  for (const pod of pods.list()) onPodSeen(pod);
  return {
    async stop() {
      stopped = true;
      await Promise.all([pods.stop(), nodes.stop()]);
      await draining;
    },
  };
}
