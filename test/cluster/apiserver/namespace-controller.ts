// Namespace lifecycle controllers: every namespace gets its "default" ServiceAccount and the
// kube-root-ca.crt ConfigMap (serviceaccounts-controller, root-ca-cert-publisher); a
// terminating namespace has its content deleted and disappears once it is empty.
import type { ObjectApi } from "./object-api.ts";
import { STORED_RESOURCES } from "./registry.ts";
import { configMapResource, namespaceResource, serviceAccountResource } from "./simple-resources.ts";
import { ApiError } from "./status.ts";
import type { StoreEvent } from "./store.ts";

export class NamespaceController {
  private readonly unsubscribe: () => void;
  private readonly pending = new Set<string>();

  constructor(
    private readonly api: ObjectApi,
    private readonly rootCaPem: string,
  ) {
    this.unsubscribe = api.store.subscribe((event) => this.observe(event));
    api.onNamespaceTerminating = (name) => this.scheduleCleanup(name);
  }

  stop(): void {
    this.unsubscribe();
    this.api.onNamespaceTerminating = () => {};
  }

  private observe(event: StoreEvent): void {
    if (event.bucket === namespaceResource.bucket && event.type === "ADDED") {
      this.populate(event.object.metadata.name ?? "");
      return;
    }
    const namespace = event.object.metadata.namespace;
    if (namespace && event.type === "DELETED") {
      const ns = this.api.store.get(namespaceResource.bucket, undefined, namespace);
      if (ns?.metadata.deletionTimestamp) this.scheduleCleanup(namespace);
    }
  }

  /** Creates what kube-controller-manager puts into every new namespace. */
  private populate(namespace: string): void {
    const createIfMissing = (create: () => void) => {
      try {
        create();
      } catch (e) {
        if (!(e instanceof ApiError) || e.code !== 409) throw e;
      }
    };
    createIfMissing(() => this.api.create(serviceAccountResource, namespace, { metadata: { name: "default" } }));
    createIfMissing(() =>
      this.api.create(configMapResource, namespace, {
        metadata: { name: "kube-root-ca.crt", annotations: { "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters." } },
        data: { "ca.crt": this.rootCaPem },
      }),
    );
  }

  private scheduleCleanup(namespace: string): void {
    if (this.pending.has(namespace)) return;
    this.pending.add(namespace);
    setTimeout(() => {
      this.pending.delete(namespace);
      this.cleanup(namespace);
    }, 1);
  }

  private cleanup(namespace: string): void {
    const ns = this.api.store.get(namespaceResource.bucket, undefined, namespace);
    if (!ns?.metadata.deletionTimestamp) return;
    for (const rt of STORED_RESOURCES.filter((r) => r.namespaced)) {
      for (const obj of this.api.store.list(rt.bucket, namespace)) {
        if (obj.metadata.deletionTimestamp) continue;
        try {
          this.api.delete(rt, namespace, obj.metadata.name ?? "", { preconditions: { uid: obj.metadata.uid } });
        } catch (e) {
          if (!(e instanceof ApiError) || (e.code !== 404 && e.code !== 409)) throw e;
        }
      }
    }
    const left = STORED_RESOURCES.filter((r) => r.namespaced).reduce((n, rt) => n + this.api.store.list(rt.bucket, namespace).length, 0);
    if (left > 0) return;
    // Content is gone: drop the "kubernetes" finalizer; metadata finalizers still hold it.
    const spec = { ...((ns["spec"] as Record<string, unknown> | undefined) ?? {}) };
    delete spec["finalizers"];
    ns["spec"] = spec;
    this.api.controllerWrite(namespaceResource, ns);
  }
}
