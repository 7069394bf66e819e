// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation), worded so
// that a caller learns what a valid value looks like. Each check returns the
// list of problems; empty means valid.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const DNS1123_LABEL_MAX = 63;
export const DNS1123_SUBDOMAIN_MAX = 253;
/** Total bytes of all annotation keys and values on one object (TotalAnnotationSizeLimitB). */
export const ANNOTATIONS_TOTAL_MAX_BYTES = 256 * 1024;

export function dns1123LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > DNS1123_LABEL_MAX) problems.push(`must be no more than ${DNS1123_LABEL_MAX} characters`);
  if (!DNS1123_LABEL.test(value)) problems.push("must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name' or '123-abc')");
  return problems;
}

export function dns1123SubdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX) problems.push(`must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`);
  if (!DNS1123_SUBDOMAIN.test(value)) problems.push("must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')");
  return problems;
}

/** [prefix/]name, as used by label keys, annotation keys and resource names. */
export function qualifiedNameProblems(value: string): string[] {
  const parts = value.split("/");
  if (parts.length > 2) return ["a qualified name may contain at most one '/' (e.g. 'example.com/my-name')"];
  const [first = "", second] = parts;
  const name = second ?? first;
  const problems: string[] = [];
  if (second !== undefined) {
    if (first.length === 0) problems.push("prefix part must be non-empty");
    else problems.push(...dns1123SubdomainProblems(first).map((p) => `prefix part ${p}`));
  }
  if (name.length === 0) problems.push("name part must be non-empty");
  else {
    if (name.length > 63) problems.push("name part must be no more than 63 characters");
    if (!QUALIFIED_NAME_PART.test(name)) problems.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')");
  }
  return problems;
}

export function labelValueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push("must be no more than 63 characters");
  if (!LABEL_VALUE.test(value)) problems.push("must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value')");
  return problems;
}

/** Annotation keys are checked case-insensitively (ValidateAnnotations lower-cases them). */
export function annotationKeyProblems(value: string): string[] {
  return qualifiedNameProblems(value.toLowerCase());
}
