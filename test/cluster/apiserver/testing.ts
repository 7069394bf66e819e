// Test harness for the API server stand-in: a started server, client-node clients, raw
// HTTP requests and the real kubectl binary, all cleaned up by stop().
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { startApiServer, type ApiServerHandle, type ApiServerOptions, type KubeconfigUser } from "./index.ts";

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown> | undefined;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** Bearer token; the admin token by default, null for none. */
  token?: string | null;
}

export interface KubectlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface WatchEvent {
  type: string;
  object: Record<string, unknown> & { metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string } };
}

export interface TestServer {
  server: ApiServerHandle;
  dir: string;
  /** client-node config for `user` (admin by default), over plain HTTP (see KubeconfigOptions.http). */
  clientConfig(user?: KubeconfigUser): KubeConfig;
  core: CoreV1Api;
  request(method: string, path: string, options?: RequestOptions): Promise<HttpResult>;
  kubectl(args: string[], options?: { stdin?: string; user?: KubeconfigUser }): Promise<KubectlResult>;
  /**
   * Watches `collectionPath` from `resourceVersion` until `match` accepts an event (which
   * is returned); fails after `timeoutMs`.
   */
  waitForEvent(collectionPath: string, resourceVersion: string, match: (event: WatchEvent) => boolean, timeoutMs?: number): Promise<WatchEvent>;
  /** Starts kubectl without waiting; the caller reads stdout and must kill it. */
  spawnKubectl(args: string[]): Bun.Subprocess<"ignore", "pipe", "pipe">;
  stop(): Promise<void>;
}

export function kubectlBinary(): string {
  const path = Bun.which("kubectl");
  if (!path) throw new Error("kubectl is not on PATH: the API server tests need the real kubectl binary");
  return path;
}

export async function startTestServer(options: ApiServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "dm-test-apiserver-"));
  const children = new Set<Bun.Subprocess>();
  let server: ApiServerHandle;
  try {
    server = await startApiServer(options);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const adminKubeconfig = join(dir, "kubeconfig");
  server.writeKubeconfig(adminKubeconfig);
  let kubeconfigCount = 0;
  const kubectlEnv = { ...process.env, HOME: dir, KUBECONFIG: adminKubeconfig };

  const clientConfig = (user?: KubeconfigUser) => {
    const config = new KubeConfig();
    config.loadFromString(server.kubeconfig(user, { http: true }));
    return config;
  };

  const kubectlArgs = (args: string[], kubeconfigPath: string) => [kubectlBinary(), "--kubeconfig", kubeconfigPath, "--cache-dir", join(dir, "cache"), ...args];

  return {
    server,
    dir,
    clientConfig,
    core: clientConfig().makeApiClient(CoreV1Api),
    async request(method, path, opts = {}) {
      const headers = new Headers();
      const token = opts.token === undefined ? server.adminToken : opts.token;
      if (token !== null) headers.set("Authorization", `Bearer ${token}`);
      if (opts.accept) headers.set("Accept", opts.accept);
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
        headers.set("Content-Type", opts.contentType ?? "application/json");
      }
      const response = await fetch(`${server.httpUrl}${path}`, { method, headers, body });
      const text = await response.text();
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      return { status: response.status, headers: response.headers, text, json };
    },
    async kubectl(args, opts = {}) {
      let path = adminKubeconfig;
      if (opts.user !== undefined) {
        path = join(dir, `kubeconfig-${++kubeconfigCount}`);
        server.writeKubeconfig(path, opts.user);
      }
      const child = Bun.spawn(kubectlArgs(args, path), {
        stdin: opts.stdin === undefined ? "ignore" : Buffer.from(opts.stdin),
        stdout: "pipe",
        stderr: "pipe",
        env: kubectlEnv,
      });
      children.add(child);
      const timer = setTimeout(() => child.kill(), 30_000);
      try {
        const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
        return { exitCode, stdout, stderr };
      } finally {
        clearTimeout(timer);
        children.delete(child);
      }
    },
    async waitForEvent(collectionPath, resourceVersion, match, timeoutMs = 10_000) {
      const controller = new AbortController();
      const separator = collectionPath.includes("?") ? "&" : "?";
      const response = await fetch(`${server.httpUrl}${collectionPath}${separator}watch=1&resourceVersion=${resourceVersion}`, {
        headers: { Authorization: `Bearer ${server.adminToken}` },
        signal: controller.signal,
      });
      if (response.status !== 200 || !response.body) throw new Error(`watch ${collectionPath} answered ${response.status}: ${await response.text()}`);
      try {
        const lines = await readLinesUntil(response.body, (ls) => ls.some((l) => match(JSON.parse(l) as WatchEvent)), timeoutMs);
        const found = lines.map((l) => JSON.parse(l) as WatchEvent).find(match);
        if (!found) throw new Error(`no matching event on ${collectionPath} within ${timeoutMs} ms; saw: ${lines.join(" | ")}`);
        return found;
      } finally {
        controller.abort();
      }
    },
    spawnKubectl(args) {
      const child = Bun.spawn(kubectlArgs(args, adminKubeconfig), { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: kubectlEnv });
      children.add(child);
      void child.exited.then(() => children.delete(child));
      return child;
    },
    async stop() {
      for (const child of children) child.kill();
      await Promise.all([...children].map((c) => c.exited));
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The parsed Status body of a failed client-node call. */
export async function apiFailure(call: Promise<unknown>): Promise<{ code: number; status: Record<string, unknown> }> {
  try {
    await call;
  } catch (e) {
    if (e instanceof ApiException) {
      const body = typeof e.body === "string" ? (JSON.parse(e.body) as Record<string, unknown>) : (e.body as Record<string, unknown>);
      return { code: e.code, status: body };
    }
    throw e;
  }
  throw new Error("expected the API call to fail, but it succeeded");
}

/** Reads a stream line by line until `done` says enough, or the deadline passes. */
export async function readLinesUntil(
  stream: ReadableStream<Uint8Array>,
  done: (lines: string[]) => boolean,
  timeoutMs: number,
): Promise<string[]> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const lines: string[] = [];
  let buffer = "";
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    while (!done(lines)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      lines.push(...parts.filter((l) => l !== ""));
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
  return lines;
}

export function podManifest(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { metadata: { name, ...((extra["metadata"] as object | undefined) ?? {}) }, spec: { containers: [{ name: "main", image: "busybox:1.36" }], ...((extra["spec"] as object | undefined) ?? {}) } };
}
