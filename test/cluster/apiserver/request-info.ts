// RequestInfoFactory from k8s.io/apiserver: how a URL + method become the attributes
// (verb, group, resource, subresource, namespace, name) that authorization sees.

export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** Path parts from the resource on: resource/name/subresource/... */
  parts: string[];
  /** The URL used the deprecated /watch/ prefix. */
  watchPrefix: boolean;
}

const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/** path.IsValidPathSegmentName */
function isValidPathSegmentName(name: string): boolean {
  return name !== "." && name !== ".." && !name.includes("/") && !name.includes("%");
}

function exactFieldMatch(fieldSelector: string | null, field: string): string | undefined {
  if (!fieldSelector) return undefined;
  for (const part of fieldSelector.split(",")) {
    const m = /^\s*([^=!]+?)\s*(==|=)(.*)$/.exec(part);
    if (m && m[1] === field) return m[3];
  }
  return undefined;
}

export function parseRequestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: "",
    apiGroup: "",
    apiVersion: "",
    namespace: "",
    resource: "",
    subresource: "",
    name: "",
    parts: [],
    watchPrefix: false,
  };
  let parts = path.split("/").filter((p) => p !== "").map((p) => decodeURIComponent(p));
  if (parts.length < 3 || (parts[0] !== "api" && parts[0] !== "apis")) return info;
  info.apiPrefix = parts[0] ?? "";
  parts = parts.slice(1);
  if (info.apiPrefix === "apis") {
    if (parts.length < 3) return info;
    info.apiGroup = parts[0] ?? "";
    parts = parts.slice(1);
  }
  info.isResourceRequest = true;
  info.apiVersion = parts[0] ?? "";
  parts = parts.slice(1);

  let verbViaMethod = false;
  if (parts[0] === "watch" || parts[0] === "proxy") {
    if (parts.length < 2) return { ...info, isResourceRequest: false };
    info.verb = parts[0];
    info.watchPrefix = parts[0] === "watch";
    parts = parts.slice(1);
  } else {
    verbViaMethod = true;
    const byMethod: Record<string, string> = { POST: "create", GET: "get", HEAD: "get", PUT: "update", PATCH: "patch", DELETE: "delete" };
    info.verb = byMethod[method.toUpperCase()] ?? "";
  }

  if (parts[0] === "namespaces") {
    if (parts.length > 1) {
      info.namespace = parts[1] ?? "";
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? "")) parts = parts.slice(2);
    }
  }
  info.parts = parts;
  if (parts.length >= 3 && info.verb !== "proxy") info.subresource = parts[2] ?? "";
  if (parts.length >= 2) info.name = parts[1] ?? "";
  if (parts.length >= 1) info.resource = parts[0] ?? "";

  if (info.name === "" && info.verb === "get") {
    const watch = url.searchParams.get("watch");
    info.verb = watch === "true" || watch === "1" ? "watch" : "list";
  }
  if (info.name === "" && (info.verb === "watch" || info.verb === "list")) {
    const name = exactFieldMatch(url.searchParams.get("fieldSelector"), "metadata.name");
    if (name !== undefined && isValidPathSegmentName(name)) info.name = name;
  }
  if (verbViaMethod && info.name === "" && info.verb === "delete") info.verb = "deletecollection";
  return info;
}
