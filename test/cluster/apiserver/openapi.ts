// A minimal OpenAPI v3 index and per-group-version documents. kubectl reads them to learn
// that the server supports ?fieldValidation (server-side validation); without them
// `kubectl create -f` fails with "failed to download openapi". Schemas are not served.
import { createHash } from "node:crypto";
import { builtinGroupVersions, STORED_RESOURCES, VIRTUAL_RESOURCES, type GroupVersion } from "./registry.ts";
import { SERVER_VERSION } from "./discovery.ts";

type Json = Record<string, unknown>;

function gvPath(gv: GroupVersion): string {
  return gv.group === "" ? `api/${gv.version}` : `apis/${gv.group}/${gv.version}`;
}

const query = (name: string) => ({ name, in: "query", schema: { type: "string", uniqueItems: true } });
const pathParam = (name: string) => ({ name, in: "path", required: true, schema: { type: "string", uniqueItems: true } });
const WRITE_PARAMS = [query("dryRun"), query("fieldManager"), query("fieldValidation")];
const OK = { "200": { description: "OK" } };

function operation(action: string, gvk: Json, parameters: Json[], id: string): Json {
  return {
    operationId: id,
    parameters,
    responses: OK,
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
  };
}

/** The OpenAPI v3 document of one builtin group/version, or undefined. */
export function openApiV3Document(gv: GroupVersion): Json | undefined {
  const paths: Record<string, Json> = {};
  const base = `/${gvPath(gv)}`;
  const stored = STORED_RESOURCES.filter((r) => r.group === gv.group && r.version === gv.version);
  const virtual = VIRTUAL_RESOURCES.filter((r) => r.group === gv.group && r.version === gv.version);
  if (stored.length === 0 && virtual.length === 0) return undefined;
  for (const r of stored) {
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const collection = r.namespaced ? `${base}/namespaces/{namespace}/${r.resource}` : `${base}/${r.resource}`;
    const scopeParams = r.namespaced ? [pathParam("namespace")] : [];
    const id = `${r.kind}${r.group}`;
    paths[collection] = {
      parameters: scopeParams,
      get: operation("list", gvk, [query("labelSelector"), query("fieldSelector"), query("limit"), query("continue"), query("watch")], `list${id}`),
      post: operation("post", gvk, WRITE_PARAMS, `create${id}`),
      delete: operation("deletecollection", gvk, [query("labelSelector"), query("fieldSelector")], `deletecollection${id}`),
    };
    const item = `${collection}/{name}`;
    const itemParams = [...scopeParams, pathParam("name")];
    paths[item] = {
      parameters: itemParams,
      get: operation("get", gvk, [], `read${id}`),
      put: operation("put", gvk, WRITE_PARAMS, `replace${id}`),
      patch: operation("patch", gvk, [...WRITE_PARAMS, query("force")], `patch${id}`),
      delete: operation("delete", gvk, [query("gracePeriodSeconds"), query("propagationPolicy")], `delete${id}`),
    };
    if (r.hasStatus) {
      paths[`${item}/status`] = {
        parameters: itemParams,
        get: operation("get", gvk, [], `read${id}Status`),
        put: operation("put", gvk, WRITE_PARAMS, `replace${id}Status`),
        patch: operation("patch", gvk, [...WRITE_PARAMS, query("force")], `patch${id}Status`),
      };
    }
    if (r.namespaced) paths[`${base}/${r.resource}`] = { get: operation("list", gvk, [query("labelSelector"), query("fieldSelector")], `list${id}ForAllNamespaces`) };
  }
  for (const v of virtual) {
    const gvk = { group: v.group, version: v.version, kind: v.kind };
    const collection = v.namespaced ? `${base}/namespaces/{namespace}/${v.resource}` : `${base}/${v.resource}`;
    paths[collection] = { post: operation("post", gvk, WRITE_PARAMS, `create${v.kind}`) };
  }
  return { openapi: "3.0.0", info: { title: "Kubernetes", version: SERVER_VERSION.gitVersion }, paths, components: { schemas: {} } };
}

function hashOf(doc: Json): string {
  return createHash("sha512").update(JSON.stringify(doc)).digest("hex").slice(0, 128).toUpperCase();
}

export function openApiV3Index(): Json {
  const paths: Record<string, Json> = {};
  for (const gv of builtinGroupVersions()) {
    const doc = openApiV3Document(gv);
    if (doc) paths[gvPath(gv)] = { serverRelativeURL: `/openapi/v3/${gvPath(gv)}?hash=${hashOf(doc)}` };
  }
  return { paths };
}

/** Maps "/openapi/v3/apis/policy/v1" back to its group/version. */
export function groupVersionOfOpenApiPath(path: string): GroupVersion | undefined {
  const core = /^\/openapi\/v3\/api\/([^/]+)$/.exec(path);
  if (core) return { group: "", version: core[1] ?? "" };
  const named = /^\/openapi\/v3\/apis\/([^/]+)\/([^/]+)$/.exec(path);
  if (named) return { group: named[1] ?? "", version: named[2] ?? "" };
  return undefined;
}
