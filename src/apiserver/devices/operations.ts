// Mount and unmount as the apiserver performs them: find the target pod and
// its node, find the ready agent there, and call it with a deadline carried
// from wait_second. One operation per target container at a time in this
// process; the agent serialises across replicas.
import type { AgentMountRequest, AgentUnmountRequest } from "../../api/agent.ts";
import { GROUP_VERSION, type MountBody, type MountParameters, type MountResult, type UnmountParameters, type UnmountResult } from "../../api/public.ts";
import { StatusError } from "../../api/status.ts";
import type { AgentCaller } from "../agents/caller.ts";
import type { AgentEndpoint, AgentLocator } from "../agents/locator.ts";
import type { UserInfo } from "../../api/user.ts";
import type { PodReader } from "../kube/client.ts";
import type { Pod } from "../../kube/types.ts";
import type { ApiserverMetrics } from "../observability/metrics.ts";

export interface PodTarget {
  namespace: string;
  name: string;
}

export interface DeviceOperationsOptions {
  pods: PodReader;
  agents: AgentLocator;
  caller: AgentCaller;
  metrics: ApiserverMetrics;
  /** Added to wait_second for the whole agent call, so that the agent's own timeout (and its rollback) comes first. */
  deadlineMarginMs: number;
}

type Operation = "mount" | "unmount";

export class DeviceOperations {
  private readonly running = new Map<string, Operation>();

  constructor(private readonly options: DeviceOperationsOptions) {}

  async mount(target: PodTarget, params: MountParameters, body: MountBody, user: UserInfo, signal: AbortSignal): Promise<MountResult> {
    return this.exclusive("mount", target, params, async () => {
      const pod = await this.scheduledPod(target, signal, true);
      const agent = this.agentFor(pod.spec!.nodeName!);
      const request: AgentMountRequest = {
        namespace: target.namespace,
        pod: target.name,
        podUid: pod.metadata?.uid ?? "",
        ...(params.container ? { container: params.container } : {}),
        deviceType: params.deviceType,
        resources: body.resources,
        annotations: body.annotations,
        labels: body.labels,
        patches: body.patches,
        timeoutSeconds: params.waitSeconds,
        user: user.username,
      };
      const { kind: _, ...result } = await this.callAgent("mount", agent, target, params.waitSeconds, signal, (s) => this.options.caller.mount(agent, request, s));
      return { kind: "MountResult", apiVersion: GROUP_VERSION, ...result };
    });
  }

  async unmount(target: PodTarget, params: UnmountParameters, user: UserInfo, signal: AbortSignal): Promise<UnmountResult> {
    return this.exclusive("unmount", target, params, async () => {
      const pod = await this.scheduledPod(target, signal, false);
      const agent = this.agentFor(pod.spec!.nodeName!);
      const request: AgentUnmountRequest = {
        namespace: target.namespace,
        pod: target.name,
        podUid: pod.metadata?.uid ?? "",
        ...(params.container ? { container: params.container } : {}),
        deviceType: params.deviceType,
        force: params.force,
        timeoutSeconds: params.waitSeconds,
        user: user.username,
      };
      const { kind: _, ...result } = await this.callAgent("unmount", agent, target, params.waitSeconds, signal, (s) => this.options.caller.unmount(agent, request, s));
      return { kind: "UnmountResult", apiVersion: GROUP_VERSION, ...result };
    });
  }

  private async exclusive<T>(operation: Operation, target: PodTarget, params: MountParameters, work: () => Promise<T>): Promise<T> {
    const key = JSON.stringify([target.namespace, target.name, params.container ?? ""]);
    const current = this.running.get(key);
    if (current) {
      const container = params.container ? `container "${params.container}"` : "the default container";
      throw new StatusError("Conflict", `a ${current} is already running for ${container} of pod ${target.namespace}/${target.name}; retry the ${operation} when it has finished`, {
        name: target.name,
        kind: "pods",
      });
    }
    this.running.set(key, operation);
    try {
      return await work();
    } finally {
      this.running.delete(key);
    }
  }

  private async scheduledPod(target: PodTarget, signal: AbortSignal, mounting: boolean): Promise<Pod> {
    const pod = await this.options.pods.getPod(target.namespace, target.name, signal);
    const ref = `pod ${target.namespace}/${target.name}`;
    if (!pod) throw new StatusError("NotFound", `pods "${target.name}" not found in namespace "${target.namespace}"`, { name: target.name, kind: "pods" });
    if (!pod.spec?.nodeName) throw new StatusError("Conflict", `${ref} is not scheduled to a node yet; mount devices once it runs`, { name: target.name, kind: "pods" });
    if (mounting && pod.metadata?.deletionTimestamp) throw new StatusError("Conflict", `${ref} is terminating`, { name: target.name, kind: "pods" });
    if (mounting && (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed")) {
      throw new StatusError("Conflict", `${ref} has finished (phase ${pod.status.phase}); devices can only be mounted into running pods`, { name: target.name, kind: "pods" });
    }
    return pod;
  }

  private agentFor(nodeName: string): AgentEndpoint {
    const lookup = this.options.agents.agentOn(nodeName);
    if ("problem" in lookup) throw new StatusError("ServiceUnavailable", lookup.problem);
    return lookup.agent;
  }

  private async callAgent<T>(operation: Operation, agent: AgentEndpoint, target: PodTarget, waitSeconds: number, requestSignal: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { metrics, deadlineMarginMs } = this.options;
    const deadlineMs = waitSeconds * 1000 + deadlineMarginMs;
    const deadline = AbortSignal.timeout(deadlineMs);
    const started = performance.now();
    let code = 0;
    try {
      const result = await call(AbortSignal.any([requestSignal, deadline]));
      code = 200;
      return result;
    } catch (e) {
      if (e instanceof StatusError) {
        code = e.code;
        throw e;
      }
      if (deadline.aborted) {
        code = 504;
        throw new StatusError(
          "Timeout",
          `the agent on node "${agent.node}" did not finish the ${operation} for pod ${target.namespace}/${target.name} within ${deadlineMs % 1000 === 0 ? `${deadlineMs / 1000}s` : `${deadlineMs}ms`} (wait_second=${waitSeconds}); raise wait_second if the devices take longer to become available`,
        );
      }
      if (requestSignal.aborted) throw new StatusError("Timeout", `the ${operation} request was cancelled by the caller`);
      throw new StatusError("ServiceUnavailable", (e as Error).message);
    } finally {
      metrics.agentCalls.inc({ operation, code: String(code) });
      metrics.agentCallDuration.observe({ operation }, (performance.now() - started) / 1000);
    }
  }
}
