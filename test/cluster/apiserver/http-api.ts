// The HTTP face of the server (Hono): authentication, authorization, discovery, OpenAPI,
// the REST verbs of every resource, watch streaming and aggregator proxying.
import { Hono, type Context } from "hono";
import type { Aggregator } from "./aggregator.ts";
import {
  attributesFromRequest,
  authorize,
  forbiddenError,
  type Authenticator,
  type UserInfo,
} from "./auth.ts";
import { bindPod } from "./binding.ts";
import { impersonatedUser } from "./impersonation.ts";
import { admitNodeRestriction } from "./bootstrap-policy.ts";
import { parseFieldValidation, parseJson } from "./decode.ts";
import { apiGroup, apiGroupList, apiResourceList, apiVersions, SERVER_VERSION } from "./discovery.ts";
import { withTypeMeta, type DeleteOptions, type ObjectApi, type PropagationPolicy, type WriteResult } from "./object-api.ts";
import { groupVersionOfOpenApiPath, openApiV3Document, openApiV3Index } from "./openapi.ts";
import { STREAMING_RESPONSES } from "./node-http-adapter.ts";
import { patchTypeOf } from "./patch.ts";
import { decodeProtobufBody, PROTOBUF_MEDIA_TYPE } from "./protobuf.ts";
import { createServiceAccountToken } from "./service-account-tokens.ts";
import { podResource } from "./pods.ts";
import { builtinGroupVersions, findStored, findVirtual } from "./registry.ts";
import { apiVersionOf, type ResourceType } from "./resource-type.ts";
import { parseRequestInfo, type RequestInfo } from "./request-info.ts";
import {
  ApiError,
  badRequest,
  internalError,
  methodNotAllowed,
  notAcceptable,
  resourceNotFound,
  unauthorized,
  unsupportedMediaType,
} from "./status.ts";
import type { KubeObject } from "./store.ts";
import { DEFAULT_TABLE, toTable, type IncludeObject } from "./table.ts";
import { openWatch, type WatchTuning } from "./watch.ts";

/** Who the TLS layer says the client is: a verified certificate, a rejected one, or none. */
export type PeerIdentity = { kind: "certificate"; user: UserInfo } | { kind: "invalid-certificate" } | undefined;

export interface ApiServerContext {
  api: ObjectApi;
  authenticator: Authenticator;
  aggregator: Aggregator;
  tuning: WatchTuning;
  /** host:port clients should use, for /api's serverAddressByClientCIDRs. */
  serverAddress(): string;
}

type Env = {
  Bindings: { peer: PeerIdentity };
  Variables: { user: UserInfo; info: RequestInfo };
};

const ANONYMOUS: UserInfo = { username: "system:anonymous", groups: ["system:unauthenticated"] };
const INPUT_MEDIA_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

/** Paths anyone may GET without credentials: health, version and discovery. */
function isPublicPath(method: string, path: string): boolean {
  if (method !== "GET") return false;
  if (/^\/(version|healthz|livez|readyz)(\/.*)?$/.test(path)) return true;
  return /^\/api(\/v1)?\/?$/.test(path) || /^\/apis(\/[^/]+){0,2}\/?$/.test(path);
}

function jsonResponse(status: number, body: unknown, warnings: string[] = []): Response {
  const headers = new Headers({ "Content-Type": "application/json" });
  for (const w of warnings) headers.append("Warning", `299 - ${JSON.stringify(w)}`);
  return new Response(JSON.stringify(body), { status, headers });
}

function statusResponse(error: ApiError): Response {
  const response = jsonResponse(error.code, error.status);
  for (const [k, v] of Object.entries(error.headers)) response.headers.set(k, v);
  return response;
}

interface Representation {
  table?: IncludeObject;
  metadataOnly?: boolean;
}

/** Content negotiation over the Accept header, in clause order like kube's negotiator. */
function negotiate(accept: string | undefined, includeObject: string | undefined): Representation {
  if (!accept || accept.trim() === "") return {};
  for (const clause of accept.split(",")) {
    const [mediaRaw, ...paramParts] = clause.split(";");
    const media = (mediaRaw ?? "").trim().toLowerCase();
    const params = new Map(paramParts.map((p) => p.trim().split("=") as [string, string]).map(([k, v]) => [k?.toLowerCase(), v]));
    if (!["application/json", "application/*", "*/*"].includes(media)) continue;
    const as = params.get("as");
    if (as === undefined) return {};
    if (params.get("g") !== "meta.k8s.io" || !["v1", "v1beta1"].includes(params.get("v") ?? "")) continue;
    if (as === "Table") {
      const include = (includeObject ?? "Metadata") as IncludeObject;
      if (!["None", "Metadata", "Object"].includes(include)) throw badRequest(`includeObject: unsupported value "${include}"`);
      return { table: include };
    }
    if (as === "PartialObjectMetadata" || as === "PartialObjectMetadataList") return { metadataOnly: true };
  }
  throw notAcceptable(["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]);
}

function intParam(c: Context<Env>, name: string): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}

function boolParam(c: Context<Env>, name: string): boolean | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw badRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

/** The request body as JSON-shaped data, from JSON, YAML or (for typed Go clients) protobuf. */
async function readJsonBody(c: Context<Env>): Promise<unknown> {
  const media = (c.req.header("content-type") ?? "application/json").split(";")[0]?.trim().toLowerCase() ?? "";
  if (media === PROTOBUF_MEDIA_TYPE) {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    try {
      return decodeProtobufBody(bytes);
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw badRequest(`failed to decode protobuf body: ${(e as Error).message}`);
    }
  }
  if (media === "application/yaml") {
    const text = await c.req.text();
    try {
      return Bun.YAML.parse(text);
    } catch (e) {
      throw badRequest(`yaml: ${(e as Error).message}`);
    }
  }
  if (media !== "application/json" && media !== "") throw unsupportedMediaType(media, INPUT_MEDIA_TYPES);
  return parseJson(await c.req.text());
}

function writeOptions(c: Context<Env>) {
  const dryRun = c.req.query("dryRun");
  if (dryRun !== undefined && dryRun !== "All") throw badRequest(`Invalid dryRun value: ${dryRun}`);
  return { fieldValidation: parseFieldValidation(c.req.query("fieldValidation")), dryRun: dryRun === "All" };
}

function listBody(rt: ResourceType, items: KubeObject[], metadata: Record<string, unknown>, rep: Representation): unknown {
  if (rep.table) return toTable(rt.table ?? DEFAULT_TABLE, items.map((i) => withTypeMeta(rt, i)), metadata, rep.table, true);
  if (rep.metadataOnly) {
    return {
      kind: "PartialObjectMetadataList",
      apiVersion: "meta.k8s.io/v1",
      metadata,
      items: items.map((i) => ({ kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: i.metadata })),
    };
  }
  // List items carry no kind/apiVersion, exactly like kube's JSON lists.
  const bare = items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
  return { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata, items: bare };
}

function objectBody(rt: ResourceType, obj: KubeObject, rep: Representation): unknown {
  if (rep.table) return toTable(rt.table ?? DEFAULT_TABLE, [obj], { resourceVersion: obj.metadata.resourceVersion }, rep.table, true);
  if (rep.metadataOnly) return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata };
  return obj;
}

async function deleteOptionsOf(c: Context<Env>): Promise<DeleteOptions> {
  const text = await c.req.text();
  const options: DeleteOptions = {};
  if (text.trim() !== "") {
    const body = parseJson(text);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("DeleteOptions must be a JSON object");
    const b = body as Record<string, unknown>;
    if (b["kind"] !== undefined && b["kind"] !== "DeleteOptions") {
      throw badRequest(`the kind in the data (${String(b["kind"])}) does not match the expected kind (DeleteOptions)`);
    }
    if (typeof b["gracePeriodSeconds"] === "number") options.gracePeriodSeconds = b["gracePeriodSeconds"];
    if (typeof b["propagationPolicy"] === "string") options.propagationPolicy = b["propagationPolicy"] as PropagationPolicy;
    if (typeof b["orphanDependents"] === "boolean") options.orphanDependents = b["orphanDependents"];
    if (typeof b["preconditions"] === "object" && b["preconditions"] !== null) options.preconditions = b["preconditions"] as DeleteOptions["preconditions"];
    if (Array.isArray(b["dryRun"]) && b["dryRun"].includes("All")) options.dryRun = true;
  }
  const grace = intParam(c, "gracePeriodSeconds");
  if (grace !== undefined) options.gracePeriodSeconds = grace;
  const policy = c.req.query("propagationPolicy");
  if (policy) options.propagationPolicy = policy as PropagationPolicy;
  const orphan = boolParam(c, "orphanDependents");
  if (orphan !== undefined) options.orphanDependents = orphan;
  if (c.req.query("dryRun") === "All") options.dryRun = true;
  return options;
}

export function createApiApp(ctx: ApiServerContext): Hono<Env> {
  const app = new Hono<Env>();

  app.onError((err) => {
    if (err instanceof ApiError) return statusResponse(err);
    return statusResponse(internalError(err instanceof Error ? err.message : String(err)));
  });

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    if (/^\/apis?(\/|$)/.test(path)) return statusResponse(resourceNotFound());
    return new Response("404 page not found\n", { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  });

  // Authentication, then authorization: the first filters of kube-apiserver's chain.
  app.use("*", async (c, next) => {
    const url = new URL(c.req.url);
    const info = parseRequestInfo(c.req.method, url);
    const authorization = c.req.header("authorization");
    let user: UserInfo | undefined;
    if (authorization !== undefined) {
      const m = /^bearer\s+(\S+)\s*$/i.exec(authorization);
      const result = m ? ctx.authenticator.checkToken(m[1] ?? "", []) : undefined;
      if (!result?.ok) throw unauthorized();
      user = result.user;
    } else if (c.env.peer?.kind === "invalid-certificate") {
      throw unauthorized();
    } else if (c.env.peer?.kind === "certificate") {
      user = c.env.peer.user;
    }
    if (user) user = impersonatedUser(ctx.authenticator.currentPolicy, user, c.req.raw.headers) ?? user;
    const publicPath = isPublicPath(c.req.method, url.pathname);
    if (!user && !publicPath) throw unauthorized();
    const effective = user ?? ANONYMOUS;
    if (user && !publicPath) {
      const attributes = attributesFromRequest(effective, info);
      const decision = authorize(ctx.authenticator.currentPolicy, attributes);
      if (!decision.allowed) throw forbiddenError(attributes, decision.reason);
    }
    c.set("user", effective);
    c.set("info", info);
    await next();
  });

  const ok = () => new Response("ok", { headers: { "Content-Type": "text/plain; charset=utf-8" } });
  app.get("/healthz", ok);
  app.get("/livez", ok);
  app.get("/readyz", ok);
  app.get("/version", () => jsonResponse(200, SERVER_VERSION));

  app.get("/api", () => jsonResponse(200, apiVersions(ctx.serverAddress())));
  app.get("/api/v1", () => jsonResponse(200, apiResourceList("", "v1")));
  app.get("/apis", () => jsonResponse(200, apiGroupList(ctx.aggregator.groupVersions())));
  app.get("/apis/:group", (c) => {
    const group = c.req.param("group");
    const versions = [...builtinGroupVersions(), ...ctx.aggregator.groupVersions()].filter((gv) => gv.group === group).map((gv) => gv.version);
    if (versions.length === 0) throw resourceNotFound();
    return jsonResponse(200, apiGroup(group, [...new Set(versions)]));
  });
  app.get("/apis/:group/:version", async (c) => {
    const service = ctx.aggregator.find(c.req.param("group"), c.req.param("version"));
    if (service) return ctx.aggregator.proxy(c.req.raw, service, c.get("user"));
    const list = apiResourceList(c.req.param("group"), c.req.param("version"));
    if (!list) throw resourceNotFound();
    return jsonResponse(200, list);
  });

  app.get("/openapi/v3", () => jsonResponse(200, openApiV3Index()));
  app.get("/openapi/v3/*", (c) => {
    const gv = groupVersionOfOpenApiPath(new URL(c.req.url).pathname);
    const doc = gv ? openApiV3Document(gv) : undefined;
    if (!doc) return new Response("404 page not found\n", { status: 404 });
    return jsonResponse(200, doc);
  });

  const resources = async (c: Context<Env>) => {
    const info = c.get("info");
    const service = ctx.aggregator.find(info.apiGroup, info.apiVersion);
    if (service) return ctx.aggregator.proxy(c.req.raw, service, c.get("user"));
    if (!info.isResourceRequest) throw resourceNotFound();
    return handleResource(ctx, c, info);
  };
  app.all("/api/v1/*", resources);
  app.all("/apis/:group/:version/*", resources);
  return app;
}

function created(result: WriteResult, rt: ResourceType, rep: Representation): Response {
  return jsonResponse(201, objectBody(rt, result.object, rep), result.warnings);
}

async function handleResource(ctx: ApiServerContext, c: Context<Env>, info: RequestInfo): Promise<Response> {
  const { api } = ctx;
  const method = c.req.method;
  const [resource = "", name, subresource, ...extra] = info.parts;
  if (extra.length > 0) throw resourceNotFound();
  const rep = negotiate(c.req.header("accept"), c.req.query("includeObject"));

  const virtual = findVirtual(info.apiGroup, info.apiVersion, resource);
  if (virtual) {
    if (name !== undefined || virtual.namespaced !== (info.namespace !== "")) throw resourceNotFound();
    if (method !== "POST") throw methodNotAllowed();
    const body = await readJsonBody(c);
    return jsonResponse(201, virtual.create(body, { user: c.get("user"), namespace: info.namespace, authenticator: ctx.authenticator }));
  }
  if (info.apiGroup === "" && resource === "bindings") {
    if (name !== undefined || info.namespace === "") throw resourceNotFound();
    if (method !== "POST") throw methodNotAllowed();
    return jsonResponse(201, bindPod(api, info.namespace, undefined, await readJsonBody(c)));
  }
  const rt = findStored(info.apiGroup, info.apiVersion, resource);
  if (!rt) throw resourceNotFound();
  const isNamespaceObject = rt.resource === "namespaces";
  if (!rt.namespaced && info.namespace !== "" && !isNamespaceObject) throw resourceNotFound();
  const namespace = rt.namespaced && info.namespace !== "" ? info.namespace : undefined;
  if (name !== undefined && rt.namespaced && namespace === undefined) throw resourceNotFound();

  const admit = (verb: string, sub: string, objectName: string, createBody?: unknown) =>
    admitNodeRestriction(c.get("user"), verb, rt, sub, namespace, objectName, createBody, api);

  const watchRequested = info.watchPrefix || (method === "GET" && (c.req.query("watch") === "true" || c.req.query("watch") === "1"));
  if (watchRequested) {
    if (method !== "GET" || subresource !== undefined) throw methodNotAllowed();
    let fieldSelector = c.req.query("fieldSelector");
    if (name !== undefined) fieldSelector = [`metadata.name=${name}`, fieldSelector].filter(Boolean).join(",");
    const stream = openWatch(
      api.store,
      {
        rt,
        namespace,
        labelSelector: c.req.query("labelSelector"),
        fieldSelector,
        resourceVersion: c.req.query("resourceVersion"),
        resourceVersionMatch: c.req.query("resourceVersionMatch"),
        allowWatchBookmarks: boolParam(c, "allowWatchBookmarks") ?? false,
        sendInitialEvents: boolParam(c, "sendInitialEvents"),
        timeoutSeconds: intParam(c, "timeoutSeconds"),
        table: rep.table ? { include: rep.table } : undefined,
        metadataOnly: rep.metadataOnly,
      },
      ctx.tuning,
      c.req.raw.signal,
    );
    const response = new Response(stream, { status: 200, headers: { "Content-Type": "application/json", "Cache-Control": "no-cache, private" } });
    STREAMING_RESPONSES.add(response);
    return response;
  }

  if (name === undefined) {
    switch (method) {
      case "GET": {
        const result = api.list(rt, namespace, {
          labelSelector: c.req.query("labelSelector"),
          fieldSelector: c.req.query("fieldSelector"),
          limit: intParam(c, "limit"),
          continueToken: c.req.query("continue"),
          resourceVersion: c.req.query("resourceVersion"),
          resourceVersionMatch: c.req.query("resourceVersionMatch"),
        });
        return jsonResponse(200, listBody(rt, result.items, result.metadata, rep));
      }
      case "POST": {
        if (rt.namespaced && namespace === undefined) throw methodNotAllowed();
        const body = await readJsonBody(c);
        admit("create", "", "", body);
        return created(api.create(rt, namespace, body, writeOptions(c)), rt, rep);
      }
      case "DELETE": {
        if (!rt.verbs.includes("deletecollection") || (rt.namespaced && namespace === undefined)) throw methodNotAllowed();
        const options = await deleteOptionsOf(c);
        const listed = api.list(rt, namespace, { labelSelector: c.req.query("labelSelector"), fieldSelector: c.req.query("fieldSelector") });
        const deleted: KubeObject[] = [];
        for (const item of listed.items) {
          admit("delete", "", item.metadata.name ?? "");
          const result = api.delete(rt, item.metadata.namespace, item.metadata.name ?? "", options);
          deleted.push(result.body["kind"] === "Status" ? item : (result.body as KubeObject));
        }
        return jsonResponse(200, listBody(rt, deleted, { resourceVersion: String(api.store.currentRevision) }, rep));
      }
      default:
        throw methodNotAllowed();
    }
  }

  if (subresource === undefined) {
    switch (method) {
      case "GET":
        return jsonResponse(200, objectBody(rt, api.getOrThrow(rt, namespace, name), rep));
      case "PUT": {
        admit("update", "", name);
        const existed = api.get(rt.bucket, namespace, name) !== undefined;
        const result = api.update(rt, namespace, name, await readJsonBody(c), "", writeOptions(c));
        return jsonResponse(existed ? 200 : 201, objectBody(rt, result.object, rep), result.warnings);
      }
      case "PATCH": {
        admit("patch", "", name);
        const type = patchTypeOf(c.req.header("content-type"));
        const patch = parseJson(await c.req.text());
        const result = api.patch(rt, namespace, name, type, patch, "", writeOptions(c));
        return jsonResponse(200, objectBody(rt, result.object, rep), result.warnings);
      }
      case "DELETE": {
        admit("delete", "", name);
        const result = api.delete(rt, namespace, name, await deleteOptionsOf(c));
        return jsonResponse(200, result.body);
      }
      default:
        throw methodNotAllowed();
    }
  }

  if (subresource === "status" && rt.hasStatus) {
    switch (method) {
      case "GET":
        return jsonResponse(200, objectBody(rt, api.getOrThrow(rt, namespace, name), rep));
      case "PUT": {
        admit("update", "status", name);
        const result = api.update(rt, namespace, name, await readJsonBody(c), "status", writeOptions(c));
        return jsonResponse(200, objectBody(rt, result.object, rep), result.warnings);
      }
      case "PATCH": {
        admit("patch", "status", name);
        const type = patchTypeOf(c.req.header("content-type"));
        const patch = parseJson(await c.req.text());
        const result = api.patch(rt, namespace, name, type, patch, "status", writeOptions(c));
        return jsonResponse(200, objectBody(rt, result.object, rep), result.warnings);
      }
      default:
        throw methodNotAllowed();
    }
  }
  if (subresource === "token" && rt.resource === "serviceaccounts" && namespace !== undefined) {
    if (method !== "POST") throw methodNotAllowed();
    return jsonResponse(201, createServiceAccountToken(api, ctx.authenticator, namespace, name, await readJsonBody(c)));
  }
  if (subresource === "binding" && rt === podResource && namespace !== undefined) {
    if (method !== "POST") throw methodNotAllowed();
    return jsonResponse(201, bindPod(api, namespace, name, await readJsonBody(c)));
  }
  throw resourceNotFound();
}
