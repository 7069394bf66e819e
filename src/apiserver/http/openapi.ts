// OpenAPI v2 (/openapi/v2) and v3 (/openapi/v3 and its group-version
// document) describing the two operations, so that the aggregator can merge
// them and kubectl/clients can read them. Served with ETags, as kube-openapi.
import { createHash } from "node:crypto";
import { Hono } from "hono";
import { API_GROUP, API_VERSION, DEFAULT_WAIT_SECONDS, GROUP_VERSION, MOUNT_SUBRESOURCE, UNMOUNT_SUBRESOURCE } from "../../api/public.ts";
import type { ApiserverContext, ApiserverEnv } from "./env.ts";
import { MOUNT_RESULT_KIND, UNMOUNT_RESULT_KIND } from "./discovery.ts";
import { OPENAPI_V3_GROUP_PATH, VERSION_PATH } from "./paths.ts";

const STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const NAMES = {
  mountRequest: "io.device-mounter.v1alpha1.MountRequest",
  mountResult: `io.device-mounter.v1alpha1.${MOUNT_RESULT_KIND}`,
  unmountResult: `io.device-mounter.v1alpha1.${UNMOUNT_RESULT_KIND}`,
  device: "io.device-mounter.v1alpha1.MountedDevice",
  status: STATUS,
  statusDetails: "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails",
  statusCause: "io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause",
};

const stringMap = (description: string) => ({ type: "object", description, additionalProperties: { type: "string" } });
const strings = (description: string) => ({ type: "array", description, items: { type: "string" } });

function schemas(ref: (name: string) => { $ref: string }) {
  const common = {
    kind: { type: "string" },
    apiVersion: { type: "string" },
    container: { type: "string", description: "The container the devices belong to." },
    devices: { type: "array", items: ref(NAMES.device) },
    slavePods: strings("The slave pods holding the devices' allocation."),
    message: { type: "string" },
  };
  return {
    [NAMES.mountRequest]: {
      type: "object",
      description: "What to mount: the node resources to request for the target container, and how to shape the slave pods that hold them.",
      required: ["resources"],
      properties: {
        resources: stringMap('Kubernetes node resource name → quantity, e.g. {"nvidia.com/gpu": "1"}. At least one.'),
        annotations: stringMap("Annotations for the slave pods."),
        labels: stringMap("Labels for the slave pods."),
        patches: strings('RFC 6902 JSON patch operations for the slave pods, each a JSON-encoded string, e.g. "{\\"op\\":\\"replace\\",\\"path\\":\\"/spec/schedulerName\\",\\"value\\":\\"volcano\\"}".'),
      },
    },
    [NAMES.device]: {
      type: "object",
      required: ["deviceId", "resource", "path", "type", "major", "minor", "access", "mode"],
      properties: {
        deviceId: { type: "string", description: "The device plugin's ID of the device." },
        resource: { type: "string" },
        path: { type: "string", description: "Path of the device node inside the container." },
        type: { type: "string", enum: ["c", "b"] },
        major: { type: "integer", format: "int32" },
        minor: { type: "integer", format: "int32" },
        access: { type: "string", description: "Subset of rwm." },
        mode: { type: "integer", format: "int32", description: "Permission bits of the device node in the container." },
      },
    },
    [NAMES.mountResult]: {
      type: "object",
      description: "The devices mounted into the container.",
      properties: { ...common, containerId: { type: "string" } },
    },
    [NAMES.unmountResult]: {
      type: "object",
      description: "The devices removed from the container.",
      properties: {
        ...common,
        killed: { type: "array", description: "Processes ended because the unmount was forced.", items: { type: "object", properties: { pid: { type: "integer", format: "int32" }, comm: { type: "string" } } } },
      },
    },
    [NAMES.statusCause]: { type: "object", properties: { field: { type: "string" }, message: { type: "string" }, reason: { type: "string" } } },
    [NAMES.statusDetails]: {
      type: "object",
      properties: {
        causes: { type: "array", items: ref(NAMES.statusCause) },
        group: { type: "string" },
        kind: { type: "string" },
        name: { type: "string" },
        retryAfterSeconds: { type: "integer", format: "int32" },
        uid: { type: "string" },
      },
    },
    [NAMES.status]: {
      type: "object",
      description: "Status is a return value for calls that don't return other objects.",
      properties: {
        apiVersion: { type: "string" },
        code: { type: "integer", format: "int32" },
        details: ref(NAMES.statusDetails),
        kind: { type: "string" },
        message: { type: "string" },
        metadata: { type: "object" },
        reason: { type: "string" },
        status: { type: "string" },
      },
    },
  };
}

interface Operation {
  subresource: string;
  operationId: string;
  description: string;
  body: boolean;
  result: string;
  kind: string;
  force: boolean;
}

const OPERATIONS: Operation[] = [
  {
    subresource: MOUNT_SUBRESOURCE,
    operationId: "mountDeviceMounterV1alpha1NamespacedPod",
    description: "Hot-mount devices into a running container of the pod: request the resources through slave pods on the pod's node and grant the allocated devices to the container.",
    body: true,
    result: NAMES.mountResult,
    kind: MOUNT_RESULT_KIND,
    force: false,
  },
  {
    subresource: UNMOUNT_SUBRESOURCE,
    operationId: "unmountDeviceMounterV1alpha1NamespacedPod",
    description: "Remove devices of a device type that device-mounter mounted into a container of the pod, and release their slave pods.",
    body: false,
    result: NAMES.unmountResult,
    kind: UNMOUNT_RESULT_KIND,
    force: true,
  },
];

const ERROR_RESPONSES: Record<string, string> = {
  "400": "Bad query parameters.",
  "401": "Unauthorized.",
  "403": "Forbidden.",
  "404": "The pod does not exist.",
  "409": "The devices are busy, or another mount or unmount is running for the container.",
  "413": "The body is too large.",
  "415": "The body is not application/json.",
  "422": "The body or a patch is invalid.",
  "503": "No ready device-mounter agent on the pod's node.",
  "504": "Timed out.",
};

function queryParameters(op: Operation, maxWaitSeconds: number) {
  return [
    { name: "device_type", required: true, description: "The type of device to be mounted, e.g. NVIDIA_GPU.", schema: { type: "string" } },
    { name: "container", required: false, description: "Target container name; default: the pod's only container.", schema: { type: "string" } },
    { name: "wait_second", required: false, description: `Waiting for timeout period (second), 0 to ${maxWaitSeconds}.`, schema: { type: "integer", minimum: 0, maximum: maxWaitSeconds, default: DEFAULT_WAIT_SECONDS } },
    ...(op.force ? [{ name: "force", required: false, description: "Whether to force uninstallation (killing processes on the device): 1/0 or true/false.", schema: { type: "string", enum: ["1", "0", "true", "false"] } }] : []),
  ];
}

const PATH_PARAMETERS = [
  { name: "name", description: "Target pod name" },
  { name: "namespace", description: "Target pod namespace" },
];

const pathOf = (subresource: string) => `${VERSION_PATH}/namespaces/{namespace}/pods/{name}/${subresource}`;
const gvk = (kind: string) => ({ group: API_GROUP, version: API_VERSION, kind });
const TAG = "deviceMounter_v1alpha1";

export function openApiV2(maxWaitSeconds: number) {
  const ref = (name: string) => ({ $ref: `#/definitions/${name}` });
  const paths: Record<string, unknown> = {};
  for (const op of OPERATIONS) {
    const parameters = [
      ...(op.body ? [{ name: "body", in: "body", required: true, schema: ref(NAMES.mountRequest) }] : []),
      ...queryParameters(op, maxWaitSeconds).map(({ schema, ...p }) => ({ ...p, in: "query", uniqueItems: true, ...schema })),
    ];
    paths[pathOf(op.subresource)] = {
      put: {
        description: op.description,
        consumes: ["application/json"],
        produces: ["application/json"],
        schemes: ["https"],
        tags: [TAG],
        operationId: op.operationId,
        parameters,
        responses: {
          "200": { description: "OK", schema: ref(op.result) },
          ...Object.fromEntries(Object.entries(ERROR_RESPONSES).map(([code, description]) => [code, { description, schema: ref(STATUS) }])),
        },
        "x-kubernetes-action": "put",
        "x-kubernetes-group-version-kind": gvk(op.kind),
      },
      parameters: PATH_PARAMETERS.map((p) => ({ ...p, in: "path", required: true, type: "string", uniqueItems: true })),
    };
  }
  return {
    swagger: "2.0",
    info: { title: "device-mounter", version: API_VERSION },
    paths,
    definitions: schemas(ref),
  };
}

export function openApiV3GroupVersion(maxWaitSeconds: number) {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const json = (schema: unknown) => ({ "application/json": { schema } });
  const paths: Record<string, unknown> = {};
  for (const op of OPERATIONS) {
    paths[pathOf(op.subresource)] = {
      put: {
        tags: [TAG],
        description: op.description,
        operationId: op.operationId,
        parameters: queryParameters(op, maxWaitSeconds).map((p) => ({ ...p, in: "query" })),
        ...(op.body ? { requestBody: { required: true, content: json(ref(NAMES.mountRequest)) } } : {}),
        responses: {
          "200": { description: "OK", content: json(ref(op.result)) },
          ...Object.fromEntries(Object.entries(ERROR_RESPONSES).map(([code, description]) => [code, { description, content: json(ref(STATUS)) }])),
        },
        "x-kubernetes-action": "put",
        "x-kubernetes-group-version-kind": gvk(op.kind),
      },
      parameters: PATH_PARAMETERS.map((p) => ({ ...p, in: "path", required: true, schema: { type: "string", uniqueItems: true } })),
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "device-mounter", version: API_VERSION },
    paths,
    components: { schemas: schemas(ref) },
  };
}

interface Served {
  body: string;
  etag: string;
  hash: string;
}

function serve(document: unknown): Served {
  const body = JSON.stringify(document);
  const hash = createHash("sha512").update(body).digest("hex").toUpperCase();
  return { body, hash, etag: `"${hash}"` };
}

export function openApiRoutes(maxWaitSeconds: number): Hono<ApiserverEnv> {
  const v2 = serve(openApiV2(maxWaitSeconds));
  const v3 = serve(openApiV3GroupVersion(maxWaitSeconds));
  const v3Url = `${OPENAPI_V3_GROUP_PATH}?hash=${v3.hash}`;
  const v3Index = serve({ paths: { [`apis/${GROUP_VERSION}`]: { serverRelativeURL: v3Url } } });
  const routes = new Hono<ApiserverEnv>();

  const respond = (served: Served, extra: Record<string, string> = {}) =>
    function serveDocument(c: ApiserverContext) {
      const headers = { ETag: served.etag, "Content-Type": "application/json", ...extra };
      if (c.req.header("if-none-match") === served.etag) return c.body(null, 304, headers);
      return c.body(served.body, 200, headers);
    };

  routes.get("/openapi/v2", respond(v2, { "Cache-Control": "no-cache, private" }));
  routes.get("/openapi/v3", respond(v3Index, { "Cache-Control": "no-cache, private" }));
  routes.get(OPENAPI_V3_GROUP_PATH, (c) => {
    const hash = c.req.query("hash");
    // As kube-openapi: a stale hash redirects to the current document, a matching one may be cached forever.
    if (hash !== undefined && hash !== v3.hash) return c.redirect(v3Url, 301);
    return respond(v3, hash ? { "Cache-Control": "public, immutable", Expires: new Date(Date.now() + 365 * 24 * 3600 * 1000).toUTCString() } : { "Cache-Control": "no-cache, private" })(c);
  });
  return routes;
}
