// The garbage collector controller: deletes dependents whose owners are gone, honours the
// orphan and foregroundDeletion finalizers, and applies the 1.20+ rules for owner
// references that cross namespaces (OwnerRefInvalidNamespace warning events).
import { randomBytes } from "node:crypto";
import { nowTimestamp, withTypeMeta, type ObjectApi } from "./object-api.ts";
import { eventResource } from "./simple-resources.ts";
import { findByKind, STORED_RESOURCES } from "./registry.ts";
import type { ResourceType } from "./resource-type.ts";
import { ApiError } from "./status.ts";
import type { KubeObject, OwnerReference } from "./store.ts";

interface Located {
  rt: ResourceType;
  object: KubeObject;
}

type OwnerState = "solid" | "waitingForDependents" | "dangling";

const COMPONENT = "garbage-collector-controller";

export class GarbageCollector {
  private scheduled = false;
  private readonly reportedInvalid = new Set<string>();
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly api: ObjectApi) {
    this.unsubscribe = api.store.subscribe(() => this.schedule());
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  /** Runs a pass soon after writes settle; real GC is asynchronous too. */
  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      if (!this.stopped) this.pass();
    }, 5);
  }

  private everything(): Located[] {
    const out: Located[] = [];
    for (const rt of STORED_RESOURCES) for (const object of this.api.store.list(rt.bucket)) out.push({ rt, object });
    return out;
  }

  private pass(): void {
    const all = this.everything();
    const byUid = new Map(all.map((l) => [l.object.metadata.uid ?? "", l]));
    const dependentsOf = (uid: string) =>
      all.filter((l) => (l.object.metadata.ownerReferences ?? []).some((r) => r.uid === uid));
    for (const owner of all) {
      if (!owner.object.metadata.deletionTimestamp) continue;
      const finalizers = owner.object.metadata.finalizers ?? [];
      if (finalizers.includes("orphan")) this.orphanDependents(owner, dependentsOf(owner.object.metadata.uid ?? ""));
      else if (finalizers.includes("foregroundDeletion")) this.deleteDependentsFirst(owner, dependentsOf(owner.object.metadata.uid ?? ""));
    }
    for (const dependent of all) {
      if ((dependent.object.metadata.ownerReferences ?? []).length > 0) this.attemptToDelete(dependent, byUid);
    }
  }

  private orphanDependents(owner: Located, dependents: Located[]): void {
    const uid = owner.object.metadata.uid;
    for (const d of dependents) {
      const current = this.api.store.get(d.rt.bucket, d.object.metadata.namespace, d.object.metadata.name ?? "");
      if (!current) continue;
      current.metadata.ownerReferences = (current.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      if (current.metadata.ownerReferences.length === 0) delete current.metadata.ownerReferences;
      this.api.controllerWrite(d.rt, current);
    }
    this.removeFinalizer(owner, "orphan");
  }

  private deleteDependentsFirst(owner: Located, dependents: Located[]): void {
    const uid = owner.object.metadata.uid;
    for (const d of dependents) {
      if (!d.object.metadata.deletionTimestamp) this.deleteObject(d, "Background");
    }
    const blocking = dependents.filter((d) => {
      const stillThere = this.api.store.get(d.rt.bucket, d.object.metadata.namespace, d.object.metadata.name ?? "");
      return stillThere && (stillThere.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.blockOwnerDeletion === true);
    });
    if (blocking.length === 0) this.removeFinalizer(owner, "foregroundDeletion");
  }

  private removeFinalizer(owner: Located, finalizer: string): void {
    const current = this.api.store.get(owner.rt.bucket, owner.object.metadata.namespace, owner.object.metadata.name ?? "");
    if (!current || current.metadata.uid !== owner.object.metadata.uid) return;
    current.metadata.finalizers = (current.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    if (current.metadata.finalizers.length === 0) delete current.metadata.finalizers;
    this.api.controllerWrite(owner.rt, current);
  }

  private classify(dependent: Located, ref: OwnerReference, byUid: Map<string, Located>): OwnerState | "unresolvable" {
    const ownerRt = findByKind(ref.apiVersion, ref.kind);
    // Without a REST mapping the real GC retries forever and never deletes.
    if (!ownerRt) return "unresolvable";
    const dependentNamespace = dependent.object.metadata.namespace ?? "";
    const observed = byUid.get(ref.uid);
    const observedNamespace = observed?.object.metadata.namespace ?? "";
    if (observed && observedNamespace !== "" && observedNamespace !== dependentNamespace) {
      this.reportInvalidNamespace(dependent, ref);
    }
    // A cluster-scoped dependent cannot have a namespaced owner: never collected.
    if (!dependent.rt.namespaced && ownerRt.namespaced) return "unresolvable";
    const owner = this.api.store.get(ownerRt.bucket, ownerRt.namespaced ? dependentNamespace : undefined, ref.name);
    if (!owner || owner.metadata.uid !== ref.uid) return "dangling";
    if (owner.metadata.deletionTimestamp && (owner.metadata.finalizers ?? []).includes("foregroundDeletion")) return "waitingForDependents";
    return "solid";
  }

  private attemptToDelete(snapshot: Located, byUid: Map<string, Located>): void {
    // Earlier steps of this pass may have changed or removed the object.
    const current = this.api.store.get(snapshot.rt.bucket, snapshot.object.metadata.namespace, snapshot.object.metadata.name ?? "");
    if (!current || current.metadata.uid !== snapshot.object.metadata.uid) return;
    const dependent: Located = { rt: snapshot.rt, object: current };
    const refs = dependent.object.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const states = refs.map((ref) => ({ ref, state: this.classify(dependent, ref, byUid) }));
    if (states.some((s) => s.state === "unresolvable")) return;
    if (dependent.object.metadata.deletionTimestamp) return;
    const solid = states.filter((s) => s.state === "solid");
    const dangling = states.filter((s) => s.state === "dangling");
    const waiting = states.filter((s) => s.state === "waitingForDependents");
    if (solid.length > 0) {
      if (dangling.length === 0) return;
      // Some owners still exist: only the dangling references are dropped.
      const danglingUids = new Set(dangling.map((s) => s.ref.uid));
      const current = structuredClone(dependent.object);
      current.metadata.ownerReferences = refs.filter((r) => !danglingUids.has(r.uid));
      this.api.controllerWrite(dependent.rt, current);
      return;
    }
    const hasOwnDependents = this.everything().some((l) =>
      (l.object.metadata.ownerReferences ?? []).some((r) => r.uid === dependent.object.metadata.uid),
    );
    this.deleteObject(dependent, waiting.length > 0 && hasOwnDependents ? "Foreground" : "Background");
  }

  private deleteObject(target: Located, propagationPolicy: "Background" | "Foreground"): void {
    try {
      this.api.delete(target.rt, target.object.metadata.namespace, target.object.metadata.name ?? "", {
        propagationPolicy,
        preconditions: { uid: target.object.metadata.uid },
      });
    } catch (e) {
      // Already gone or replaced by a new object of the same name: nothing to collect.
      if (!(e instanceof ApiError) || (e.code !== 404 && e.code !== 409)) throw e;
    }
  }

  private reportInvalidNamespace(dependent: Located, ref: OwnerReference): void {
    const key = `${dependent.object.metadata.uid}/${ref.uid}`;
    if (this.reportedInvalid.has(key)) return;
    this.reportedInvalid.add(key);
    const meta = dependent.object.metadata;
    const namespace = meta.namespace ?? "";
    const typed = withTypeMeta(dependent.rt, dependent.object);
    const now = nowTimestamp();
    const eventNamespace = namespace === "" ? "default" : namespace;
    try {
      this.api.create(eventResource, eventNamespace, {
        metadata: { name: `${meta.name}.${randomBytes(8).toString("hex")}`, namespace: eventNamespace },
        involvedObject: { kind: typed.kind, apiVersion: typed.apiVersion, name: meta.name, namespace: namespace || undefined, uid: meta.uid },
        reason: "OwnerRefInvalidNamespace",
        message: `ownerRef [${ref.apiVersion}/${ref.kind}, namespace: ${namespace}, name: ${ref.name}, uid: ${ref.uid}] does not exist in namespace "${namespace}"`,
        type: "Warning",
        source: { component: COMPONENT },
        reportingComponent: COMPONENT,
        reportingInstance: "",
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (e) {
      // The namespace may be going away; a lost event is what a real recorder does too.
      if (!(e instanceof ApiError)) throw e;
    }
  }
}
