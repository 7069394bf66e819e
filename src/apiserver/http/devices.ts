// PUT .../namespaces/{namespace}/pods/{name}/mount and .../unmount, exactly
// as the contract (shared/spec/seed-api.md) names their parameters.
import { Hono } from "hono";
import * as v from "valibot";
import {
  API_GROUP,
  fieldProblems,
  MOUNT_QUERY_PARAMETERS,
  MOUNT_SUBRESOURCE,
  mountQuerySchema,
  MountBodySchema,
  UNMOUNT_QUERY_PARAMETERS,
  UNMOUNT_SUBRESOURCE,
  unmountQuerySchema,
  type FieldProblem,
} from "../../api/public.ts";
import { StatusError, type StatusReason } from "../../api/status.ts";
import type { Authorizer } from "../auth/authorizer.ts";
import type { DeviceOperations, PodTarget } from "../devices/operations.ts";
import { dns1123LabelProblems, dns1123SubdomainProblems } from "../../api/k8s-names.ts";
import { authorizeDeviceRequest } from "./access.ts";
import { limitBody, readJsonBody } from "./body.ts";
import type { ApiserverContext, ApiserverEnv } from "./env.ts";
import { methodNotAllowed } from "./errors.ts";
import { MOUNT_PATH, UNMOUNT_PATH } from "./paths.ts";

export interface DeviceRoutesOptions {
  operations: DeviceOperations;
  authorizer: Authorizer;
  maxWaitSeconds: number;
  maxBodyBytes: number;
}

function invalid(reason: StatusReason, summary: string, problems: FieldProblem[], target?: PodTarget): StatusError {
  const message = `${summary}: ${problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join("; ")}`;
  return new StatusError(reason, message, {
    ...(target ? { name: target.name } : {}),
    group: API_GROUP,
    kind: "pods",
    causes: problems.map((p) => ({ reason: reason === "Invalid" ? "FieldValueInvalid" : "FieldValueBad", field: p.field, message: p.message })),
  });
}

function podTarget(c: ApiserverContext): PodTarget {
  const namespace = c.req.param("namespace") ?? "";
  const name = c.req.param("name") ?? "";
  const problems = [
    ...dns1123LabelProblems(namespace).map((message) => ({ field: "namespace", message: `namespace ${JSON.stringify(namespace)} ${message}` })),
    ...dns1123SubdomainProblems(name).map((message) => ({ field: "name", message: `pod name ${JSON.stringify(name)} ${message}` })),
  ];
  if (problems.length) throw invalid("BadRequest", "invalid path", problems);
  return { namespace, name };
}

/** The known parameters, each given at most once; empty values count as absent. Unknown parameters are ignored (kubectl adds e.g. timeout). */
function queryOf(c: ApiserverContext, names: readonly string[]): Record<string, string> {
  const all = c.req.queries();
  const query: Record<string, string> = {};
  const problems: FieldProblem[] = [];
  for (const name of names) {
    const values = (all[name] ?? []).filter((value) => value !== "");
    if (values.length > 1) problems.push({ field: name, message: `${name} was given ${values.length} times; give it once` });
    else if (values[0] !== undefined) query[name] = values[0];
  }
  if (problems.length) throw invalid("BadRequest", "invalid query parameters", problems);
  return query;
}

function parseQuery<S extends v.GenericSchema>(schema: S, query: Record<string, string>): v.InferOutput<S> {
  const result = v.safeParse(schema, query);
  if (!result.success) throw invalid("BadRequest", "invalid query parameters", fieldProblems(result.issues));
  return result.output;
}

export function deviceRoutes(options: DeviceRoutesOptions): Hono<ApiserverEnv> {
  const { operations, authorizer, maxWaitSeconds, maxBodyBytes } = options;
  const mountQuery = mountQuerySchema(maxWaitSeconds);
  const unmountQuery = unmountQuerySchema(maxWaitSeconds);
  const routes = new Hono<ApiserverEnv>();

  routes.put(MOUNT_PATH, authorizeDeviceRequest(authorizer, MOUNT_SUBRESOURCE), limitBody(maxBodyBytes), async function mountDevices(c) {
    const target = podTarget(c);
    const query = parseQuery(mountQuery, queryOf(c, MOUNT_QUERY_PARAMETERS));
    const body = v.safeParse(MountBodySchema, await readJsonBody(c));
    if (!body.success) throw invalid("Invalid", `invalid mount request for pod ${target.namespace}/${target.name}`, fieldProblems(body.issues), target);
    const result = await operations.mount(
      target,
      { deviceType: query.device_type, ...(query.container ? { container: query.container } : {}), waitSeconds: query.wait_second },
      body.output,
      c.get("user")!,
      c.req.raw.signal,
    );
    return c.json(result, 200);
  });
  routes.all(MOUNT_PATH, methodNotAllowed("PUT"));

  routes.put(UNMOUNT_PATH, authorizeDeviceRequest(authorizer, UNMOUNT_SUBRESOURCE), limitBody(maxBodyBytes), async function unmountDevices(c) {
    const target = podTarget(c);
    const query = parseQuery(unmountQuery, queryOf(c, UNMOUNT_QUERY_PARAMETERS));
    const result = await operations.unmount(
      target,
      { deviceType: query.device_type, ...(query.container ? { container: query.container } : {}), waitSeconds: query.wait_second, force: query.force },
      c.get("user")!,
      c.req.raw.signal,
    );
    return c.json(result, 200);
  });
  routes.all(UNMOUNT_PATH, methodNotAllowed("PUT"));

  return routes;
}
