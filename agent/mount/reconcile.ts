// Keeps mounts true over time, from the slave pods and the kernel alone (no
// local state): a restarted target container gets its devices again, a grant
// that disappeared from under us (a cgroup rewrite, a runtime re-creating its
// device program, a deleted node) is put back, a slave pod deleted by someone
// else takes its devices with it, and slave pods whose owner or container is
// gone, or that never got a grant, are deleted.
import type { V1Pod } from "@kubernetes/client-node";
import type { MountedDevice } from "../../src/api/agent.ts";
import type { Logger } from "../../src/observability/log.ts";
import type { ContainerCgroupOptions } from "../cgroup/container-cgroup.ts";
import { DeviceBusyError, readGrants, setGrants, type DeviceSpec } from "../container/grants.ts";
import type { AgentKube } from "../kube/client.ts";
import { grantAnnotations, readGrant } from "../slavepod/grant-record.ts";
import { CONTAINER_LABEL, OWNER_UID_LABEL, SLAVE_LABEL, slavePodSelector } from "../slavepod/keys.ts";
import type { ContainerLocks } from "./container-lock.ts";
import { containerTarget, resolveContainer } from "./target.ts";

export interface ReconcilerOptions {
  kube: AgentKube;
  /** Pods on this node, from the informer. */
  pods: () => V1Pod[];
  locks: ContainerLocks;
  cgroup: ContainerCgroupOptions;
  logger: Logger;
  now?: () => number;
  /** A slave pod without a grant record older than this was left by a mount that died. */
  abandonedAfterMs?: number;
}

export interface ReconcileStats {
  passes: number;
  repairs: number;
  regrants: number;
  revokes: number;
  deletedSlavePods: number;
  lastPassAt: number;
  lastError?: string;
}

const asSpec = (d: MountedDevice): DeviceSpec => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, access: d.access, mode: d.mode, uid: d.uid, gid: d.gid });

const isSlave = (p: V1Pod) => p.metadata?.labels?.[SLAVE_LABEL] === "true" && !p.metadata?.deletionTimestamp;

export class Reconciler {
  readonly stats: ReconcileStats = { passes: 0, repairs: 0, regrants: 0, revokes: 0, deletedSlavePods: 0, lastPassAt: 0 };
  private readonly now: () => number;

  constructor(private readonly options: ReconcilerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** One pass over every target container that has (or had) slave pods on this node. */
  async pass(): Promise<void> {
    const pods = this.options.pods();
    const byUid = new Map(pods.map((p) => [p.metadata?.uid, p]));
    const groups = new Map<string, { ownerUid: string; container: string; slaves: V1Pod[] }>();
    for (const slave of pods.filter(isSlave)) {
      const ownerUid = slave.metadata!.labels![OWNER_UID_LABEL]!;
      const container = slave.metadata!.labels![CONTAINER_LABEL]!;
      const key = `${ownerUid}/${container}`;
      const group = groups.get(key) ?? { ownerUid, container, slaves: [] };
      group.slaves.push(slave);
      groups.set(key, group);
    }
    let failure: string | undefined;
    for (const [key, group] of groups) {
      try {
        await this.reconcileContainer(key, group.container, byUid.get(group.ownerUid), group.slaves);
      } catch (e) {
        failure = `${key}: ${(e as Error).message}`;
        this.options.logger.warn("reconcile failed; retrying next pass", { container: key, error: e });
      }
    }
    this.stats.passes++;
    this.stats.lastPassAt = this.now();
    this.stats.lastError = failure;
  }

  private async deleteSlaves(slaves: V1Pod[], why: string): Promise<void> {
    for (const s of slaves) {
      await this.options.kube.deletePod(s.metadata!.namespace!, s.metadata!.name!, s.metadata?.uid);
      this.stats.deletedSlavePods++;
      this.options.logger.info("deleted slave pod", { slavePod: `${s.metadata!.namespace}/${s.metadata!.name}`, reason: why });
    }
  }

  private async reconcileContainer(key: string, containerName: string, owner: V1Pod | undefined, slaves: V1Pod[]): Promise<void> {
    if (!owner || owner.metadata?.deletionTimestamp) return this.deleteSlaves(slaves, "its owner pod is gone");
    if (!(owner.spec?.containers ?? []).some((c) => c.name === containerName)) return this.deleteSlaves(slaves, `its owner has no container ${containerName}`);
    // The lock keeps a pass from acting on a container while a mount or unmount changes it.
    if (this.options.locks.busy(key)) return;
    const release = await this.options.locks.acquire(key, 0, key).catch(() => undefined);
    if (!release) return;
    try {
      const granted = slaves.filter((s) => readGrant(s).grant);
      const abandoned = slaves.filter((s) => !readGrant(s).grant && this.now() - Date.parse(String(s.metadata?.creationTimestamp ?? 0)) > (this.options.abandonedAfterMs ?? 10 * 60_000));
      if (abandoned.length) await this.deleteSlaves(abandoned, "it never got a grant (its mount did not finish)");
      const container = resolveContainer(owner, containerName);
      if (!container.containerId) return; // granted again once it runs
      const target = containerTarget(owner, container.containerId, this.options.cgroup);
      const desired = granted.flatMap((s) => readGrant(s).grant!.devices);
      const recorded = readGrants(target).record.devices;
      const wanted = new Set(desired.map((d) => d.path));
      if (recorded.some((d) => !wanted.has(d.path)) && !(await this.stillUnwanted(owner, containerName, recorded, wanted))) return;
      const restarted = granted.filter((s) => readGrant(s).grant!.containerId !== container.containerId);
      const result = await setGrants(target, dedupe(desired).map(asSpec));
      for (const s of restarted) {
        await this.options.kube.patchPodAnnotations(s.metadata!.namespace!, s.metadata!.name!, grantAnnotations(readGrant(s).grant!.devices, container.containerId));
      }
      if (restarted.length) {
        this.stats.regrants++;
        this.options.logger.info("granted devices to a restarted container", { container: key, containerId: container.containerId });
      } else if (result.removed.length) {
        this.stats.revokes++;
        this.options.logger.info("revoked devices whose slave pod is gone", { container: key, devices: result.removed.map((d) => d.path) });
      } else if (result.kernelChanged || result.added.length) {
        this.stats.repairs++;
        this.options.logger.warn("repaired a grant that disappeared", { container: key, devices: [...result.added, ...result.unchanged].map((d) => d.path) });
      }
    } catch (e) {
      if (e instanceof DeviceBusyError) {
        this.options.logger.warn("a slave pod is gone but its device is in use; revoking when it is free", { container: key, error: e.message });
        return;
      }
      throw e;
    } finally {
      release();
    }
  }

  /**
   * The informer may not show a slave pod (or its grant record) that a mount
   * has just finished writing; before taking devices away, ask the API.
   */
  private async stillUnwanted(owner: V1Pod, container: string, recorded: Array<{ path: string }>, wanted: Set<string>): Promise<boolean> {
    const fresh = await this.options.kube.listPods(owner.metadata!.namespace!, slavePodSelector({ ownerUid: owner.metadata!.uid!, container }));
    for (const s of fresh) for (const d of readGrant(s).grant?.devices ?? []) wanted.add(d.path);
    return recorded.some((d) => !wanted.has(d.path));
  }
}

function dedupe(devices: MountedDevice[]): MountedDevice[] {
  return [...new Map(devices.map((d) => [d.path, d])).values()];
}
