// What the generic REST handlers need to know about one resource (the "strategy" of a
// kube registry): identity, discovery data, defaulting, validation, printing.
import type { DecodeTarget } from "./decode.ts";
import type { FieldError } from "./field-errors.ts";
import type { KubeObject } from "./store.ts";
import type { TableConvertor } from "./table.ts";
import type { NameRule } from "./validation.ts";

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "deletecollection";

/** Read access to stored objects for strategies that consult other objects. */
export interface StoreReader {
  get(bucket: string, namespace: string | undefined, name: string): KubeObject | undefined;
}

export interface ResourceType {
  group: string;
  version: string;
  /** Plural resource name, e.g. "pods". */
  resource: string;
  kind: string;
  singularName: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: Verb[];
  /** Store bucket holding these objects. */
  bucket: string;
  decode: DecodeTarget;
  nameRule: NameRule;
  /** Field selector labels this kind supports (metadata.name and metadata.namespace always). */
  fieldSelectors: readonly string[];
  selectableFields(obj: KubeObject): Record<string, string>;
  /** Has a status subresource: PUT/PATCH on the main resource keeps the old status. */
  hasStatus: boolean;
  /** metadata.generation starts at 1 and counts spec changes. */
  tracksGeneration: boolean;
  allowCreateOnUpdate: boolean;
  /** DELETE answers with the object instead of a Status (pods do). */
  returnDeletedObject: boolean;
  /** Defaulting + admission mutations + PrepareForCreate. May throw ApiError. */
  prepareForCreate?(obj: KubeObject, store: StoreReader): void;
  /** Admission checks that need other objects (e.g. the pod's service account). */
  admitCreate?(obj: KubeObject, store: StoreReader): void;
  /** Normalisation applied to every write of the main resource (e.g. quantity canonical form). */
  normalize?(obj: KubeObject): void;
  validate?(obj: KubeObject): FieldError[];
  validateUpdate?(obj: KubeObject, old: KubeObject): FieldError[];
  validateStatusUpdate?(obj: KubeObject, old: KubeObject): FieldError[];
  /** Seconds of graceful deletion for this object, 0 = remove now. */
  deletionGracePeriod?(obj: KubeObject, requested: number | undefined, store: StoreReader): number;
  table?: TableConvertor;
}

export function apiVersionOf(rt: { group: string; version: string }): string {
  return rt.group === "" ? rt.version : `${rt.group}/${rt.version}`;
}

export function bucketName(group: string, resource: string): string {
  return `${group === "" ? "core" : group}/${resource}`;
}

export function metadataFields(obj: KubeObject, namespaced: boolean): Record<string, string> {
  const fields: Record<string, string> = { "metadata.name": obj.metadata.name ?? "" };
  if (namespaced) fields["metadata.namespace"] = obj.metadata.namespace ?? "";
  return fields;
}
