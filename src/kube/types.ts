// The few Kubernetes object fields device-mounter reads, as they arrive in
// JSON (timestamps are strings).
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface PodCondition {
  type: string;
  status: string;
}

export interface Pod extends KubeObject {
  spec?: { nodeName?: string; containers?: Array<{ name: string }> };
  status?: { phase?: string; podIP?: string; conditions?: PodCondition[] };
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

export interface KubeList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string };
}

export type WatchEvent<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"; object: T }
  | { type: "ERROR"; object: { code?: number; message?: string; reason?: string } };
