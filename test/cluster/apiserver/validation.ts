// Validation shared by every kind: ObjectMeta rules and the name formats of
// k8s.io/apimachinery/pkg/util/validation, with kube's exact error wording.
import { fieldError, type FieldError } from "./field-errors.ts";
import type { KubeObject, ObjectMeta } from "./store.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const DNS1123_LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
export const DNS1123_SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_NAME_MESSAGE =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MESSAGE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/** Returns the problems with `value` as a DNS-1123 label (empty when valid). */
export function dns1123LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push("must be no more than 63 characters");
  if (!DNS1123_LABEL.test(value)) problems.push(DNS1123_LABEL_MESSAGE);
  return problems;
}

export function dns1123SubdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 253) problems.push("must be no more than 253 characters");
  if (!DNS1123_SUBDOMAIN.test(value)) problems.push(DNS1123_SUBDOMAIN_MESSAGE);
  return problems;
}

/** IsQualifiedName: "[prefix/]name" as used by label keys, annotation keys, resource names. */
export function qualifiedNameProblems(value: string): string[] {
  const parts = value.split("/");
  let name = value;
  const problems: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0] ?? "";
    name = parts[1] ?? "";
    if (prefix.length === 0) problems.push("prefix part must be non-empty");
    else for (const p of dns1123SubdomainProblems(prefix)) problems.push(`prefix part ${p}`);
  } else if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  if (name.length === 0) problems.push("name part must be non-empty");
  else if (name.length > 63) problems.push("name part must be no more than 63 characters");
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name)) problems.push(QUALIFIED_NAME_MESSAGE);
  return problems;
}

export type NameRule = "dns1123Label" | "dns1123Subdomain" | "any";

function nameProblems(rule: NameRule, value: string): string[] {
  if (rule === "dns1123Label") return dns1123LabelProblems(value);
  if (rule === "dns1123Subdomain") return dns1123SubdomainProblems(value);
  // path segment rules still apply to every name.
  if (value === "." || value === "..") return [`may not be '${value}'`];
  if (value.includes("/")) return ["may not contain '/'"];
  if (value.includes("%")) return ["may not contain '%'"];
  return [];
}

const STANDARD_FINALIZERS = new Set(["kubernetes", "orphan", "foregroundDeletion"]);

export interface MetaValidationOptions {
  namespaced: boolean;
  nameRule: NameRule;
}

export function validateObjectMeta(meta: ObjectMeta, opts: MetaValidationOptions): FieldError[] {
  const errs: FieldError[] = [];
  const name = meta.name ?? "";
  if (name === "") {
    errs.push(fieldError.required("metadata.name", "name or generateName is required"));
  } else {
    for (const p of nameProblems(opts.nameRule, name)) errs.push(fieldError.invalid("metadata.name", name, p));
  }
  if (opts.namespaced) {
    if (!meta.namespace) errs.push(fieldError.required("metadata.namespace"));
  } else if (meta.namespace) {
    errs.push(fieldError.forbidden("metadata.namespace", "not allowed on this type"));
  }
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    for (const p of qualifiedNameProblems(key)) errs.push(fieldError.invalid("metadata.labels", key, p));
    if (value.length > 63) errs.push(fieldError.invalid("metadata.labels", value, "must be no more than 63 characters"));
    if (!LABEL_VALUE.test(value)) errs.push(fieldError.invalid("metadata.labels", value, LABEL_VALUE_MESSAGE));
  }
  let annotationBytes = 0;
  for (const [key, value] of Object.entries(meta.annotations ?? {})) {
    for (const p of qualifiedNameProblems(key.toLowerCase())) errs.push(fieldError.invalid("metadata.annotations", key, p));
    annotationBytes += key.length + value.length;
  }
  if (annotationBytes > 256 * 1024) errs.push(fieldError.tooLong("metadata.annotations", 256 * 1024));
  (meta.finalizers ?? []).forEach((finalizer, i) => {
    const path = `metadata.finalizers[${i}]`;
    for (const p of qualifiedNameProblems(finalizer)) errs.push(fieldError.invalid(path, finalizer, p));
    if (!finalizer.includes("/") && !STANDARD_FINALIZERS.has(finalizer)) {
      errs.push(fieldError.invalid(path, finalizer, "name is neither a standard finalizer name nor is it fully qualified"));
    }
  });
  errs.push(...validateOwnerReferences(meta));
  return errs;
}

function validateOwnerReferences(meta: ObjectMeta): FieldError[] {
  const errs: FieldError[] = [];
  const refs = meta.ownerReferences ?? [];
  const controllers: string[] = [];
  refs.forEach((ref) => {
    const path = "metadata.ownerReferences";
    const version = (ref.apiVersion ?? "").split("/").pop() ?? "";
    if (version === "") errs.push(fieldError.invalid(`${path}.apiVersion`, ref.apiVersion ?? "", "version must not be empty"));
    if (!ref.kind) errs.push(fieldError.invalid(`${path}.kind`, ref.kind ?? "", "kind must not be empty"));
    if (!ref.name) errs.push(fieldError.invalid(`${path}.name`, ref.name ?? "", "name must not be empty"));
    if (!ref.uid) errs.push(fieldError.invalid(`${path}.uid`, ref.uid ?? "", "uid must not be empty"));
    if (ref.controller) controllers.push(`${ref.kind}/${ref.name}`);
  });
  if (controllers.length > 1) {
    errs.push(
      fieldError.invalid(
        "metadata.ownerReferences",
        refs,
        `Only one reference can have Controller set to true. Found "true" in references for ${controllers.join(" and ")}`,
      ),
    );
  }
  return errs;
}

/** ValidateObjectMetaUpdate: identity fields are immutable. */
export function validateObjectMetaUpdate(next: ObjectMeta, old: ObjectMeta): FieldError[] {
  const errs: FieldError[] = [];
  const immutable = (field: keyof ObjectMeta & string) => {
    if (next[field] !== undefined && next[field] !== old[field]) {
      errs.push(fieldError.invalid(`metadata.${field}`, next[field], "field is immutable"));
    }
  };
  immutable("name");
  immutable("namespace");
  immutable("uid");
  return errs;
}

/** The strategy hook signature: extra validation beyond the schema and ObjectMeta. */
export type Validator = (obj: KubeObject, old: KubeObject | undefined) => FieldError[];
