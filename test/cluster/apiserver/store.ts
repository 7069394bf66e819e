// An etcd-like in-memory store: one global revision that every write bumps, a bounded
// event history per resource (like kube's per-resource watch cache) and snapshot reads
// within it.
import { expired } from "./status.ts";

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  revision: number;
  /** Store bucket, e.g. "core/pods". */
  bucket: string;
  type: WatchEventType;
  /** State after the event; for DELETED the last state, stamped with the deletion revision. */
  object: KubeObject;
  /** State before the event (absent for ADDED). */
  previous?: KubeObject;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

function keyOf(obj: KubeObject): string {
  return objectKey(obj.metadata.namespace, obj.metadata.name ?? "");
}

export class ObjectStore {
  private revision = 1;
  private readonly buckets = new Map<string, Map<string, KubeObject>>();
  /** Recent events of each bucket, at most historyLimit. */
  private readonly histories = new Map<string, StoreEvent[]>();
  /** Per bucket: every event with a revision above this one is still in its history. */
  private readonly compactedRevisions = new Map<string, number>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly pendingEvents: StoreEvent[] = [];
  private dispatching = false;

  constructor(private readonly historyLimit: number) {}

  get currentRevision(): number {
    return this.revision;
  }

  /** The revision a bucket's history starts after: older starting points are gone. */
  oldestAvailableRevision(bucket: string): number {
    return this.compactedRevisions.get(bucket) ?? 0;
  }

  private historyOf(bucket: string): StoreEvent[] {
    let h = this.histories.get(bucket);
    if (!h) {
      h = [];
      this.histories.set(bucket, h);
    }
    return h;
  }

  private bucket(name: string): Map<string, KubeObject> {
    let b = this.buckets.get(name);
    if (!b) {
      b = new Map();
      this.buckets.set(name, b);
    }
    return b;
  }

  get(bucket: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.bucket(bucket).get(objectKey(namespace, name));
    return obj ? structuredClone(obj) : undefined;
  }

  /** Objects in key order (namespace/name), like an etcd range read. */
  list(bucket: string, namespace?: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const obj of this.bucket(bucket).values()) {
      if (namespace === undefined || obj.metadata.namespace === namespace) out.push(structuredClone(obj));
    }
    return out.sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  }

  /** Every bucket's objects; used by the garbage collector to find dependents. */
  *allObjects(): Generator<{ bucket: string; object: KubeObject }> {
    for (const [bucket, objects] of this.buckets) {
      for (const object of objects.values()) yield { bucket, object: structuredClone(object) };
    }
  }

  /** The bucket as it was at `revision`, rebuilt by undoing later events. */
  listAt(bucket: string, namespace: string | undefined, revision: number, expiredMessage: string): KubeObject[] {
    if (revision >= this.revision) return this.list(bucket, namespace);
    if (revision < this.oldestAvailableRevision(bucket)) throw expired(expiredMessage);
    const state = new Map<string, KubeObject>();
    for (const obj of this.bucket(bucket).values()) state.set(keyOf(obj), obj);
    const history = this.historyOf(bucket);
    for (let i = history.length - 1; i >= 0; i--) {
      const event = history[i];
      if (!event || event.revision <= revision) break;
      const key = keyOf(event.object);
      if (event.previous) state.set(key, event.previous);
      else state.delete(key);
    }
    return [...state.values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map((o) => structuredClone(o))
      .sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  }

  /** A bucket's events after `revision`, or undefined when some were compacted away. */
  eventsSince(bucket: string, revision: number): StoreEvent[] | undefined {
    if (revision < this.oldestAvailableRevision(bucket)) return undefined;
    return this.historyOf(bucket)
      .filter((e) => e.revision > revision)
      .map((e) => structuredClone(e));
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes obj (new or replacing), stamping the new revision. Caller has done all checks. */
  put(bucket: string, obj: KubeObject): KubeObject {
    const b = this.bucket(bucket);
    const key = keyOf(obj);
    const previous = b.get(key);
    this.revision++;
    const stored = structuredClone(obj);
    stored.metadata.resourceVersion = String(this.revision);
    b.set(key, stored);
    this.record({ revision: this.revision, bucket, type: previous ? "MODIFIED" : "ADDED", object: stored, previous });
    return structuredClone(stored);
  }

  remove(bucket: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const b = this.bucket(bucket);
    const key = objectKey(namespace, name);
    const previous = b.get(key);
    if (!previous) return undefined;
    b.delete(key);
    this.revision++;
    const last = structuredClone(previous);
    last.metadata.resourceVersion = String(this.revision);
    this.record({ revision: this.revision, bucket, type: "DELETED", object: last, previous });
    return structuredClone(last);
  }

  private record(event: StoreEvent): void {
    const history = this.historyOf(event.bucket);
    history.push(event);
    while (history.length > this.historyLimit) {
      const dropped = history.shift();
      if (dropped) this.compactedRevisions.set(event.bucket, dropped.revision);
    }
    // A listener that writes (a controller) must not make other listeners see the
    // later event first: writes made while dispatching are delivered afterwards, in order.
    this.pendingEvents.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let next = this.pendingEvents.shift(); next; next = this.pendingEvents.shift()) {
        for (const listener of [...this.listeners]) listener(structuredClone(next));
      }
    } finally {
      this.dispatching = false;
    }
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
