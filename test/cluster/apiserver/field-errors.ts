// field.ErrorList and errors.NewInvalid from k8s.io/apimachinery, reproduced so 422 bodies
// read exactly like kube's: `Pod "x" is invalid: spec.containers[0].name: Required value`.
import { ApiError } from "./status.ts";

export type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueForbidden"
  | "FieldValueNotSupported"
  | "FieldValueDuplicate"
  | "FieldValueTooLong"
  | "FieldValueNotFound";

export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** ErrorBody(): the text after "<field>: ". */
  body: string;
}

/** Go's %q-ish rendering of a value inside "Invalid value: ...". */
function renderValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null || value === undefined) return "null";
  return JSON.stringify(value);
}

export const fieldError = {
  required(field: string, detail = ""): FieldError {
    return { type: "FieldValueRequired", field, body: detail === "" ? "Required value" : `Required value: ${detail}` };
  },
  invalid(field: string, value: unknown, detail: string): FieldError {
    return { type: "FieldValueInvalid", field, body: `Invalid value: ${renderValue(value)}: ${detail}` };
  },
  /** field.Invalid with a fmt.Stringer value (e.g. a Quantity): printed without quotes. */
  invalidStringer(field: string, text: string, detail: string): FieldError {
    return { type: "FieldValueInvalid", field, body: `Invalid value: ${text}: ${detail}` };
  },
  notFound(field: string, value: unknown): FieldError {
    return { type: "FieldValueNotFound", field, body: `Not found: ${renderValue(value)}` };
  },
  forbidden(field: string, detail: string): FieldError {
    return { type: "FieldValueForbidden", field, body: `Forbidden: ${detail}` };
  },
  notSupported(field: string, value: unknown, supported: string[]): FieldError {
    const list = supported.map((s) => JSON.stringify(s)).join(", ");
    return { type: "FieldValueNotSupported", field, body: `Unsupported value: ${renderValue(value)}: supported values: ${list}` };
  },
  duplicate(field: string, value: unknown): FieldError {
    return { type: "FieldValueDuplicate", field, body: `Duplicate value: ${renderValue(value)}` };
  },
  tooLong(field: string, max: number): FieldError {
    return { type: "FieldValueTooLong", field, body: `Too long: may not be more than ${max} bytes` };
  },
};

export function fieldErrorString(e: FieldError): string {
  return `${e.field}: ${e.body}`;
}

/** Kind as printed by schema.GroupKind.String(): "Pod", "PodDisruptionBudget.policy". */
export function groupKindString(group: string, kind: string): string {
  return group === "" ? kind : `${kind}.${group}`;
}

export function invalid(group: string, kind: string, name: string, errs: FieldError[]): ApiError {
  // utilerrors.NewAggregate de-duplicates identical messages and prints one bare, many in [a, b].
  const messages = [...new Set(errs.map(fieldErrorString))];
  const aggregate = messages.length === 1 ? messages[0] : `[${messages.join(", ")}]`;
  const details: Record<string, unknown> = { name, kind };
  if (group !== "") details["group"] = group;
  details["causes"] = errs.map((e) => ({ reason: e.type, message: e.body, field: e.field }));
  return new ApiError({
    code: 422,
    reason: "Invalid",
    message:
      messages.length === 0
        ? `${groupKindString(group, kind)} "${name}" is invalid`
        : `${groupKindString(group, kind)} "${name}" is invalid: ${aggregate}`,
    details,
  });
}

/** Converts a JSON pointer ("/spec/containers/0/name") to kube's field path ("spec.containers[0].name"). */
export function pointerToFieldPath(pointer: string): string {
  const parts = pointer.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let out = "";
  for (const part of parts) {
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out;
}
