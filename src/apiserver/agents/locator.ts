// Which agent serves a node: the Running and Ready agent pod scheduled
// there, from an informer over the agent pods (namespace and label selector
// from flags).
import { isIPv6 } from "node:net";
import type { Pod } from "../../kube/types.ts";

export interface AgentEndpoint {
  node: string;
  /** namespace/name of the agent pod. */
  pod: string;
  /** https://IP:port */
  url: string;
}

export type AgentLookup = { agent: AgentEndpoint } | { problem: string };

export interface AgentLocator {
  agentOn(nodeName: string): AgentLookup;
}

const isReady = (pod: Pod): boolean => pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

export function agentPodProblem(pod: Pod): string | undefined {
  if (pod.metadata?.deletionTimestamp) return "is terminating";
  if (pod.status?.phase !== "Running") return `is ${pod.status?.phase ?? "not running"}`;
  if (!isReady(pod)) return "is not Ready";
  if (!pod.status?.podIP) return "has no pod IP";
  return undefined;
}

export class InformerAgentLocator implements AgentLocator {
  constructor(
    private readonly agentPods: { list(): Pod[]; readonly synced: boolean },
    private readonly port: number,
    /** "pods matching app=x in namespace y", for messages. */
    private readonly description: string,
  ) {}

  agentOn(nodeName: string): AgentLookup {
    if (!this.agentPods.synced) return { problem: `the list of device-mounter agents is not loaded yet (${this.description}); retry shortly` };
    const onNode = this.agentPods
      .list()
      .filter((p) => p.spec?.nodeName === nodeName)
      // The newest first: during a rolling update the replacement is the one to use.
      .sort((a, b) => (b.metadata?.creationTimestamp ?? "").localeCompare(a.metadata?.creationTimestamp ?? ""));
    const ready = onNode.find((p) => agentPodProblem(p) === undefined);
    if (ready) {
      const ip = ready.status!.podIP!;
      return {
        agent: {
          node: nodeName,
          pod: `${ready.metadata?.namespace ?? ""}/${ready.metadata?.name ?? ""}`,
          url: `https://${isIPv6(ip) ? `[${ip}]` : ip}:${this.port}`,
        },
      };
    }
    if (onNode.length === 0) return { problem: `no device-mounter agent runs on node "${nodeName}" (looked for ${this.description})` };
    const why = onNode.map((p) => `${p.metadata?.name ?? "?"} ${agentPodProblem(p)}`).join(", ");
    return { problem: `no ready device-mounter agent on node "${nodeName}": ${why}` };
  }
}
