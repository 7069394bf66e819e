// The caller's RFC 6902 patches to a slave pod, limited to paths that change
// where and how it is scheduled and how it is labelled. Slave pods are created
// with the agent's rights: a patch must not be able to make a privileged,
// host-mounting, differently-imaged or differently-placed pod.
import type { V1Pod } from "@kubernetes/client-node";
import * as jsonPatch from "fast-json-patch";
import type { JsonPatchOperation } from "../../src/api/agent.ts";
import { StatusError, type StatusCause } from "../../src/api/status.ts";
import { isReservedKey } from "./keys.ts";

interface PathRule {
  prefix: string[];
  /** Whether paths below the prefix are allowed too. */
  subtree: boolean;
  /** The last token is a map key that must not be one of device-mounter's own. */
  key?: boolean;
  shown: string;
}

const RULES: PathRule[] = [
  { prefix: ["spec", "schedulerName"], subtree: false, shown: "/spec/schedulerName" },
  { prefix: ["spec", "priorityClassName"], subtree: false, shown: "/spec/priorityClassName" },
  { prefix: ["spec", "tolerations"], subtree: true, shown: "/spec/tolerations[/...]" },
  { prefix: ["spec", "affinity"], subtree: true, shown: "/spec/affinity[/...] (the pinning to the node stays)" },
  { prefix: ["spec", "nodeSelector"], subtree: true, shown: "/spec/nodeSelector[/...]" },
  { prefix: ["metadata", "labels"], subtree: false, key: true, shown: "/metadata/labels/<key>" },
  { prefix: ["metadata", "annotations"], subtree: false, key: true, shown: "/metadata/annotations/<key>" },
];

export const ALLOWED_PATCH_PATHS = RULES.map((r) => r.shown);

/** RFC 6901: "" is the whole document; otherwise "/"-separated tokens with ~1 for "/" and ~0 for "~". */
function pointerTokens(pointer: string): string[] | undefined {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return undefined;
  return pointer.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** Why the pointer may not be written, or undefined when it may. */
function pathProblem(pointer: string): string | undefined {
  const tokens = pointerTokens(pointer);
  if (!tokens) return `${JSON.stringify(pointer)} is not a JSON pointer (it must start with "/")`;
  for (const rule of RULES) {
    const { prefix } = rule;
    if (!prefix.every((t, i) => tokens[i] === t)) continue;
    if (rule.key) {
      if (tokens.length !== prefix.length + 1) break;
      const key = tokens[prefix.length] ?? "";
      if (isReservedKey(key)) return `${pointer} is device-mounter's own key ${key}`;
      return undefined;
    }
    if (tokens.length === prefix.length || rule.subtree) return undefined;
  }
  return `${pointer || '"" (the whole pod)'} is not a path patches may change`;
}

/**
 * Every operation that touches a path outside the allowlist. A `test` only
 * reads, so it may look anywhere; move and copy are checked at both ends.
 */
export function patchPathProblems(patches: readonly JsonPatchOperation[]): StatusCause[] {
  const causes: StatusCause[] = [];
  patches.forEach((op, i) => {
    const touched = op.op === "test" ? [] : op.op === "move" || op.op === "copy" ? [op.from, op.path] : [op.path];
    for (const pointer of touched) {
      if (pointer === undefined) continue;
      const problem = pathProblem(pointer);
      if (problem) causes.push({ reason: "FieldValueForbidden", field: `patches[${i}]`, message: `patch ${i} (${op.op}): ${problem}` });
    }
  });
  return causes;
}

/** Applies the patches (already checked) to a copy of the pod; a patch that cannot apply is a 422 naming it. */
export function applyPatches(pod: V1Pod, patches: readonly JsonPatchOperation[]): V1Pod {
  try {
    return jsonPatch.applyPatch(pod, patches as unknown as jsonPatch.Operation[], true, false).newDocument;
  } catch (error) {
    const index = (error as { index?: number }).index;
    // The library's message carries the whole document after its first line.
    const reason = ((error as Error).message ?? String(error)).split("\n")[0];
    const op = index === undefined ? undefined : patches[index];
    const which = op ? `patch ${index} (${op.op} ${op.path})` : "patches";
    throw new StatusError("Invalid", `${which} cannot be applied to the slave pod: ${reason}`, {
      causes: [{ reason: "FieldValueInvalid", field: index === undefined ? "patches" : `patches[${index}]`, message: reason }],
    });
  }
}

/** The required node affinity that keeps a slave pod on the owner's node while the scheduler still places it. */
export function nodePinning(nodeName: string) {
  return {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: [nodeName] }] }],
    },
  };
}

/**
 * Node selector terms are ORed: every one of them must pin the node, or a
 * patch that adds a term would let the pod go elsewhere.
 */
export function nodePinningProblem(pod: V1Pod, nodeName: string): string | undefined {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  const pins = (term: { matchFields?: Array<{ key: string; operator: string; values?: string[] }> }) =>
    (term.matchFields ?? []).some((f) => f.key === "metadata.name" && f.operator === "In" && f.values?.length === 1 && f.values[0] === nodeName);
  if (!Array.isArray(terms) || terms.length === 0) return `the patches removed the required node affinity that pins the slave pod to node ${nodeName}`;
  const loose = terms.findIndex((term) => !pins(term ?? {}));
  if (loose >= 0) return `nodeSelectorTerms[${loose}] of the required node affinity does not pin the slave pod to node ${nodeName} (matchFields metadata.name In [${nodeName}])`;
  return undefined;
}
