// The decoding step of kube-apiserver: JSON → typed object. Type mismatches are 400s worded
// like Go's encoding/json, unknown fields follow ?fieldValidation (Strict/Warn/Ignore),
// and OpenAPI "required" properties (from kubernetes-models) become 422 field errors later.
import { fieldError, pointerToFieldPath, type FieldError } from "./field-errors.ts";
import { QUANTITY_FORMAT_ERROR } from "./quantity.ts";
import { badRequest } from "./status.ts";
import type { KubeObject } from "./store.ts";
import { arrayElementType, attributesOf, mapValueType } from "./type-map.ts";

/** A kubernetes-models class: `new Model(obj).validate()` throws with ajv errors. */
export interface SchemaModel {
  new (data: never): { validate(): void };
}

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

export type FieldValidation = "Strict" | "Warn" | "Ignore";

export function parseFieldValidation(value: string | undefined): FieldValidation {
  if (value === undefined || value === "" || value === "Warn") return "Warn";
  if (value === "Strict" || value === "Ignore") return value;
  throw badRequest(`fieldValidation parameter unsupported: ${value}`);
}

export interface DecodeTarget {
  apiVersion: string;
  kind: string;
  /** client-node model name (e.g. "V1Pod") whose attribute map lists the known fields. */
  typeName: string;
  schema?: SchemaModel;
}

export interface Decoded {
  object: KubeObject;
  warnings: string[];
  /** Field errors from the OpenAPI schema (enums), reported with the strategy's 422. */
  schemaErrors: FieldError[];
}

/** Go type spelling for decode error messages. */
function goTypeName(type: string, format: string): string {
  if (type === "string") return format === "byte" ? "[]uint8" : "string";
  if (type === "number") return format === "" ? "int64" : format === "double" ? "float64" : format;
  if (type === "boolean") return "bool";
  if (type === "Date") return "v1.Time";
  if (type === "IntOrString") return "intstr.IntOrString";
  const element = arrayElementType(type);
  if (element !== undefined) return `[]${goTypeName(element, "")}`;
  const mapValue = mapValueType(type);
  if (mapValue !== undefined) return `map[string]${goTypeName(mapValue, "")}`;
  return goStructName(type);
}

function goStructName(typeName: string): string {
  const m = /^(?:[A-Z][a-z]+)?V\d+(?:alpha\d+|beta\d+)?([A-Z].*)$/.exec(typeName);
  return m ? `v1.${m[1]}` : typeName;
}

/** How Go's UnmarshalTypeError names a JSON value. */
function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "object") return "object";
  return typeof value;
}

/** Index of the first byte Go's base64.StdEncoding rejects, or undefined when valid. */
function firstNonBase64(text: string): number | undefined {
  const m = /^[A-Za-z0-9+/]*/.exec(text);
  const body = m?.[0].length ?? 0;
  const rest = text.slice(body);
  if (!/^={0,2}$/.test(rest) || (text.length % 4 !== 0 && rest.length > 0)) return body;
  if (text.length % 4 !== 0) return text.length - (text.length % 4);
  return undefined;
}

/**
 * metav1.Time is stored with second precision and MicroTime with microseconds, both in
 * UTC: what a client sent comes back the way Go re-encodes it.
 */
function formatGoTime(text: string, micro: boolean): string {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  const fraction = m?.[2] ?? "";
  const utc = new Date(Date.parse(`${m?.[1] ?? ""}${m?.[3] ?? "Z"}`)).toISOString().slice(0, 19);
  return micro ? `${utc}.${fraction.padEnd(6, "0").slice(0, 6)}Z` : `${utc}Z`;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

class DecodeWalker {
  readonly unknownFields: string[] = [];
  typeError: string | undefined;

    /** Checks `value` against `type`; returns the value with unknown fields dropped. */
  walk(value: unknown, type: string, format: string, path: string[], parentStruct: string): unknown {
    if (this.typeError !== undefined || value === null || value === undefined) return value;
    const fail = (): unknown => {
      const fractional = typeof value === "number" && !Number.isInteger(value);
      const described = fractional ? `number ${String(value)}` : jsonKind(value);
      this.typeError = `json: cannot unmarshal ${described} into Go struct field ${parentStruct}.${path.join(".")} of type ${goTypeName(type, format)}`;
      return value;
    };
    switch (type) {
      case "any":
      case "object":
        return value;
      case "string":
        if (typeof value !== "string") return fail();
        if (format === "byte") {
          const bad = firstNonBase64(value);
          if (bad !== undefined) this.typeError = `illegal base64 data at input byte ${bad}`;
        }
        return value;
      case "boolean":
        return typeof value === "boolean" ? value : fail();
      case "number":
        if (typeof value !== "number") return fail();
        if ((format === "int32" || format === "int64") && !Number.isInteger(value)) return fail();
        return value;
      case "Date":
      case "V1MicroTime": {
        if (typeof value !== "string") return fail();
        if (!RFC3339.test(value)) {
          this.typeError = `parsing time "${value}" as "2006-01-02T15:04:05Z07:00": cannot parse "${value}" as "2006"`;
          return value;
        }
        return formatGoTime(value, type === "V1MicroTime");
      }
      case "IntOrString":
        return typeof value === "string" || (typeof value === "number" && Number.isInteger(value)) ? value : fail();
    }
    const element = arrayElementType(type);
    if (element !== undefined) {
      if (!Array.isArray(value)) return fail();
      return value.map((item) => this.walk(item, element, "", path, parentStruct));
    }
    const mapValue = mapValueType(type);
    if (mapValue !== undefined) {
      if (typeof value !== "object" || Array.isArray(value)) return fail();
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        // A map's format ("byte" for Secret data) applies to its values.
        out[k] = this.walk(v, mapValue, format, path, parentStruct);
      }
      return out;
    }
    const attributes = attributesOf(type);
    if (!attributes) return value;
    if (typeof value !== "object" || Array.isArray(value)) return fail();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const attribute = attributes.get(k);
      if (!attribute) {
        this.unknownFields.push([...path, k].join("."));
        continue;
      }
      out[k] = this.walk(v, attribute.type, attribute.format, [...path, k], goStructName(type).replace(/^v1\./, ""));
    }
    return out;
  }
}

/** Go drops JSON nulls for omitempty fields; the stored object never carries them. */
export function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = dropNulls(v);
    return out;
  }
  return value;
}

export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

/** Decodes an already-parsed JSON body into the target kind, applying field validation. */
export function decodeObject(body: unknown, target: DecodeTarget, fieldValidation: FieldValidation): Decoded {
  const cannotHandle = (detail: string) =>
    badRequest(`${target.kind} in version "${target.apiVersion.split("/").pop()}" cannot be handled as a ${target.kind}: ${detail}`);
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest(`couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonKind(body)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`);
  }
  const raw = body as Record<string, unknown>;
  if (raw["kind"] !== undefined && raw["kind"] !== target.kind) {
    throw badRequest(`the kind in the data (${String(raw["kind"])}) does not match the expected kind (${target.kind})`);
  }
  if (raw["apiVersion"] !== undefined && raw["apiVersion"] !== target.apiVersion) {
    throw badRequest(`the API version in the data (${String(raw["apiVersion"])}) does not match the expected API version (${target.apiVersion})`);
  }
  const walker = new DecodeWalker();
  const pruned = walker.walk(dropNulls(body), target.typeName, "", [], target.kind) as Record<string, unknown>;
  if (walker.typeError !== undefined) throw cannotHandle(walker.typeError);
  const warnings: string[] = [];
  if (walker.unknownFields.length > 0) {
    const list = walker.unknownFields.map((f) => `unknown field "${f}"`);
    if (fieldValidation === "Strict") throw cannotHandle(`strict decoding error: ${list.join(", ")}`);
    if (fieldValidation === "Warn") warnings.push(...list);
  }
  const object = { ...pruned, apiVersion: target.apiVersion, kind: target.kind } as KubeObject;
  if (typeof object.metadata !== "object" || object.metadata === null) object.metadata = {};
  return { object, warnings, schemaErrors: schemaErrors(object, target, cannotHandle) };
}

function ajvErrorsOf(object: KubeObject, schema: SchemaModel): AjvError[] {
  try {
    new schema(object as never).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (!Array.isArray(errors)) throw e;
    return errors;
  }
}

/** The client-node type at a JSON pointer below `rootType`, if known. */
function typeAt(rootType: string, pointer: string): string | undefined {
  let type: string | undefined = rootType;
  for (const part of pointer.split("/").slice(1)) {
    if (type === undefined) return undefined;
    const element = arrayElementType(type);
    const mapValue = mapValueType(type);
    if (element !== undefined && /^\d+$/.test(part)) type = element;
    else if (mapValue !== undefined) type = mapValue;
    else type = attributesOf(type)?.get(part.replace(/~1/g, "/").replace(/~0/g, "~"))?.type;
  }
  return type;
}

/** What Go puts in a non-omitempty field the JSON did not mention, as it encodes it back. */
function goZeroValue(type: string | undefined): unknown {
  if (type === "string") return "";
  if (type === "number" || type === "IntOrString") return 0;
  if (type === "boolean") return false;
  if (type === undefined || type === "Date" || type === "any" || arrayElementType(type) !== undefined || mapValueType(type) !== undefined) return null;
  return {};
}

/**
 * Schema checks after the Go-style decode: OpenAPI "required" only means the Go field is
 * not omitempty, so a missing one becomes its zero value (validation proper decides if
 * that is acceptable, as in kube); enum violations are 422 NotSupported.
 */
function schemaErrors(object: KubeObject, target: DecodeTarget, cannotHandle: (d: string) => Error): FieldError[] {
  if (!target.schema) return [];
  for (let round = 0; round < 8; round++) {
    const missing = ajvErrorsOf(object, target.schema).filter((e) => e.keyword === "required");
    if (missing.length === 0) break;
    for (const err of missing) {
      const parent = valueAt(object, err.instancePath);
      if (parent === null || typeof parent !== "object") continue;
      const property = String(err.params["missingProperty"]);
      (parent as Record<string, unknown>)[property] = goZeroValue(typeAt(target.typeName, `${err.instancePath}/${property}`));
    }
  }
  const fieldErrors: FieldError[] = [];
  for (const err of ajvErrorsOf(object, target.schema)) {
    if (err.keyword === "enum") {
      const allowed = (err.params["allowedValues"] as unknown[] | undefined) ?? [];
      const value = valueAt(object, err.instancePath);
      fieldErrors.push(fieldError.notSupported(pointerToFieldPath(err.instancePath), value, allowed.map(String)));
    } else if (err.keyword === "format" && err.params["format"] === "quantity") {
      throw cannotHandle(QUANTITY_FORMAT_ERROR);
    } else if (err.keyword !== "oneOf" && err.keyword !== "type" && err.keyword !== "required") {
      // Types were already checked Go-style above; anything else the schema rejects is a decode failure.
      throw cannotHandle(`${pointerToFieldPath(err.instancePath)}: ${err.message ?? err.keyword}`);
    }
  }
  return fieldErrors;
}

function valueAt(root: unknown, pointer: string): unknown {
  let current = root;
  for (const part of pointer.split("/").slice(1)) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return current;
}
