// Waits, by watch, for a slave pod to run: that is when the scheduler has
// placed it and the kubelet has had the device plugin allocate its devices.
import type { V1Pod } from "@kubernetes/client-node";
import { StatusError } from "../../src/api/status.ts";
import type { AgentKube } from "../kube/client.ts";

type Verdict = { done: true } | { done: false; failure?: StatusError; unschedulable?: string };

const slaveName = (pod: V1Pod) => `slave pod ${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** What a slave pod's state means for the mount waiting on it. */
export function judgeSlave(pod: V1Pod): Verdict {
  const phase = pod.status?.phase;
  if (phase === "Running") return { done: true };
  if (phase === "Failed" || phase === "Succeeded") {
    const why = [pod.status?.reason, pod.status?.message].filter(Boolean).join(": ");
    return { done: false, failure: new StatusError("Conflict", `${slaveName(pod)} ended (${phase}${why ? `: ${why}` : ""}) before its devices could be mounted`) };
  }
  // Not final: the scheduler tries again as devices are freed (an unmount that
  // just finished may still be releasing them), so this is answered only if
  // it is still the state at the deadline.
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") return { done: false, unschedulable: scheduled.message ?? "Unschedulable" };
  return { done: false };
}

/** At the deadline: the scheduler's reason if it still could not place the pod (409), else 504. */
function deadlinePassed(created: V1Pod, latest: V1Pod): StatusError {
  const verdict = judgeSlave(latest);
  const unschedulable = verdict.done ? undefined : verdict.unschedulable;
  if (unschedulable) return new StatusError("Conflict", `no devices for this mount: the scheduler cannot place its ${slaveName(created)}: ${unschedulable}`);
  return new StatusError("Timeout", `timed out waiting for ${slaveName(created)} to run (${describeWait(latest)}); raise wait_second or check the node's device plugin`);
}

function describeWait(pod: V1Pod): string {
  const waiting = pod.status?.containerStatuses?.find((s) => s.state?.waiting)?.state?.waiting;
  return [pod.status?.phase ?? "Pending", waiting?.reason, waiting?.message].filter(Boolean).join(", ");
}

/** A mount whose caller went away (its request timed out upstream, or was cancelled) stops before it grants anything. */
export const callerGone = () =>
  new StatusError("Timeout", "the caller stopped waiting (its request timed out or was cancelled) before the devices were granted; nothing was mounted");

/**
 * Resolves with the running slave pod; rejects with the scheduler's or the
 * kubelet's reason, 504 when `deadline` (ms since the epoch) passes, or
 * callerGone() as soon as `cancelled` fires.
 */
export async function waitForSlave(kube: AgentKube, created: V1Pod, deadline: number, now: () => number = Date.now, cancelled?: AbortSignal): Promise<V1Pod> {
  const namespace = created.metadata!.namespace!;
  const name = created.metadata!.name!;
  let latest = created;
  let version = created.metadata?.resourceVersion ?? "";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - now()));
  const onCancel = () => controller.abort();
  cancelled?.addEventListener("abort", onCancel, { once: true });
  try {
    if (cancelled?.aborted) throw callerGone();
    while (!controller.signal.aborted) {
      const verdict = judgeSlave(latest);
      if (verdict.done) return latest;
      if (verdict.failure) throw verdict.failure;
      try {
        for await (const event of kube.watchPod(namespace, name, version, controller.signal)) {
          if (event.type === "ERROR") throw new Error(event.object.message ?? "watch error");
          if (event.type === "BOOKMARK") {
            version = event.object.metadata?.resourceVersion ?? version;
            continue;
          }
          if (event.type === "DELETED") throw new StatusError("Conflict", `${slaveName(created)} was deleted before its devices could be mounted`);
          latest = event.object as V1Pod;
          version = latest.metadata?.resourceVersion ?? version;
          const next = judgeSlave(latest);
          if (next.done) return latest;
          if (next.failure) throw next.failure;
        }
      } catch (e) {
        if (e instanceof StatusError || controller.signal.aborted) throw e;
        // The watch broke (or its resource version expired): read the pod again and watch from there.
        const fresh = await kube.getPod(namespace, name);
        if (!fresh) throw new StatusError("Conflict", `${slaveName(created)} was deleted before its devices could be mounted`);
        latest = fresh;
        version = fresh.metadata?.resourceVersion ?? "";
      }
    }
    throw deadlinePassed(created, latest);
  } catch (e) {
    if (cancelled?.aborted) throw callerGone();
    if (controller.signal.aborted && !(e instanceof StatusError && e.reason !== "Timeout")) throw deadlinePassed(created, latest);
    throw e;
  } finally {
    clearTimeout(timer);
    cancelled?.removeEventListener("abort", onCancel);
  }
}
