// The three PATCH flavours kube-apiserver accepts for built-in kinds: RFC 6902 JSON patch,
// RFC 7386 merge patch and strategic merge patch (lists merged by their patchMergeKey).
import { applyPatch as applyJsonPatchOperations, type Operation } from "fast-json-patch";
import { badRequest, unprocessable, unsupportedMediaType } from "./status.ts";
import { arrayElementType, attributesOf, mapValueType } from "./type-map.ts";

type Json = Record<string, unknown>;

export const PATCH_MEDIA_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/apply-patch+yaml",
  "application/strategic-merge-patch+json",
];

export type PatchType = "json" | "merge" | "strategic";

export function patchTypeOf(contentType: string | undefined): PatchType {
  const media = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (media === "application/json-patch+json") return "json";
  if (media === "application/merge-patch+json") return "merge";
  if (media === "application/strategic-merge-patch+json") return "strategic";
  throw unsupportedMediaType(media, PATCH_MEDIA_TYPES);
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** evanphx/json-patch style wording for the failures fast-json-patch reports. */
function jsonPatchFailure(error: { name?: string; operation?: Operation; message: string }): string {
  const op = error.operation;
  const path = op?.path ?? "";
  switch (error.name) {
    case "TEST_OPERATION_FAILED":
      return `testing value ${path} failed: test failed`;
    case "OPERATION_PATH_UNRESOLVABLE":
      return `${op?.op ?? "patch"} operation does not apply: doc is missing path: "${path}": missing value`;
    case "OPERATION_FROM_UNRESOLVABLE":
      return `${op?.op ?? "patch"} operation does not apply: doc is missing from path: "${(op as { from?: string } | undefined)?.from ?? ""}": missing value`;
    default:
      return error.message.split("\n")[0] ?? error.message;
  }
}

const MALFORMED = new Set([
  "SEQUENCE_NOT_AN_ARRAY",
  "OPERATION_NOT_AN_OBJECT",
  "OPERATION_OP_INVALID",
  "OPERATION_PATH_INVALID",
  "OPERATION_FROM_REQUIRED",
  "OPERATION_VALUE_REQUIRED",
  "OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED",
]);

export function applyJsonPatch(document: Json, patch: unknown): Json {
  if (!Array.isArray(patch)) throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  try {
    const result = applyJsonPatchOperations(structuredClone(document), patch as Operation[], true, true).newDocument;
    if (!isObject(result)) throw unprocessable("the patch replaced the whole object with a non-object");
    return result;
  } catch (e) {
    const err = e as { name?: string; operation?: Operation; message: string };
    if (err.name !== undefined && MALFORMED.has(err.name)) throw badRequest(err.message.split("\n")[0] ?? err.message);
    if (err.name !== undefined && (err.name.startsWith("OPERATION_") || err.name === "TEST_OPERATION_FAILED")) {
      throw unprocessable(jsonPatchFailure(err));
    }
    throw e;
  }
}

/** RFC 7386. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Json = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = applyMergePatch(result[k], v);
  }
  return result;
}

interface ListStrategy {
  /** patchMergeKey; absent for merged primitive lists (sets). */
  mergeKey?: string;
}

/** patchStrategy:"merge" fields of the built-in types (everything else is atomic). */
const MERGE_LISTS: Record<string, ListStrategy> = {
  "V1ObjectMeta.finalizers": {},
  "V1ObjectMeta.ownerReferences": { mergeKey: "uid" },
  "V1PodSpec.containers": { mergeKey: "name" },
  "V1PodSpec.initContainers": { mergeKey: "name" },
  "V1PodSpec.ephemeralContainers": { mergeKey: "name" },
  "V1PodSpec.volumes": { mergeKey: "name" },
  "V1PodSpec.imagePullSecrets": { mergeKey: "name" },
  "V1PodSpec.hostAliases": { mergeKey: "ip" },
  "V1PodSpec.schedulingGates": { mergeKey: "name" },
  "V1PodSpec.resourceClaims": { mergeKey: "name" },
  "V1PodSpec.topologySpreadConstraints": { mergeKey: "topologyKey" },
  "V1Container.ports": { mergeKey: "containerPort" },
  "V1Container.env": { mergeKey: "name" },
  "V1Container.volumeMounts": { mergeKey: "mountPath" },
  "V1Container.volumeDevices": { mergeKey: "devicePath" },
  "V1EphemeralContainer.env": { mergeKey: "name" },
  "V1EphemeralContainer.volumeMounts": { mergeKey: "mountPath" },
  "V1EphemeralContainer.volumeDevices": { mergeKey: "devicePath" },
  "V1PodStatus.conditions": { mergeKey: "type" },
  "V1PodStatus.podIPs": { mergeKey: "ip" },
  "V1PodStatus.hostIPs": { mergeKey: "ip" },
  "V1NodeSpec.podCIDRs": {},
  "V1NodeStatus.conditions": { mergeKey: "type" },
  "V1NodeStatus.addresses": { mergeKey: "type" },
  "V1NamespaceStatus.conditions": { mergeKey: "type" },
  "V1PodDisruptionBudgetStatus.conditions": { mergeKey: "type" },
  "V1ServiceAccount.secrets": { mergeKey: "name" },
};

const DIRECTIVE_PREFIXES = ["$setElementOrder/", "$deleteFromPrimitiveList/"];

/** Strips SMP directives from a value that is being inserted as-is. */
function withoutDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDirectives);
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "$patch" || k === "$retainKeys" || DIRECTIVE_PREFIXES.some((p) => k.startsWith(p))) continue;
    if (v !== null) out[k] = withoutDirectives(v);
  }
  return out;
}

function mergeKeyedList(original: unknown[], patch: unknown[], mergeKey: string, elementType: string | undefined): unknown[] {
  if (patch.some((item) => isObject(item) && item["$patch"] === "replace")) {
    return patch.filter((item) => !(isObject(item) && item["$patch"] === "replace")).map(withoutDirectives);
  }
  const result = original.map((x) => structuredClone(x));
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`unable to find api field in struct for the merge key "${mergeKey}"`);
    const key = item[mergeKey];
    const index = result.findIndex((x) => isObject(x) && x[mergeKey] === key);
    if (item["$patch"] === "delete") {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (key === undefined) throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
    if (index >= 0) result[index] = mergeStrategic(result[index] as Json, item, elementType);
    else result.push(withoutDirectives(item));
  }
  return result;
}

function mergePrimitiveSet(original: unknown[], patch: unknown[]): unknown[] {
  const result = [...original];
  for (const v of patch) if (!result.includes(v)) result.push(v);
  return result;
}

/** Applies the $setElementOrder/<field> directive: orders the merged list like the patch says. */
function applyElementOrder(list: unknown[], order: unknown[], mergeKey: string | undefined): unknown[] {
  const keyOf = (x: unknown) => (mergeKey && isObject(x) ? x[mergeKey] : x);
  const orderKeys = order.map((o) => keyOf(o));
  const listed = orderKeys.flatMap((k) => list.filter((x) => keyOf(x) === k));
  const rest = list.filter((x) => !orderKeys.includes(keyOf(x)));
  return [...listed, ...rest];
}

export function mergeStrategic(original: Json, patch: Json, typeName: string | undefined): Json {
  if (patch["$patch"] === "replace") return withoutDirectives(patch) as Json;
  const attributes = typeName ? attributesOf(typeName) : undefined;
  const valueTypeForMap = typeName ? mapValueType(typeName) : undefined;
  let result: Json = { ...original };
  const retain = patch["$retainKeys"];
  if (Array.isArray(retain)) {
    result = Object.fromEntries(Object.entries(result).filter(([k]) => retain.includes(k)));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value)) result[field] = current.filter((v) => !value.includes(v));
      continue;
    }
    if (value === null) {
      delete result[key];
      continue;
    }
    const fieldType = attributes?.get(key)?.type ?? valueTypeForMap;
    if (isObject(value)) {
      if (value["$patch"] === "delete") {
        delete result[key];
        continue;
      }
      result[key] = isObject(result[key]) ? mergeStrategic(result[key] as Json, value, fieldType) : withoutDirectives(value);
      continue;
    }
    if (Array.isArray(value)) {
      const strategy = typeName ? MERGE_LISTS[`${typeName}.${key}`] : undefined;
      const current = Array.isArray(result[key]) ? (result[key] as unknown[]) : [];
      if (!strategy) result[key] = withoutDirectives(value);
      else if (strategy.mergeKey) result[key] = mergeKeyedList(current, value, strategy.mergeKey, fieldType ? arrayElementType(fieldType) : undefined);
      else result[key] = mergePrimitiveSet(current, value);
      continue;
    }
    result[key] = value;
  }
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith("$setElementOrder/") || !Array.isArray(order)) continue;
    const field = key.slice("$setElementOrder/".length);
    const list = result[field];
    const strategy = typeName ? MERGE_LISTS[`${typeName}.${field}`] : undefined;
    if (Array.isArray(list)) result[field] = applyElementOrder(list, order, strategy?.mergeKey);
  }
  return result;
}

export function applyPatch(type: PatchType, document: Json, patch: unknown, rootType: string): Json {
  switch (type) {
    case "json":
      return applyJsonPatch(document, patch);
    case "merge": {
      if (!isObject(patch)) throw badRequest("json: cannot unmarshal array into Go value of type map[string]interface {}");
      return applyMergePatch(document, patch) as Json;
    }
    case "strategic":
      if (!isObject(patch)) throw badRequest("json: cannot unmarshal array into Go value of type map[string]interface {}");
      return mergeStrategic(document, patch, rootType);
  }
}
