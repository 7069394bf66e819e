// The watch stream: newline-delimited WatchEvents from a resourceVersion on, with selector
// transitions (an object leaving the selection is DELETED for this watcher), bookmarks,
// timeouts and the 410 Expired ERROR event kube sends when the start is too old.
import { invalid } from "./field-errors.ts";
import {
  compileSelectors,
  parseResourceVersion,
  selectorsMatch,
  tooLargeResourceVersion,
  withTypeMeta,
} from "./object-api.ts";
import { apiVersionOf, type ResourceType } from "./resource-type.ts";
import { badRequest } from "./status.ts";
import type { KubeObject, ObjectStore, StoreEvent } from "./store.ts";
import { DEFAULT_TABLE, toTable, type IncludeObject } from "./table.ts";

export interface WatchRequest {
  rt: ResourceType;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
  allowWatchBookmarks: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
  /** Encode objects as single-row Tables (kubectl get -w). */
  table?: { include: IncludeObject };
  /** Encode objects as PartialObjectMetadata. */
  metadataOnly?: boolean;
}

export interface WatchTuning {
  bookmarkIntervalMs: number;
  /** Used when the client gives no timeoutSeconds (kube picks 30-60 min). */
  defaultTimeoutSeconds: number;
}

type EventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

const encoder = new TextEncoder();

/**
 * Validates the request synchronously (errors become normal HTTP error responses) and
 * returns the stream body; the stream registers with the store in the same tick, so no
 * write can slip between the initial state and the live events.
 */
export function openWatch(store: ObjectStore, req: WatchRequest, tuning: WatchTuning, signal: AbortSignal): ReadableStream<Uint8Array> {
  const { rt } = req;
  const selectors = compileSelectors(rt, req.labelSelector, req.fieldSelector);
  const rvText = req.resourceVersion ?? "";
  const fromRevision = rvText === "" || rvText === "0" ? undefined : parseResourceVersion(rvText);
  if (fromRevision !== undefined && fromRevision > store.currentRevision) {
    throw tooLargeResourceVersion(fromRevision, store.currentRevision);
  }
  if (req.sendInitialEvents !== undefined) {
    const errs = [];
    if (req.resourceVersionMatch !== "NotOlderThan") {
      errs.push({ type: "FieldValueForbidden" as const, field: "sendInitialEvents", body: "Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan" });
    }
    if (req.sendInitialEvents && !req.allowWatchBookmarks) {
      errs.push({ type: "FieldValueForbidden" as const, field: "allowWatchBookmarks", body: "Forbidden: allowWatchBookmarks must be set to true when sendInitialEvents is set" });
    }
    if (errs.length > 0) throw invalid("meta.k8s.io", "ListOptions", "", errs);
  } else if (req.resourceVersionMatch !== undefined && req.resourceVersionMatch !== "") {
    throw badRequest(`resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided`);
  }
  const sendInitial = req.sendInitialEvents ?? fromRevision === undefined;

  let columnsSent = false;
  const encodeObject = (obj: KubeObject): Record<string, unknown> => {
    const typed = withTypeMeta(rt, obj);
    if (req.table) {
      const withColumns = !columnsSent;
      columnsSent = true;
      return toTable(rt.table ?? DEFAULT_TABLE, [typed], { resourceVersion: typed.metadata.resourceVersion }, req.table.include, withColumns);
    }
    if (req.metadataOnly) return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: typed.metadata };
    return typed;
  };
  const inNamespace = (obj: KubeObject | undefined) =>
    obj !== undefined && (req.namespace === undefined || obj.metadata.namespace === req.namespace);
  const selected = (obj: KubeObject | undefined) => obj !== undefined && inNamespace(obj) && selectorsMatch(rt, selectors, obj);

  let stop: () => void = () => {};
  return new ReadableStream<Uint8Array>({
    cancel() {
      stop();
    },
    start(controller) {
      let closed = false;
      const timers: Array<ReturnType<typeof setTimeout>> = [];
      let unsubscribe: () => void = () => {};
      const close = () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        for (const t of timers) clearTimeout(t);
        try {
          controller.close();
        } catch {
          // already closed by the consumer
        }
      };
      const send = (type: EventType, object: Record<string, unknown>) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(`${JSON.stringify({ type, object })}\n`));
        } catch {
          close();
        }
      };
      const bookmark = (annotations?: Record<string, string>) => {
        const metadata: Record<string, unknown> = { resourceVersion: String(store.currentRevision) };
        if (annotations) metadata["annotations"] = annotations;
        send("BOOKMARK", { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata });
      };
      const deliver = (event: StoreEvent) => {
        if (event.bucket !== rt.bucket) return;
        const now = event.type === "DELETED" ? undefined : event.object;
        const was = selected(event.previous);
        const is = selected(now);
        if (event.type === "DELETED") {
          if (was) send("DELETED", encodeObject(event.object));
        } else if (is && was) send("MODIFIED", encodeObject(event.object));
        else if (is) send("ADDED", encodeObject(event.object));
        else if (was) send("DELETED", encodeObject(event.object));
      };

      if (fromRevision !== undefined && !sendInitial) {
        const backlog = store.eventsSince(rt.bucket, fromRevision);
        if (!backlog) {
          send("ERROR", {
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Failure",
            message: `too old resource version: ${fromRevision} (${store.oldestAvailableRevision(rt.bucket) + 1})`,
            reason: "Expired",
            code: 410,
          });
          close();
          return;
        }
        for (const event of backlog) deliver(event);
      } else {
        for (const obj of store.list(rt.bucket, req.namespace)) if (selected(obj)) send("ADDED", encodeObject(obj));
        if (req.sendInitialEvents) bookmark({ "k8s.io/initial-events-end": "true" });
      }
      unsubscribe = store.subscribe(deliver);

      if (req.allowWatchBookmarks) {
        const tick = () => {
          bookmark();
          timers[0] = setTimeout(tick, tuning.bookmarkIntervalMs);
        };
        timers[0] = setTimeout(tick, tuning.bookmarkIntervalMs);
      }
      const timeoutSeconds = req.timeoutSeconds ?? tuning.defaultTimeoutSeconds;
      timers.push(setTimeout(close, timeoutSeconds * 1000));
      signal.addEventListener("abort", close, { once: true });
      stop = close;
    },
  });
}
