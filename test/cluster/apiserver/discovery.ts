// Legacy discovery documents (/api, /apis, /api/v1, /apis/<g>/<v>) and /version.
// kubectl asks for aggregated discovery first and falls back to these when the
// response is plain application/json.
import { builtinGroupVersions, STORED_RESOURCES, SUBRESOURCES, VIRTUAL_RESOURCES, type GroupVersion } from "./registry.ts";

export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.4",
  gitCommit: "59526cd4867447956156ae3a602fcbac10a2c335",
  gitTreeState: "clean",
  buildDate: "2025-04-22T16:01:19Z",
  goVersion: "go1.23.6",
  compiler: "gc",
  platform: "linux/amd64",
};

function groupVersionString(gv: GroupVersion): string {
  return gv.group === "" ? gv.version : `${gv.group}/${gv.version}`;
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

/** Builtin groups plus the aggregated ones registered at runtime. */
export function apiGroupList(aggregated: GroupVersion[]): Record<string, unknown> {
  const byGroup = new Map<string, string[]>();
  for (const gv of [...builtinGroupVersions(), ...aggregated]) {
    if (gv.group === "") continue;
    const versions = byGroup.get(gv.group) ?? [];
    if (!versions.includes(gv.version)) versions.push(gv.version);
    byGroup.set(gv.group, versions);
  }
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...byGroup].map(([name, versions]) => apiGroup(name, versions)),
  };
}

export function apiGroup(name: string, versions: string[]): Record<string, unknown> {
  const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { kind: "APIGroup", apiVersion: "v1", name, versions: entries, preferredVersion: entries[0] };
}

/** APIResourceList for a builtin group/version, or undefined when it is not served. */
export function apiResourceList(group: string, version: string): Record<string, unknown> | undefined {
  const resources: Array<Record<string, unknown>> = [];
  for (const r of STORED_RESOURCES.filter((x) => x.group === group && x.version === version)) {
    const entry: Record<string, unknown> = {
      name: r.resource,
      singularName: r.singularName,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
    };
    if (r.shortNames.length > 0) entry["shortNames"] = r.shortNames;
    if (r.categories.length > 0) entry["categories"] = r.categories;
    resources.push(entry);
  }
  for (const s of SUBRESOURCES.filter((x) => x.group === group && x.version === version)) {
    const entry: Record<string, unknown> = { name: s.name, singularName: "", namespaced: s.namespaced };
    if (s.kindGroup !== undefined) {
      entry["group"] = s.kindGroup;
      entry["version"] = s.kindVersion;
    }
    resources.push({ ...entry, kind: s.kind, verbs: s.verbs });
  }
  for (const v of VIRTUAL_RESOURCES.filter((x) => x.group === group && x.version === version)) {
    resources.push({ name: v.resource, singularName: v.singularName, namespaced: v.namespaced, kind: v.kind, verbs: ["create"] });
  }
  if (group === "" && version === "v1") {
    resources.push({ name: "bindings", singularName: "binding", namespaced: true, kind: "Binding", verbs: ["create"] });
  }
  if (resources.length === 0) return undefined;
  resources.sort((a, b) => String(a["name"]).localeCompare(String(b["name"])));
  const list: Record<string, unknown> = { kind: "APIResourceList" };
  if (group !== "") list["apiVersion"] = "v1";
  list["groupVersion"] = groupVersionString({ group, version });
  list["resources"] = resources;
  return list;
}
