// API discovery as kube-apiserver and kubectl read it: the legacy
// APIGroupList / APIGroup / APIResourceList documents, and aggregated
// discovery (apidiscovery.k8s.io v2 and v2beta1) at /apis when the Accept
// header asks for it.
import { Hono } from "hono";
import { API_GROUP, API_VERSION, GROUP_VERSION, MOUNT_SUBRESOURCE, UNMOUNT_SUBRESOURCE } from "../../api/public.ts";
import type { ApiserverEnv } from "./env.ts";
import { methodNotAllowed } from "./errors.ts";
import { GROUP_PATH, VERSION_PATH } from "./paths.ts";

export const MOUNT_RESULT_KIND = "MountResult";
export const UNMOUNT_RESULT_KIND = "UnmountResult";

const groupVersion = { groupVersion: GROUP_VERSION, version: API_VERSION };

export const apiGroup = { name: API_GROUP, versions: [groupVersion], preferredVersion: groupVersion };

export const apiGroupList = { kind: "APIGroupList", apiVersion: "v1", groups: [apiGroup] };

export const apiGroupDocument = { kind: "APIGroup", apiVersion: "v1", ...apiGroup };

const subresources = [
  { subresource: MOUNT_SUBRESOURCE, kind: MOUNT_RESULT_KIND },
  { subresource: UNMOUNT_SUBRESOURCE, kind: UNMOUNT_RESULT_KIND },
];

export const apiResourceList = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: GROUP_VERSION,
  resources: subresources.map(({ subresource, kind }) => ({ name: `pods/${subresource}`, singularName: "", namespaced: true, kind, verbs: ["update"] })),
};

export const AGGREGATED_DISCOVERY_VERSIONS = ["v2", "v2beta1"] as const;
type AggregatedVersion = (typeof AGGREGATED_DISCOVERY_VERSIONS)[number];

export const aggregatedContentType = (version: AggregatedVersion): string => `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;

export function aggregatedDiscovery(version: AggregatedVersion) {
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: [
      {
        metadata: { name: API_GROUP, creationTimestamp: null },
        versions: [
          {
            version: API_VERSION,
            resources: [
              {
                // The parent resource only carries the subresources: no operations on it, so no responseKind.
                resource: "pods",
                scope: "Namespaced",
                singularResource: "pod",
                verbs: [],
                subresources: subresources.map(({ subresource, kind }) => ({
                  subresource,
                  responseKind: { group: API_GROUP, version: API_VERSION, kind },
                  verbs: ["update"],
                })),
              },
            ],
            freshness: "Current",
          },
        ],
      },
    ],
  };
}

interface MediaRange {
  type: string;
  params: Map<string, string>;
  q: number;
  order: number;
}

function mediaRanges(accept: string): MediaRange[] {
  return accept
    .split(",")
    .map((part, order) => {
      const [type = "", ...rawParams] = part.split(";").map((s) => s.trim());
      const params = new Map(rawParams.map((p) => p.split("=", 2).map((s) => s.trim().replace(/^"|"$/g, "")) as [string, string]).filter(([k]) => k));
      const q = Number(params.get("q") ?? "1");
      return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, order };
    })
    .filter((r) => r.type && r.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
}

/** Which aggregated discovery version the Accept header prefers, or undefined for the legacy document. */
export function negotiateAggregatedDiscovery(accept: string | undefined): AggregatedVersion | undefined {
  for (const range of mediaRanges(accept ?? "")) {
    const jsonLike = range.type === "application/json" || range.type === "application/*" || range.type === "*/*";
    if (!jsonLike) continue;
    if (!range.params.has("g")) return undefined;
    const version = range.params.get("v") as AggregatedVersion;
    if (range.params.get("g") === "apidiscovery.k8s.io" && range.params.get("as") === "APIGroupDiscoveryList" && AGGREGATED_DISCOVERY_VERSIONS.includes(version)) return version;
  }
  return undefined;
}

export function discoveryRoutes(): Hono<ApiserverEnv> {
  const routes = new Hono<ApiserverEnv>();
  routes.get("/apis", function listGroups(c) {
    c.header("Vary", "Accept");
    const version = negotiateAggregatedDiscovery(c.req.header("accept"));
    if (!version) return c.json(apiGroupList);
    return c.body(JSON.stringify(aggregatedDiscovery(version)), 200, { "Content-Type": aggregatedContentType(version) });
  });
  routes.get(GROUP_PATH, (c) => c.json(apiGroupDocument));
  routes.get(VERSION_PATH, (c) => c.json(apiResourceList));
  for (const path of ["/apis", GROUP_PATH, VERSION_PATH]) routes.all(path, methodNotAllowed("GET"));
  return routes;
}
