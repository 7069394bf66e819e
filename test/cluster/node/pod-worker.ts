// The life of one admitted pod on a node, as the kubelet's pod worker runs it: pod
// cgroup, init containers to completion, then sidecars and app containers as real runc
// containers; exits noticed by polling, restarts per restartPolicy with a new container
// ID and back-off; termination on deletion (SIGTERM, grace period, SIGKILL); and the
// pod status the kubelet would write for all of that.
import type {
  CoreV1Api,
  V1Container,
  V1ContainerState,
  V1ContainerStateTerminated,
  V1ContainerStatus,
  V1EnvVar,
  V1Pod,
  V1PodCondition,
  V1PodStatus,
} from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { constants } from "node:os";
import type { Container } from "../../support/runc.ts";
import { apiErrorCode, describeApiError, updatePodStatus } from "./api.ts";
import { ensureCgroup, podCgroup, removeCgroup, type CgroupDriver, type CgroupMode } from "./cgroups.ts";
import type { DeviceManager } from "./device-manager.ts";
import { qosClassOf, type QosClass } from "./resources.ts";
import { observeExit, startRuntimeContainer, type RuntimeContainer } from "./runtime.ts";

export interface PodWorkerContext {
  nodeName: string;
  hostIP: string;
  cgroupMode: CgroupMode;
  driver: CgroupDriver;
  kubepodsCgroup: string;
  core: CoreV1Api;
  devices: DeviceManager;
  exitPollMs: number;
  /** Image name (as containerd normalises it) → host files the image ships, bound into its containers. */
  images: Record<string, ReadonlyArray<{ source: string; destination: string }>>;
  restartBackoffMs: number;
  maxRestartBackoffMs: number;
  event(pod: V1Pod, type: "Normal" | "Warning", reason: string, message: string, fieldPath?: string): void;
  log(message: string): void;
}

type ContainerKind = "init" | "sidecar" | "app";

interface ContainerSlot {
  spec: V1Container;
  kind: ContainerKind;
  running?: RuntimeContainer;
  /** Signal number we sent the current process, to name its exit when no wait status is left. */
  killedWith?: number;
  stopPolling?: () => void;
  restartCount: number;
  lastTermination?: V1ContainerStateTerminated;
  /** Current state when not running and not about to restart. */
  terminated?: V1ContainerStateTerminated;
  waiting: { reason: string; message?: string } | undefined;
  consecutiveFailures: number;
  /** Ends a pending back-off wait early (termination). */
  wakeUp?: () => void;
}

/**
 * The default process when a container names no command: the image is not run (every
 * container runs the harness busybox), so it stands for a long-running service that
 * exits cleanly on SIGTERM, as well-behaved images do.
 */
export const DEFAULT_CONTAINER_ARGS = ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"];
const DEFAULT_GRACE_SECONDS = 30;

export class PodWorker {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly qos: QosClass;
  readonly podCgroup: string;
  private pod: V1Pod;
  private readonly slots: ContainerSlot[];
  private readonly startTime = new Date();
  private initialized = false;
  private cgroupCreated = false;
  private terminating = false;
  private finished = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: PodWorkerContext,
    pod: V1Pod,
    private readonly podIP: string,
  ) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? "";
    this.namespace = pod.metadata?.namespace ?? "default";
    this.name = pod.metadata?.name ?? "";
    this.qos = qosClassOf(pod);
    this.podCgroup = podCgroup(ctx.driver, ctx.kubepodsCgroup, this.qos, this.uid);
    const slot = (spec: V1Container, kind: ContainerKind): ContainerSlot => ({
      spec,
      kind,
      restartCount: 0,
      consecutiveFailures: 0,
      waiting: { reason: kind === "init" ? "PodInitializing" : "ContainerCreating" },
    });
    this.slots = [
      ...(pod.spec?.initContainers ?? []).map((spec) => slot(spec, spec.restartPolicy === "Always" ? "sidecar" : "init")),
      ...(pod.spec?.containers ?? []).map((spec) => slot(spec, "app")),
    ];
    if (this.slots.some((each) => each.kind === "init")) {
      for (const each of this.slots) if (each.kind !== "init") each.waiting = { reason: "PodInitializing" };
    }
  }

  get podObject(): V1Pod {
    return this.pod;
  }

  /** True until the pod is terminal or torn down: PodResources reports only these. */
  get active(): boolean {
    return !this.finished && !this.terminating;
  }

  /** App containers and sidecars, the containers PodResources lists. */
  get reportedContainerNames(): string[] {
    return this.slots.filter((each) => each.kind !== "init").map((each) => each.spec.name);
  }

  containerOf(name: string): Container | undefined {
    return this.slots.find((each) => each.spec.name === name)?.running?.runc;
  }

  containerIdOf(name: string): string | undefined {
    return this.slots.find((each) => each.spec.name === name)?.running?.id;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.run());
  }

  updated(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.terminating) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
      void this.terminate({ graceSeconds: grace, reportAndDelete: true });
    }
  }

  /** Stops everything; with reportAndDelete, writes the final status and removes the pod object. */
  terminate(options: { graceSeconds: number; reportAndDelete: boolean }): Promise<void> {
    this.terminating = true;
    for (const each of this.slots) each.wakeUp?.();
    // Stopping starts now, not behind queued work: that work may be waiting for these
    // very containers to exit.
    const stopping = Promise.all(this.slots.map((each) => this.stopSlot(each, options.graceSeconds)));
    return this.enqueue(async () => {
      await stopping;
      await Promise.all(this.slots.map((each) => this.stopSlot(each, 0)));
      this.ctx.devices.releasePod(this.uid);
      await this.removePodCgroup();
      if (!options.reportAndDelete) return;
      await this.writeStatus(true);
      try {
        await this.ctx.core.deleteNamespacedPod({
          name: this.name,
          namespace: this.namespace,
          gracePeriodSeconds: 0,
          body: { preconditions: { uid: this.uid } },
        });
      } catch (error) {
        const code = apiErrorCode(error);
        if (code !== 404 && code !== 409) this.ctx.log(`deleting pod ${this.namespace}/${this.name}: ${describeApiError(error)}`);
      }
    });
  }

  /** Test helper: signals the current process of a container (default SIGKILL). */
  async kill(containerName: string, signal: NodeJS.Signals = "SIGKILL"): Promise<string> {
    const slot = this.slots.find((each) => each.spec.name === containerName);
    const running = slot?.running;
    if (!slot || !running) throw new Error(`container ${containerName} of pod ${this.namespace}/${this.name} is not running`);
    slot.killedWith = constants.signals[signal];
    // The exit may be handled (and slot.running cleared) before runc kill returns.
    await running.runc.kill(signal);
    return running.id;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.chain.then(step).catch((error: unknown) => {
      this.ctx.log(`pod ${this.namespace}/${this.name}: ${error instanceof Error ? error.message : String(error)}`);
    });
    this.chain = next;
    return next;
  }

  private async run(): Promise<void> {
    if (this.terminating) return;
    ensureCgroup(this.ctx.cgroupMode, this.podCgroup);
    this.cgroupCreated = true;
    for (const slot of this.slots) {
      if (slot.spec.image === undefined || slot.spec.image === "") {
        slot.waiting = {
          reason: "InvalidImageName",
          message: `Failed to apply default image tag "": couldn't parse image name "": invalid reference format`,
        };
      }
    }
    await this.writeStatus();
    for (const slot of this.slots.filter((each) => each.kind !== "app")) {
      if (this.terminating) return;
      if (slot.kind === "sidecar") {
        await this.startSlot(slot);
        continue;
      }
      const succeeded = await this.runInitToCompletion(slot);
      if (!succeeded) return;
    }
    this.initialized = true;
    for (const slot of this.slots.filter((each) => each.kind === "app")) {
      if (this.terminating) return;
      await this.startSlot(slot);
    }
    await this.writeStatus();
  }

  private restartPolicyOf(slot: ContainerSlot): string {
    if (slot.kind === "sidecar") return "Always";
    return this.pod.spec?.restartPolicy ?? "Always";
  }

  /** Runs a classic init container until it exits 0; a failure retries or fails the pod per restartPolicy. */
  private async runInitToCompletion(slot: ContainerSlot): Promise<boolean> {
    for (;;) {
      if (this.terminating) return false;
      if (!(await this.startSlot(slot, false))) return false;
      const running = slot.running;
      if (!running) return false;
      const exitCode = await this.waitForExit(slot, running);
      if (this.terminating) return false;
      const terminated = await this.recordExit(slot, running, exitCode);
      if (terminated.exitCode === 0) {
        slot.terminated = terminated;
        slot.waiting = undefined;
        await this.writeStatus();
        return true;
      }
      if (this.restartPolicyOf(slot) === "Never") {
        slot.terminated = terminated;
        slot.waiting = undefined;
        this.finished = true;
        await this.finish();
        return false;
      }
      await this.backOff(slot, ranFor(terminated));
    }
  }

  private waitForExit(slot: ContainerSlot, running: RuntimeContainer): Promise<number | undefined> {
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        const observation = observeExit(running);
        if (!observation.exited) return;
        clearInterval(timer);
        resolve(observation.exitCode);
      }, this.ctx.exitPollMs);
      slot.stopPolling = () => {
        clearInterval(timer);
        resolve(undefined);
      };
    });
  }

  /** Starts the container; app containers and sidecars are then watched for exits. */
  private async startSlot(slot: ContainerSlot, watch = true): Promise<boolean> {
    if (slot.waiting?.reason === "InvalidImageName") return false;
    const spec = slot.spec;
    const allocation = this.ctx.devices.runtimeAllocation(this.uid, spec.name);
    const command = [...(spec.command ?? []), ...(spec.args ?? [])];
    let running: RuntimeContainer;
    try {
      running = await startRuntimeContainer({
        mode: this.ctx.cgroupMode,
        driver: this.ctx.driver,
        podCgroup: this.podCgroup,
        ...(command.length > 0 ? { args: command } : { args: DEFAULT_CONTAINER_ARGS }),
        env: [...this.environmentOf(spec), ...Object.entries(allocation.env).map(([key, value]) => `${key}=${value}`)],
        devices: allocation.devices,
        binds: this.ctx.images[normalizeImage(spec.image ?? "")] ?? [],
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      slot.waiting = { reason: "CreateContainerError", message };
      this.ctx.event(this.pod, "Warning", "Failed", `Error: ${message}`, this.fieldPath(slot));
      await this.writeStatus();
      return false;
    }
    if (this.terminating) {
      await running.runc.stop();
      return false;
    }
    slot.running = running;
    slot.killedWith = undefined;
    slot.waiting = undefined;
    slot.terminated = undefined;
    this.ctx.event(this.pod, "Normal", "Pulled", `Container image "${spec.image}" already present on machine`, this.fieldPath(slot));
    this.ctx.event(this.pod, "Normal", "Created", `Created container ${spec.name}`, this.fieldPath(slot));
    this.ctx.event(this.pod, "Normal", "Started", `Started container ${spec.name}`, this.fieldPath(slot));
    if (watch) {
      void this.waitForExit(slot, running).then((exitCode) => {
        if (slot.running === running && !this.terminating) void this.enqueue(() => this.handleExit(slot, running, exitCode));
      });
    }
    return true;
  }

  private fieldPath(slot: ContainerSlot): string {
    return slot.kind === "app" ? `spec.containers{${slot.spec.name}}` : `spec.initContainers{${slot.spec.name}}`;
  }

  private environmentOf(spec: V1Container): string[] {
    return (spec.env ?? []).flatMap((variable) => {
      const value = this.envValue(variable);
      return value === undefined ? [] : [`${variable.name}=${value}`];
    });
  }

  private envValue(variable: V1EnvVar): string | undefined {
    if (variable.value !== undefined) return variable.value;
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    switch (fieldPath) {
      case "metadata.name":
        return this.name;
      case "metadata.namespace":
        return this.namespace;
      case "metadata.uid":
        return this.uid;
      case "spec.nodeName":
        return this.ctx.nodeName;
      case "spec.serviceAccountName":
        return this.pod.spec?.serviceAccountName ?? "default";
      case "status.hostIP":
        return this.ctx.hostIP;
      case "status.podIP":
        return this.podIP;
      default:
        return variable.valueFrom ? undefined : "";
    }
  }

  private async recordExit(
    slot: ContainerSlot,
    running: RuntimeContainer,
    observedExitCode: number | undefined,
  ): Promise<V1ContainerStateTerminated> {
    if (slot.running !== running && slot.terminated) return slot.terminated;
    const exitCode = observedExitCode ?? (slot.killedWith !== undefined ? 128 + slot.killedWith : undefined);
    const terminated: V1ContainerStateTerminated = {
      exitCode: exitCode ?? 255,
      reason: exitCode === 0 ? "Completed" : "Error",
      ...(exitCode === undefined ? { message: "exit code unknown: the container's process was reaped elsewhere" } : {}),
      startedAt: running.startedAt,
      finishedAt: new Date(),
      containerID: `containerd://${running.id}`,
    };
    slot.stopPolling?.();
    slot.running = undefined;
    slot.killedWith = undefined;
    try {
      await running.runc.stop();
    } catch (error) {
      this.ctx.log(`removing exited container ${running.id}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return terminated;
  }

  private async handleExit(slot: ContainerSlot, running: RuntimeContainer, exitCode: number | undefined): Promise<void> {
    if (slot.running !== running || this.terminating) return;
    const terminated = await this.recordExit(slot, running, exitCode);
    const policy = this.restartPolicyOf(slot);
    const restart = policy === "Always" || (policy === "OnFailure" && terminated.exitCode !== 0);
    if (!restart) {
      slot.terminated = terminated;
      slot.waiting = undefined;
      if (this.slots.filter((each) => each.kind === "app").every((each) => !each.running && each.terminated)) {
        this.finished = true;
        await this.finish();
        return;
      }
      await this.writeStatus();
      return;
    }
    slot.lastTermination = terminated;
    await this.backOff(slot, ranFor(terminated));
    if (this.terminating) return;
    if (await this.startSlot(slot)) slot.restartCount++;
    await this.writeStatus();
  }

  /**
   * Kubelet's crash back-off: the first restart is immediate, then 10 s, 20 s, ... up to
   * 5 min (base and cap configurable), shown as CrashLoopBackOff meanwhile.
   */
  private async backOff(slot: ContainerSlot, ranFor: number): Promise<void> {
    // A container that ran well past the longest back-off earns a fresh start.
    if (ranFor > 2 * this.ctx.maxRestartBackoffMs) slot.consecutiveFailures = 0;
    const failures = slot.consecutiveFailures++;
    if (failures === 0) return;
    const delay = Math.min(this.ctx.restartBackoffMs * 2 ** (failures - 1), this.ctx.maxRestartBackoffMs);
    const podRef = `${this.name}_${this.namespace}(${this.uid})`;
    slot.waiting = {
      reason: "CrashLoopBackOff",
      message: `back-off ${formatSeconds(delay)} restarting failed container=${slot.spec.name} pod=${podRef}`,
    };
    this.ctx.event(this.pod, "Warning", "BackOff", `Back-off restarting failed container ${slot.spec.name} in pod ${podRef}`, this.fieldPath(slot));
    await this.writeStatus();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      slot.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.terminating) slot.wakeUp();
    });
    slot.wakeUp = undefined;
  }

  /** The pod reached a terminal phase on its own: devices and the pod cgroup go, the object stays. */
  private async finish(): Promise<void> {
    this.ctx.devices.releasePod(this.uid);
    await this.removePodCgroup();
    await this.writeStatus();
  }

  private async stopSlot(slot: ContainerSlot, graceSeconds: number): Promise<void> {
    const running = slot.running;
    if (!running) return;
    this.ctx.event(this.pod, "Normal", "Killing", `Stopping container ${slot.spec.name}`, this.fieldPath(slot));
    let exitCode: number | undefined;
    if (graceSeconds > 0) {
      try {
        slot.killedWith = constants.signals.SIGTERM;
        await running.runc.kill("SIGTERM");
        const deadline = Date.now() + graceSeconds * 1000;
        while (Date.now() < deadline) {
          const observation = observeExit(running);
          if (observation.exited) {
            exitCode = observation.exitCode;
            break;
          }
          await Bun.sleep(this.ctx.exitPollMs);
        }
      } catch {
        // Already exited between the check and the signal.
      }
    }
    if (exitCode === undefined) {
      const observation = observeExit(running);
      if (observation.exited) exitCode = observation.exitCode;
      else slot.killedWith = constants.signals.SIGKILL;
    }
    slot.terminated = await this.recordExit(slot, running, exitCode);
    slot.waiting = undefined;
  }

  private async removePodCgroup(): Promise<void> {
    if (!this.cgroupCreated) return;
    this.cgroupCreated = false;
    try {
      await removeCgroup(this.ctx.cgroupMode, this.podCgroup);
    } catch (error) {
      this.ctx.log(error instanceof Error ? error.message : String(error));
    }
  }

  private async writeStatus(final = false): Promise<void> {
    const status = this.buildStatus(final);
    try {
      await updatePodStatus(this.ctx.core, this.namespace, this.name, this.uid, (latest) => {
        const previous = latest.status?.conditions ?? [];
        // Conditions keep their transition time while their status stays; conditions
        // other components own (DisruptionTarget, readiness gates) are kept as they are.
        const conditions = (status.conditions ?? []).map((condition) => {
          const before = previous.find((other) => other.type === condition.type);
          return before?.status === condition.status && before.lastTransitionTime
            ? { ...condition, lastTransitionTime: before.lastTransitionTime }
            : condition;
        });
        const foreign = previous.filter((condition) => !KUBELET_CONDITIONS.has(condition.type) && condition.type !== "PodScheduled");
        latest.status = { ...status, conditions: [...conditions, ...foreign] };
        return true;
      });
    } catch (error) {
      this.ctx.log(error instanceof Error ? error.message : String(error));
    }
  }

  private phase(final: boolean): string {
    const apps = this.slots.filter((each) => each.kind === "app");
    if (final || this.finished) {
      const exits = this.slots
        .filter((each) => each.kind !== "sidecar")
        .flatMap((each) => (each.terminated ? [each.terminated.exitCode] : []));
      const allAppsSucceeded = apps.every((each) => each.terminated?.exitCode === 0);
      return allAppsSucceeded && exits.every((code) => code === 0) ? "Succeeded" : "Failed";
    }
    if (!this.initialized) return "Pending";
    if (apps.some((each) => each.running)) return "Running";
    if (apps.every((each) => each.restartCount === 0 && !each.running && !each.terminated && !each.lastTermination)) {
      return "Pending";
    }
    return "Running";
  }

  private buildStatus(final: boolean): V1PodStatus {
    const now = new Date();
    const phase = this.phase(final);
    const terminal = phase === "Succeeded" || phase === "Failed";
    const apps = this.slots.filter((each) => each.kind !== "init");
    const notReady = apps.filter((each) => !each.running).map((each) => each.spec.name);
    const incompleteInit = this.slots
      .filter((each) => each.kind === "init" && each.terminated?.exitCode !== 0)
      .map((each) => each.spec.name);
    const condition = (type: string, ok: boolean, reason?: string, message?: string): V1PodCondition => ({
      type,
      status: ok ? "True" : "False",
      lastProbeTime: null as unknown as Date,
      lastTransitionTime: now,
      ...(ok || !reason ? {} : { reason }),
      ...(ok || !message ? {} : { message }),
    });
    const ready = !terminal && notReady.length === 0;
    const podComplete = terminal ? "PodCompleted" : undefined;
    const conditions: V1PodCondition[] = [
      condition("PodReadyToStartContainers", this.cgroupCreated && !terminal),
      condition(
        "Initialized",
        this.initialized || (terminal && incompleteInit.length === 0),
        podComplete ?? "ContainersNotInitialized",
        `containers with incomplete status: [${incompleteInit.join(" ")}]`,
      ),
      condition("Ready", ready, podComplete ?? "ContainersNotReady", `containers with unready status: [${notReady.join(" ")}]`),
      condition("ContainersReady", ready, podComplete ?? "ContainersNotReady", `containers with unready status: [${notReady.join(" ")}]`),
      condition("PodScheduled", true),
    ];
    return {
      phase,
      conditions,
      hostIP: this.ctx.hostIP,
      hostIPs: [{ ip: this.ctx.hostIP }],
      podIP: this.podIP,
      podIPs: [{ ip: this.podIP }],
      startTime: this.startTime,
      qosClass: this.qos,
      ...(this.slots.some((each) => each.kind !== "app")
        ? { initContainerStatuses: this.slots.filter((each) => each.kind !== "app").map((each) => this.containerStatus(each)) }
        : {}),
      containerStatuses: this.slots.filter((each) => each.kind === "app").map((each) => this.containerStatus(each)),
    };
  }

  private containerStatus(slot: ContainerSlot): V1ContainerStatus {
    const image = normalizeImage(slot.spec.image ?? "");
    let state: V1ContainerState;
    if (slot.running) state = { running: { startedAt: slot.running.startedAt } };
    else if (slot.terminated) state = { terminated: slot.terminated };
    else state = { waiting: slot.waiting ?? { reason: "ContainerCreating" } };
    const containerID = slot.running
      ? `containerd://${slot.running.id}`
      : (slot.terminated?.containerID ?? slot.lastTermination?.containerID);
    return {
      name: slot.spec.name,
      image,
      imageID: slot.spec.image ? imageIdOf(image) : "",
      ...(containerID ? { containerID } : {}),
      ready: slot.running !== undefined,
      started: slot.running !== undefined,
      restartCount: slot.restartCount,
      state,
      lastState: slot.lastTermination ? { terminated: slot.lastTermination } : {},
    };
  }
}

const KUBELET_CONDITIONS = new Set(["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"]);

function ranFor(terminated: V1ContainerStateTerminated): number {
  const started = terminated.startedAt ? new Date(terminated.startedAt).getTime() : Date.now();
  const finished = terminated.finishedAt ? new Date(terminated.finishedAt).getTime() : Date.now();
  return finished - started;
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60}m0s` : `${seconds}s`;
}

/** "busybox" → "docker.io/library/busybox:latest", as containerd reports image names. */
export function normalizeImage(image: string): string {
  if (image === "") return "";
  const [name = "", digest] = image.split("@");
  const firstPart = name.split("/")[0] ?? "";
  const hasRegistry = name.includes("/") && (firstPart.includes(".") || firstPart.includes(":") || firstPart === "localhost");
  let full = hasRegistry ? name : name.includes("/") ? `docker.io/${name}` : `docker.io/library/${name}`;
  if (!digest && !/:[^/]+$/.test(full)) full += ":latest";
  return digest ? `${full}@${digest}` : full;
}

/** A stable fake digest per image name: no image is pulled, but the field is never empty. */
function imageIdOf(image: string): string {
  const repository = image.replace(/@.*$/, "").replace(/:[^/]+$/, "");
  return `${repository}@sha256:${createHash("sha256").update(image).digest("hex")}`;
}
