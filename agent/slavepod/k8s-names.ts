// Kubernetes' own syntax rules for label keys and values, annotation keys and
// resource names (k8s.io/apimachinery/pkg/util/validation), so that what the
// agent would send is refused here with the offending key named, instead of by
// the API server half-way through a mount.

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`);
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const DNS1123_SUBDOMAIN_MAX = 253;
export const QUALIFIED_NAME_MAX = 63;
export const LABEL_VALUE_MAX = 63;
/** Sum of the lengths of all annotation keys and values (apimachinery's TotalAnnotationSizeLimitB). */
export const ANNOTATIONS_TOTAL_MAX = 256 * 1024;

/** Problems with a DNS-1123 subdomain (e.g. a label key's prefix); empty when valid. */
export function dnsSubdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX) problems.push(`must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`);
  if (!DNS1123_SUBDOMAIN.test(value)) {
    problems.push("must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
  }
  return problems;
}

/** Problems with a qualified name ("prefix/name" or "name"): label keys, annotation keys, resource names. */
export function qualifiedNameProblems(value: string): string[] {
  const parts = value.split("/");
  let name = value;
  const problems: string[] = [];
  if (parts.length === 2) {
    const [prefix = "", rest = ""] = parts;
    name = rest;
    if (prefix.length === 0) problems.push("prefix part must be non-empty");
    else problems.push(...dnsSubdomainProblems(prefix).map((p) => `prefix part ${p}`));
  } else if (parts.length > 2) {
    return ["a qualified name must consist of an optional DNS subdomain prefix, a '/', and a name"];
  }
  if (name.length === 0) problems.push("name part must be non-empty");
  else if (name.length > QUALIFIED_NAME_MAX) problems.push(`name part must be no more than ${QUALIFIED_NAME_MAX} characters`);
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name)) {
    problems.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
  return problems;
}

export function labelValueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > LABEL_VALUE_MAX) problems.push(`must be no more than ${LABEL_VALUE_MAX} characters`);
  if (!LABEL_VALUE.test(value)) {
    problems.push("must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
  return problems;
}

/** One line per problem, each naming the map, the key and what is wrong, as the API server words them. */
export function labelProblems(labels: Record<string, string>, where: string): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    for (const p of qualifiedNameProblems(key)) problems.push(`${where}: key ${JSON.stringify(key)}: ${p}`);
    for (const p of labelValueProblems(value)) problems.push(`${where}[${JSON.stringify(key)}]: value ${JSON.stringify(value)}: ${p}`);
  }
  return problems;
}

export function annotationProblems(annotations: Record<string, string>, where: string): string[] {
  const problems: string[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    total += key.length + value.length;
    for (const p of qualifiedNameProblems(key.toLowerCase())) problems.push(`${where}: key ${JSON.stringify(key)}: ${p}`);
  }
  if (total > ANNOTATIONS_TOTAL_MAX) problems.push(`${where}: total size ${total} bytes must be no more than ${ANNOTATIONS_TOTAL_MAX} bytes`);
  return problems;
}
