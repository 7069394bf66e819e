// The cluster CLI: mount and unmount devices through the Kubernetes API
// server, like any other client (kubeconfig rules, the aggregated API
// device-mounter.io/v1alpha1). Also what `kubectl device-mounter` runs.
import { parseArgs } from "node:util";
import * as v from "valibot";
import { devicePath, fieldProblems, MOUNT_SUBRESOURCE, mountQuerySchema, MountBodySchema, UNMOUNT_SUBRESOURCE, unmountQuerySchema, type FieldProblem, type MountRequestBody, type MountResult, type UnmountResult } from "../api/public.ts";
import { StatusError, type Status } from "../api/status.ts";
import { contextNamespace, kubeConnection, loadKubeConfig, type KubeConnection } from "../kube/transport.ts";
import { UsageError } from "./errors.ts";
import { isKubectlPlugin, KUBECTL_PLUGIN_NAME, MOUNT_USAGE, UNMOUNT_USAGE } from "./usage.ts";

export { isKubectlPlugin, KUBECTL_PLUGIN_NAME, MOUNT_USAGE, UNMOUNT_USAGE };

type Out = (line: string) => void;

/** Client time on top of wait_second: the server's own margin plus the trip through the aggregator. */
const CLIENT_MARGIN_SECONDS = 30;

const COMMON_OPTIONS = {
  namespace: { type: "string", short: "n" },
  type: { type: "string" },
  container: { type: "string", short: "c" },
  wait: { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const;

const MOUNT_OPTIONS = {
  ...COMMON_OPTIONS,
  resource: { type: "string", multiple: true },
  label: { type: "string", multiple: true },
  annotation: { type: "string", multiple: true },
  patch: { type: "string", multiple: true },
} as const;

const UNMOUNT_OPTIONS = { ...COMMON_OPTIONS, force: { type: "boolean" } } as const;


function parse<T extends NonNullable<Parameters<typeof parseArgs>[0]>["options"]>(argv: string[], options: T, usage: string) {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    if ((parsed.values as { help?: boolean }).help) return undefined;
    if (parsed.positionals.length !== 1) throw new UsageError(`name exactly one pod${parsed.positionals.length ? ` (got ${parsed.positionals.join(" ")})` : ""}\nUsage: ${usage}`);
    return { values: parsed.values, pod: parsed.positionals[0]! };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${(e as Error).message}\nUsage: ${usage}`);
  }
}

/** KEY=VALUE pairs into a map; a key given twice is a mistake worth saying. */
function pairs(flag: string, items: readonly string[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--${flag} ${JSON.stringify(item)} is not KEY=VALUE`);
    const key = item.slice(0, eq);
    if (key in map) throw new UsageError(`--${flag} ${key} is given twice`);
    map[key] = item.slice(eq + 1);
  }
  return map;
}

/** Each --patch is one JSON operation, or a JSON array of them; the contract sends each operation as a string. */
function patchStrings(items: readonly string[] | undefined): string[] {
  return (items ?? []).flatMap((item) => {
    try {
      const decoded: unknown = JSON.parse(item);
      if (Array.isArray(decoded)) return decoded.map((op) => JSON.stringify(op));
    } catch {
      // Not JSON: the schema check below says so with the patch's position.
    }
    return [item];
  });
}

const FLAG_OF_FIELD: Record<string, string> = {
  device_type: "--type",
  container: "--container",
  wait_second: "--wait",
  force: "--force",
  resources: "--resource",
  labels: "--label",
  annotations: "--annotation",
  patches: "--patch",
};

function usageProblems(problems: FieldProblem[], usage: string): UsageError {
  const lines = problems.map(({ field, message }) => {
    const [root = "", key] = field.split(/\[(.*)\]$/);
    const flag = FLAG_OF_FIELD[root] ?? root;
    const which = key === undefined ? "" : root === "patches" ? ` #${Number(key) + 1}` : ` ${key}`;
    return `${flag}${which}: ${message}`;
  });
  return new UsageError(`${lines.join("\n")}\nUsage: ${usage}`);
}

function queryString(query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(name, value);
  return params.toString();
}

interface Target {
  connection: KubeConnection;
  namespace: string;
  pod: string;
}

function target(values: { kubeconfig?: string; context?: string; namespace?: string }, pod: string): Target {
  const kc = loadKubeConfig({ ...(values.kubeconfig ? { file: values.kubeconfig } : {}), ...(values.context ? { context: values.context } : {}) });
  return { connection: kubeConnection(kc), namespace: values.namespace || contextNamespace(kc), pod };
}

function outputFormat(output: string | undefined): "text" | "json" {
  if (output === undefined || output === "text") return "text";
  if (output === "json") return "json";
  throw new UsageError(`-o ${output}: use text or json`);
}

/** PUTs to the aggregated API; returns the parsed result or throws the server's Status. */
async function put(t: Target, subresource: typeof MOUNT_SUBRESOURCE | typeof UNMOUNT_SUBRESOURCE, query: string, body: unknown, waitSeconds: number): Promise<unknown> {
  const path = `${devicePath(t.namespace, t.pod, subresource)}?${query}`;
  let response: Response;
  try {
    response = await t.connection.request(path, {
      method: "PUT",
      headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout((waitSeconds + CLIENT_MARGIN_SECONDS) * 1000),
    });
  } catch (e) {
    if ((e as Error).name === "TimeoutError") throw new StatusError("Timeout", `no answer from the Kubernetes API at ${t.connection.server} within ${waitSeconds + CLIENT_MARGIN_SECONDS}s`);
    throw new StatusError("ServiceUnavailable", `cannot reach the Kubernetes API at ${t.connection.server}: ${(e as Error).message}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok) return parsed ?? text;
  const status = parsed && typeof parsed === "object" && (parsed as Partial<Status>).kind === "Status" ? (parsed as Partial<Status>) : { message: `HTTP ${response.status} from ${t.connection.server}: ${text.trim().split("\n")[0]?.slice(0, 200) ?? ""}` };
  const error = StatusError.fromStatus(status, response.status);
  // A 404 that is not about the pod means the aggregated API itself is missing.
  if (error.code === 404 && status.details?.kind !== "pods") {
    throw StatusError.fromStatus({ ...status, message: `${error.message} (is device-mounter installed? kubectl get apiservice v1alpha1.device-mounter.io)` }, 404);
  }
  throw error;
}

type DeviceLine = { path: string; type: string; major: number; minor: number; access: string; resource: string; deviceId: string };
const describeDevice = (d: DeviceLine) => `${d.path} (${d.type} ${d.major}:${d.minor} ${d.access}) ${d.resource} ${d.deviceId}`;

function print(result: unknown, format: "text" | "json", out: Out, verb: string): void {
  if (format === "json") return out(JSON.stringify(result, null, 2));
  if (typeof result === "string") return out(result.trim() || verb);
  const r = result as Partial<Pick<MountResult, "message">> & { devices?: DeviceLine[]; killed?: UnmountResult["killed"] };
  out(r.message || verb);
  for (const d of r.devices ?? []) out(`  ${describeDevice(d)}`);
  for (const k of r.killed ?? []) out(`  ended pid ${k.pid} (${k.comm})`);
}

export async function mountCommand(argv: string[], out: Out): Promise<void> {
  const parsed = parse(argv, MOUNT_OPTIONS, MOUNT_USAGE);
  if (!parsed) return out(`Usage: ${MOUNT_USAGE}`);
  const { values, pod } = parsed;
  const format = outputFormat(values.output);
  if (!values.resource?.length) throw new UsageError(`name at least one --resource NAME=QUANTITY (e.g. --resource nvidia.com/gpu=1)\nUsage: ${MOUNT_USAGE}`);
  const rawQuery = { device_type: values.type, container: values.container, wait_second: values.wait };
  const body: MountRequestBody = {
    resources: pairs("resource", values.resource),
    annotations: pairs("annotation", values.annotation),
    labels: pairs("label", values.label),
    patches: patchStrings(values.patch),
  };
  const checkedQuery = v.safeParse(mountQuerySchema(Number.MAX_SAFE_INTEGER), Object.fromEntries(Object.entries(rawQuery).filter(([, x]) => x !== undefined && x !== "")));
  const checkedBody = v.safeParse(MountBodySchema, body);
  const problems = [...(checkedQuery.success ? [] : fieldProblems(checkedQuery.issues)), ...(checkedBody.success ? [] : fieldProblems(checkedBody.issues))];
  if (problems.length || !checkedQuery.success) throw usageProblems(problems, MOUNT_USAGE);
  const result = await put(target(values, pod), MOUNT_SUBRESOURCE, queryString(rawQuery), body, checkedQuery.output.wait_second);
  print(result, format, out, "mounted");
}

export async function unmountCommand(argv: string[], out: Out): Promise<void> {
  const parsed = parse(argv, UNMOUNT_OPTIONS, UNMOUNT_USAGE);
  if (!parsed) return out(`Usage: ${UNMOUNT_USAGE}`);
  const { values, pod } = parsed;
  const format = outputFormat(values.output);
  const rawQuery = { device_type: values.type, container: values.container, wait_second: values.wait, force: values.force ? "1" : undefined };
  const checked = v.safeParse(unmountQuerySchema(Number.MAX_SAFE_INTEGER), Object.fromEntries(Object.entries(rawQuery).filter(([, x]) => x !== undefined && x !== "")));
  if (!checked.success) throw usageProblems(fieldProblems(checked.issues), UNMOUNT_USAGE);
  const result = await put(target(values, pod), UNMOUNT_SUBRESOURCE, queryString(rawQuery), undefined, checked.output.wait_second);
  print(result, format, out, "unmounted");
}
