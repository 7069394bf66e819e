// Completion: validated options → everything the server needs to run
// (kube connection, serving certificate, agent credentials, front-proxy
// settings from flags). Every problem found on the way is reported at once.
import { existsSync, readFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { UsageError } from "../cli/errors.ts";
import type { AppSettings } from "./app.ts";
import { tokenFromFile } from "./agents/caller.ts";
import type { RequestHeaderConfig } from "./auth/front-proxy.ts";
import { requestHeaderConfigFromFlags } from "./auth/request-header-config.ts";
import { loadKubeConfig } from "../kube/transport.ts";
import { DEFAULT_AGENT_TOKEN_FILE, type ApiserverOptions } from "./options.ts";
import { readCertificatePair } from "../tls/certificates.ts";
import { FILE_RELOAD_INTERVAL_MS } from "../tls/file-poller.ts";
import { selfSignedCertificate, type CertificatePair } from "../tls/self-signed.ts";

/** Added to wait_second so that the agent's own timeout, and its rollback, come before ours. */
export const AGENT_DEADLINE_MARGIN_MS = 5_000;
/** How often certificate and CA files are re-read. */
/** How often the self-managed certificate's Secret and APIService are checked; a failed check is retried sooner. */
export const CERTIFICATE_SYNC_INTERVAL_MS = 10 * 60_000;
export const CERTIFICATE_SYNC_RETRY_MS = 5_000;

export interface CompletedConfig extends AppSettings {
  options: ApiserverOptions;
  kubeConfig: KubeConfig;
  servingCertificate: CertificatePair;
  /** Where the serving certificate comes from, for the startup log (self-managed: a temporary self-signed one until the Secret's is synced). */
  servingCertificateSource: "files" | "self-signed" | "self-managed";
  agentToken: () => Promise<string>;
  agentCa?: string;
  requestHeaderFromFlags?: RequestHeaderConfig;
  fileReloadIntervalMs: number;
  certificateSyncIntervalMs: number;
  certificateSyncRetryMs: number;
  /** How long shutdown waits for running requests: the longest a mount may take. */
  shutdownDrainMs: number;
}

/** The kubeconfig user's bearer token, for agents when the apiserver runs outside a pod. */
async function kubeconfigToken(kc: KubeConfig): Promise<string> {
  const options: RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const authorization = String((options.headers as Record<string, unknown> | undefined)?.Authorization ?? "");
  const match = /^Bearer\s+(\S+)$/.exec(authorization);
  if (!match) throw new Error(`${DEFAULT_AGENT_TOKEN_FILE} does not exist and the kubeconfig user has no bearer token: pass --agent-token-file`);
  return match[1]!;
}

export async function completeApiserverConfig(options: ApiserverOptions): Promise<CompletedConfig> {
  const problems: string[] = [];
  const attempt = <T>(work: () => T): T | undefined => {
    try {
      return work();
    } catch (e) {
      problems.push((e as Error).message);
      return undefined;
    }
  };

  const kubeConfig = attempt(() => loadKubeConfig({ ...(options.kubeconfig ? { file: options.kubeconfig } : {}), allowDefaultFiles: false }));
  const servingCertificate =
    options.tlsCertFile && options.tlsPrivateKeyFile
      ? attempt(() => readCertificatePair(options.tlsCertFile!, options.tlsPrivateKeyFile!))
      : selfSignedCertificate(["localhost", "127.0.0.1", ...(options.bindAddress === "0.0.0.0" || options.bindAddress === "::" ? [] : [options.bindAddress])]);
  const agentCa = options.agentCaFile ? attempt(() => readFileSync(options.agentCaFile!, "utf8")) : undefined;
  const requestHeaderFromFlags = options.requestHeader ? attempt(() => requestHeaderConfigFromFlags(options.requestHeader!, readFileSync(options.requestHeader!.clientCAFile, "utf8"))) : undefined;
  if (problems.length || !kubeConfig || !servingCertificate) throw new UsageError(`cannot start the apiserver:\n  - ${problems.join("\n  - ")}`);

  const agentToken = existsSync(options.agentTokenFile) ? tokenFromFile(options.agentTokenFile) : () => kubeconfigToken(kubeConfig);
  return {
    options,
    kubeConfig,
    servingCertificate,
    servingCertificateSource: options.tlsCertFile ? "files" : options.selfManagedCertificate ? "self-managed" : "self-signed",
    agentToken,
    ...(agentCa ? { agentCa } : {}),
    ...(requestHeaderFromFlags ? { requestHeaderFromFlags } : {}),
    maxWaitSeconds: options.maxWaitSeconds,
    maxBodyBytes: options.maxBodyBytes,
    agentDeadlineMarginMs: AGENT_DEADLINE_MARGIN_MS,
    fileReloadIntervalMs: FILE_RELOAD_INTERVAL_MS,
    certificateSyncIntervalMs: CERTIFICATE_SYNC_INTERVAL_MS,
    certificateSyncRetryMs: CERTIFICATE_SYNC_RETRY_MS,
    shutdownDrainMs: options.maxWaitSeconds * 1000 + AGENT_DEADLINE_MARGIN_MS + 5_000,
  };
}
