// Calls an agent's internal API (../../api/agent.ts) over HTTPS with the
// apiserver's own credentials. Agent errors arrive as Status bodies and are
// rethrown with their code and reason unchanged.
import { readFile } from "node:fs/promises";
import * as v from "valibot";
import { AGENT_MOUNT_PATH, AGENT_UNMOUNT_PATH, type AgentMountRequest, type AgentMountResponse, type AgentUnmountRequest, type AgentUnmountResponse } from "../../api/agent.ts";
import { StatusError, type Status } from "../../api/status.ts";
import type { AgentEndpoint } from "./locator.ts";

export interface AgentCaller {
  mount(agent: AgentEndpoint, request: AgentMountRequest, signal: AbortSignal): Promise<AgentMountResponse>;
  unmount(agent: AgentEndpoint, request: AgentUnmountRequest, signal: AbortSignal): Promise<AgentUnmountResponse>;
}

/** The agent gave no HTTP answer: connection refused, TLS verification failed, connection dropped. */
export class AgentUnreachableError extends Error {
  override readonly name = "AgentUnreachableError";
}

export interface HttpsAgentCallerOptions {
  /** The bearer token sent to agents (re-read per call: projected tokens rotate). */
  token: () => Promise<string>;
  /** PEM CA bundle that signs agent serving certificates; undefined skips verification (development only). */
  ca?: string;
  /** Name expected in agent serving certificates (they are reached by pod IP). */
  serverName?: string;
}

const MountResponseShape = v.looseObject({ kind: v.literal("MountResult"), container: v.string(), devices: v.array(v.unknown()), slavePods: v.array(v.string()), message: v.string() });
const UnmountResponseShape = v.looseObject({ kind: v.literal("UnmountResult"), container: v.string(), devices: v.array(v.unknown()), slavePods: v.array(v.string()), message: v.string() });

export const tokenFromFile = (path: string) => async (): Promise<string> => (await readFile(path, "utf8")).trim();

export class HttpsAgentCaller implements AgentCaller {
  constructor(private readonly options: HttpsAgentCallerOptions) {}

  mount(agent: AgentEndpoint, request: AgentMountRequest, signal: AbortSignal): Promise<AgentMountResponse> {
    return this.post(agent, AGENT_MOUNT_PATH, request, signal, MountResponseShape) as Promise<AgentMountResponse>;
  }

  unmount(agent: AgentEndpoint, request: AgentUnmountRequest, signal: AbortSignal): Promise<AgentUnmountResponse> {
    return this.post(agent, AGENT_UNMOUNT_PATH, request, signal, UnmountResponseShape) as Promise<AgentUnmountResponse>;
  }

  private async post(agent: AgentEndpoint, path: string, body: unknown, signal: AbortSignal, shape: v.GenericSchema): Promise<unknown> {
    const where = `agent ${agent.pod} on node "${agent.node}" (${agent.url})`;
    let token: string;
    try {
      token = await this.options.token();
    } catch (e) {
      throw new StatusError("InternalError", `the apiserver has no credentials for calling agents: ${(e as Error).message}`);
    }
    let response: Response;
    try {
      response = await fetch(`${agent.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
        signal,
        tls: this.options.ca ? { ca: this.options.ca, ...(this.options.serverName ? { serverName: this.options.serverName } : {}) } : { rejectUnauthorized: false },
      });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new AgentUnreachableError(`${where} could not be reached: ${(e as Error).message}`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new AgentUnreachableError(`${where} stopped answering: ${(e as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      if (parsed && typeof parsed === "object" && (parsed as Partial<Status>).kind === "Status") throw StatusError.fromStatus(parsed as Partial<Status>, response.status);
      throw StatusError.fromStatus({ message: `${where} answered HTTP ${response.status}: ${text.slice(0, 200)}` }, response.status);
    }
    if (!v.is(shape, parsed)) throw new StatusError("InternalError", `${where} answered HTTP ${response.status} with an unexpected body: ${text.slice(0, 200)}`);
    return parsed;
  }
}
