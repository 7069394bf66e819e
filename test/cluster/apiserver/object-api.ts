// The generic registry store (k8s.io/apiserver/pkg/registry/generic/registry): create,
// update, patch, delete and list semantics shared by every stored kind, used by the REST
// handlers and by the in-process controllers alike.
import { randomUUID } from "node:crypto";
import { decodeObject, type FieldValidation } from "./decode.ts";
import { invalid, type FieldError } from "./field-errors.ts";
import { applyPatch, type PatchType } from "./patch.ts";
import { deepEqual } from "./deep-equal.ts";
import { generateName } from "./random-names.ts";
import { apiVersionOf, bucketName, type ResourceType, type StoreReader } from "./resource-type.ts";
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector } from "./selectors.ts";
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  notFound,
  OPTIMISTIC_LOCK_MESSAGE,
  successStatus,
} from "./status.ts";
import type { KubeObject, ObjectStore } from "./store.ts";
import { validateObjectMeta, validateObjectMetaUpdate } from "./validation.ts";

export interface WriteOptions {
  fieldValidation?: FieldValidation;
  dryRun?: boolean;
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
}

export type PropagationPolicy = "Background" | "Foreground" | "Orphan";

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: PropagationPolicy;
  orphanDependents?: boolean;
  dryRun?: boolean;
}

export interface DeleteResult {
  /** The object (pods, namespaces, or anything not yet gone) or a Success Status. */
  body: Record<string, unknown>;
  removed: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continueToken?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: KubeObject[];
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
}

export const PROTECTED_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);

export function nowTimestamp(offsetSeconds = 0): string {
  return new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function groupResource(rt: ResourceType) {
  return { group: rt.group, resource: rt.resource };
}

const CONTINUE_EXPIRED =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start })).toString("base64url");
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as ContinueToken;
    if (parsed.v !== "meta.k8s.io/v1" || typeof parsed.rv !== "number" || typeof parsed.start !== "string") throw new Error("bad");
    return parsed;
  } catch {
    throw badRequest(`continue key is not valid: ${token}`);
  }
}

export function parseResourceVersion(value: string): number {
  if (!/^\d+$/.test(value)) throw badRequest(`invalid resource version: strconv.ParseUint: parsing "${value}": invalid syntax`);
  return Number(value);
}

export function tooLargeResourceVersion(requested: number, current: number): ApiError {
  return new ApiError(
    {
      code: 504,
      reason: "Timeout",
      message: `Too large resource version: ${requested}, current: ${current}`,
      details: { causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }], retryAfterSeconds: 1 },
    },
    { "Retry-After": "1" },
  );
}

export interface CompiledSelectors {
  labels: LabelSelector;
  fields: FieldSelector;
}

export function compileSelectors(rt: ResourceType, labelSelector?: string, fieldSelector?: string): CompiledSelectors {
  return { labels: parseLabelSelector(labelSelector), fields: parseFieldSelector(fieldSelector, rt.fieldSelectors) };
}

export function selectorsMatch(rt: ResourceType, s: CompiledSelectors, obj: KubeObject): boolean {
  return matchesLabels(s.labels, obj.metadata.labels) && matchesFields(s.fields, rt.selectableFields(obj));
}

export class ObjectApi implements StoreReader {
  /** Called after a namespace was marked for deletion, so its content can be removed. */
  onNamespaceTerminating: (name: string) => void = () => {};

  constructor(readonly store: ObjectStore) {}

  get(bucket: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(bucket, namespace, name);
  }

  getOrThrow(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(rt.bucket, rt.namespaced ? namespace : undefined, name);
    if (!obj) throw notFound(groupResource(rt), name);
    return withTypeMeta(rt, obj);
  }

  list(rt: ResourceType, namespace: string | undefined, opts: ListOptions): ListResult {
    const selectors = compileSelectors(rt, opts.labelSelector, opts.fieldSelector);
    const current = this.store.currentRevision;
    let revision = current;
    let startAfter = "";
    let objects: KubeObject[];
    if (opts.continueToken) {
      const token = decodeContinue(opts.continueToken);
      revision = token.rv;
      startAfter = token.start;
      objects = this.store.listAt(rt.bucket, namespace, revision, CONTINUE_EXPIRED);
    } else if (opts.resourceVersion !== undefined && opts.resourceVersion !== "" && opts.resourceVersion !== "0") {
      const requested = parseResourceVersion(opts.resourceVersion);
      if (requested > current) throw tooLargeResourceVersion(requested, current);
      if (opts.resourceVersionMatch === "Exact") {
        revision = requested;
        objects = this.store.listAt(rt.bucket, namespace, requested, `too old resource version: ${requested} (${this.store.oldestAvailableRevision(rt.bucket) + 1})`);
      } else objects = this.store.list(rt.bucket, namespace);
    } else {
      if (opts.resourceVersionMatch !== undefined && opts.resourceVersionMatch !== "" && opts.resourceVersion === undefined) {
        throw badRequest(`resourceVersionMatch is forbidden unless resourceVersion is provided`);
      }
      objects = this.store.list(rt.bucket, namespace);
    }
    const keyOf = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? ""));
    let matching = objects.filter((o) => keyOf(o) > startAfter && selectorsMatch(rt, selectors, o));
    const metadata: ListResult["metadata"] = { resourceVersion: String(revision) };
    const limit = opts.limit ?? 0;
    if (limit > 0 && matching.length > limit) {
      const page = matching.slice(0, limit);
      const last = page[page.length - 1];
      metadata.continue = encodeContinue(revision, last ? keyOf(last) : "");
      const unselected = selectors.labels.length === 0 && selectors.fields.length === 0;
      if (unselected) metadata.remainingItemCount = matching.length - limit;
      matching = page;
    }
    return { items: matching, metadata };
  }

  private checkNamespaceAcceptsCreate(rt: ResourceType, namespace: string, name: string): void {
    const ns = this.store.get(bucketName("", "namespaces"), undefined, namespace);
    if (!ns) throw notFound({ group: "", resource: "namespaces" }, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(groupResource(rt), name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  create(rt: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): WriteResult {
    const decoded = decodeObject(body, rt.decode, opts.fieldValidation ?? "Warn");
    const obj = decoded.object;
    const meta = obj.metadata;
    if (rt.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      }
      meta.namespace = namespace ?? meta.namespace;
      if (!meta.namespace) throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      this.checkNamespaceAcceptsCreate(rt, meta.namespace, meta.name ?? "");
    } else {
      delete meta.namespace;
    }
    rt.normalize?.(obj);
    rt.prepareForCreate?.(obj, this);
    rt.admitCreate?.(obj, this);
    if (meta.resourceVersion) {
      throw new ApiError({ code: 500, reason: "InternalError", message: "resourceVersion should not be set on objects to be created" });
    }
    if (!meta.name && meta.generateName) meta.name = generateName(meta.generateName);
    meta.uid = randomUUID();
    meta.creationTimestamp = nowTimestamp();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (rt.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    this.throwIfInvalid(rt, obj, [
      ...validateObjectMeta(meta, { namespaced: rt.namespaced, nameRule: rt.nameRule }),
      ...decoded.schemaErrors,
      ...(rt.validate?.(obj) ?? []),
    ]);
    if (this.store.get(rt.bucket, meta.namespace, meta.name ?? "")) throw alreadyExists(groupResource(rt), meta.name ?? "");
    const stored = opts.dryRun ? obj : this.store.put(rt.bucket, obj);
    return { object: withTypeMeta(rt, stored), warnings: decoded.warnings };
  }

  private throwIfInvalid(rt: ResourceType, obj: KubeObject, errs: FieldError[]): void {
    if (errs.length === 0) return;
    const unique = new Map(errs.map((e) => [`${e.field}: ${e.body}`, e]));
    throw invalid(rt.group, rt.kind, obj.metadata.name ?? "", [...unique.values()]);
  }

  /** PUT of the main resource (subresource "") or of the status subresource. */
  update(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    subresource: "" | "status",
    opts: WriteOptions = {},
  ): WriteResult {
    const decoded = decodeObject(body, rt.decode, opts.fieldValidation ?? "Warn");
    const obj = decoded.object;
    const ns = rt.namespaced ? namespace : undefined;
    if (obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name ?? ""}) does not match the name on the URL (${name})`);
    }
    if (rt.namespaced && obj.metadata.namespace && obj.metadata.namespace !== ns) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
    const old = this.store.get(rt.bucket, ns, name);
    if (!old) {
      if (rt.allowCreateOnUpdate && subresource === "") return this.create(rt, namespace, body, opts);
      throw notFound(groupResource(rt), name);
    }
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(groupResource(rt), name, OPTIMISTIC_LOCK_MESSAGE);
    }
    return this.writeUpdate(rt, old, obj, subresource, decoded.schemaErrors, decoded.warnings, opts);
  }

  private writeUpdate(
    rt: ResourceType,
    old: KubeObject,
    incoming: KubeObject,
    subresource: "" | "status",
    schemaErrors: FieldError[],
    warnings: string[],
    opts: WriteOptions,
  ): WriteResult {
    let next: KubeObject;
    if (subresource === "status") {
      // Only status changes through the status subresource (ResetObjectMetaForStatus).
      next = { ...structuredClone(old), status: incoming["status"] };
      if (incoming["status"] === undefined) delete next["status"];
    } else {
      next = incoming;
      if (rt.hasStatus) {
        if (old["status"] === undefined) delete next["status"];
        else next["status"] = structuredClone(old["status"]);
      }
      const meta = next.metadata;
      meta.namespace = old.metadata.namespace;
      meta.uid = old.metadata.uid;
      meta.creationTimestamp = old.metadata.creationTimestamp;
      meta.deletionTimestamp = old.metadata.deletionTimestamp;
      meta.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      if (meta.deletionTimestamp === undefined) delete meta.deletionTimestamp;
      if (meta.deletionGracePeriodSeconds === undefined) delete meta.deletionGracePeriodSeconds;
      if (old.metadata.generateName !== undefined) meta.generateName = old.metadata.generateName;
      meta.generation = old.metadata.generation;
      if (meta.generation === undefined) delete meta.generation;
    }
    next.apiVersion = apiVersionOf(rt);
    next.kind = rt.kind;
    rt.normalize?.(next);
    if (rt.tracksGeneration && !deepEqual(next["spec"], old["spec"])) next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    const errs: FieldError[] = [...schemaErrors, ...validateObjectMetaUpdate(incoming.metadata, old.metadata)];
    if (subresource === "status") errs.push(...(rt.validateStatusUpdate?.(next, old) ?? []));
    else {
      errs.push(...validateObjectMeta(next.metadata, { namespaced: rt.namespaced, nameRule: rt.nameRule }));
      errs.push(...(rt.validateUpdate?.(next, old) ?? rt.validate?.(next) ?? []));
    }
    if (old.metadata.deletionTimestamp) {
      const added = (next.metadata.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
      if (added.length > 0) {
        errs.push({
          type: "FieldValueForbidden",
          field: "metadata.finalizers",
          body: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(", ")}}`,
        });
      }
    }
    this.throwIfInvalid(rt, next, errs);
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    // etcd3's GuaranteedUpdate skips writes that change nothing: no new revision, no event.
    if (deepEqual(stripTypeMeta(next), stripTypeMeta(old)) || opts.dryRun) {
      return { object: withTypeMeta(rt, opts.dryRun ? next : old), warnings };
    }
    if (this.shouldRemoveAfterUpdate(next)) {
      const removed = this.store.remove(rt.bucket, next.metadata.namespace, next.metadata.name ?? "");
      return { object: withTypeMeta(rt, removed ?? next), warnings };
    }
    return { object: withTypeMeta(rt, this.store.put(rt.bucket, next)), warnings };
  }

  /** A deleting object whose finalizers are all gone and whose grace period is over goes away. */
  private shouldRemoveAfterUpdate(obj: KubeObject): boolean {
    return (
      obj.metadata.deletionTimestamp !== undefined &&
      (obj.metadata.finalizers ?? []).length === 0 &&
      (obj.metadata.deletionGracePeriodSeconds ?? 0) === 0
    );
  }

  patch(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    subresource: "" | "status",
    opts: WriteOptions = {},
  ): WriteResult {
    const ns = rt.namespaced ? namespace : undefined;
    const old = this.store.get(rt.bucket, ns, name);
    if (!old) throw notFound(groupResource(rt), name);
    const current = withTypeMeta(rt, structuredClone(old));
    const patched = applyPatch(type, current, patch, rt.decode.typeName);
    const decoded = decodeObject(patched, rt.decode, opts.fieldValidation ?? "Warn");
    const obj = decoded.object;
    if (obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name ?? ""}) does not match the name on the URL (${name})`);
    }
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(groupResource(rt), name, OPTIMISTIC_LOCK_MESSAGE);
    }
    return this.writeUpdate(rt, old, obj, subresource, decoded.schemaErrors, decoded.warnings, opts);
  }

  delete(rt: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): DeleteResult {
    const ns = rt.namespaced ? namespace : undefined;
    const old = this.store.get(rt.bucket, ns, name);
    if (!old) throw notFound(groupResource(rt), name);
    const pre = options.preconditions ?? {};
    if (pre.uid !== undefined && pre.uid !== old.metadata.uid) {
      throw conflict(groupResource(rt), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ""}`);
    }
    if (pre.resourceVersion !== undefined && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        groupResource(rt),
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion ?? ""}`,
      );
    }
    if (options.gracePeriodSeconds !== undefined && options.gracePeriodSeconds < 0) {
      throw invalid("meta.k8s.io", "DeleteOptions", "", [
        { type: "FieldValueInvalid", field: "gracePeriodSeconds", body: `Invalid value: ${options.gracePeriodSeconds}: must be >= 0` },
      ]);
    }
    if (rt.resource === "namespaces") return this.deleteNamespace(rt, old);

    const policy = propagationOf(options);
    const next = structuredClone(old);
    const finalizers = new Set(next.metadata.finalizers ?? []);
    if (policy === "Orphan") {
      finalizers.delete("foregroundDeletion");
      finalizers.add("orphan");
    } else if (policy === "Foreground") {
      finalizers.delete("orphan");
      finalizers.add("foregroundDeletion");
    }
    const grace = rt.deletionGracePeriod?.(old, options.gracePeriodSeconds, this) ?? 0;
    const alreadyDeleting = old.metadata.deletionTimestamp !== undefined;
    const previousGrace = old.metadata.deletionGracePeriodSeconds ?? 0;
    if (finalizers.size === 0 && (grace === 0 || (alreadyDeleting && previousGrace === 0))) {
      if (options.dryRun) return { body: this.deletedBody(rt, withTypeMeta(rt, old)), removed: true };
      const removed = this.store.remove(rt.bucket, ns, name);
      return { body: this.deletedBody(rt, withTypeMeta(rt, removed ?? old)), removed: true };
    }
    // Graceful or finalizer-held deletion: mark the object; someone else completes it.
    if (!alreadyDeleting || grace < previousGrace) {
      next.metadata.deletionTimestamp = nowTimestamp(grace);
      next.metadata.deletionGracePeriodSeconds = grace;
    }
    if (finalizers.size > 0) next.metadata.finalizers = [...finalizers];
    if (options.dryRun || deepEqual(next, old)) return { body: withTypeMeta(rt, next), removed: false };
    return { body: withTypeMeta(rt, this.store.put(rt.bucket, next)), removed: false };
  }

  private deletedBody(rt: ResourceType, obj: KubeObject): Record<string, unknown> {
    if (rt.returnDeletedObject) return obj;
    const details: Record<string, unknown> = { name: obj.metadata.name };
    if (rt.group !== "") details["group"] = rt.group;
    details["kind"] = rt.resource;
    details["uid"] = obj.metadata.uid;
    return successStatus(undefined, details);
  }

  private deleteNamespace(rt: ResourceType, old: KubeObject): DeleteResult {
    const name = old.metadata.name ?? "";
    if (PROTECTED_NAMESPACES.has(name)) throw forbidden(groupResource(rt), name, "this namespace may not be deleted");
    if (old.metadata.deletionTimestamp) return { body: withTypeMeta(rt, old), removed: false };
    const next = structuredClone(old);
    next.metadata.deletionTimestamp = nowTimestamp();
    next.metadata.deletionGracePeriodSeconds = 0;
    next["status"] = { ...((next["status"] as Record<string, unknown> | undefined) ?? {}), phase: "Terminating" };
    const stored = this.store.put(rt.bucket, next);
    queueMicrotask(() => this.onNamespaceTerminating(name));
    return { body: withTypeMeta(rt, stored), removed: false };
  }

  /** Removes an object for good, bypassing grace periods; for controllers (namespace, GC). */
  removeNow(rt: ResourceType, namespace: string | undefined, name: string): void {
    this.store.remove(rt.bucket, rt.namespaced ? namespace : undefined, name);
  }

  /** Writes a controller-computed object (e.g. finalizer removal); applies finalizer completion. */
  controllerWrite(rt: ResourceType, obj: KubeObject): void {
    if (this.shouldRemoveAfterUpdate(obj)) this.store.remove(rt.bucket, obj.metadata.namespace, obj.metadata.name ?? "");
    else this.store.put(rt.bucket, obj);
  }
}

function propagationOf(options: DeleteOptions): PropagationPolicy {
  if (options.propagationPolicy) {
    if (!["Background", "Foreground", "Orphan"].includes(options.propagationPolicy)) {
      throw invalid("meta.k8s.io", "DeleteOptions", "", [
        {
          type: "FieldValueNotSupported",
          field: "propagationPolicy",
          body: `Unsupported value: "${options.propagationPolicy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
        },
      ]);
    }
    return options.propagationPolicy;
  }
  if (options.orphanDependents === true) return "Orphan";
  if (options.orphanDependents === false) return "Background";
  return "Background";
}

export function withTypeMeta(rt: ResourceType, obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return { apiVersion: apiVersionOf(rt), kind: rt.kind, ...rest } as KubeObject;
}

function stripTypeMeta(obj: KubeObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}
