// Checks of a slave pod's labels and annotations, with Kubernetes' own rules
// (src/api/k8s-names.ts), so that what the agent would send is refused here
// with the offending key named, instead of by the API server half-way
// through a mount.
import { annotationKeyProblems, ANNOTATIONS_TOTAL_MAX_BYTES, labelValueProblems, qualifiedNameProblems } from "../../src/api/k8s-names.ts";

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
    for (const p of annotationKeyProblems(key)) problems.push(`${where}: key ${JSON.stringify(key)}: ${p}`);
  }
  if (total > ANNOTATIONS_TOTAL_MAX_BYTES) problems.push(`${where}: total size ${total} bytes must be no more than ${ANNOTATIONS_TOTAL_MAX_BYTES} bytes`);
  return problems;
}
