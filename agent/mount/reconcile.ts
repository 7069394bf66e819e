// Keeps mounts true over time, from the slave pods and the kernel alone (no
// local state): a restarted target container gets its devices again, a grant
// that disappeared from under us (a cgroup rewrite, a runtime re-creating its
// device program, a deleted node) is put back, a slave pod deleted by someone
// else takes its devices with it, and slave pods whose owner or container is
// gone, or that never got a grant, are deleted.
import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "../../src/observability/log.ts";
import type { ContainerCgroupOptions } from "../cgroup/container-cgroup.ts";
import { GrantsLockedError } from "../container/grant-lock.ts";
import { DeviceBusyError, readGrants, setGrants } from "../container/grants.ts";
import type { AgentKube } from "../kube/client.ts";
import { grantAnnotations, readGrant } from "../slavepod/grant-record.ts";
import { CONTAINER_LABEL, OWNER_UID_LABEL, SLAVE_LABEL, slavePodSelector } from "../slavepod/keys.ts";
import type { ContainerLocks } from "./container-lock.ts";
import { AGENT_GRANTOR, agentDesired, agentPathsNotIn } from "./desired.ts";
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

const isSlave = (p: V1Pod) => p.metadata?.labels?.[SLAVE_LABEL] === "true" && !p.metadata?.deletionTimestamp;

export class Reconciler {
  readonly stats: ReconcileStats = { passes: 0, repairs: 0, regrants: 0, revokes: 0, deletedSlavePods: 0, lastPassAt: 0 };
  private readonly now: () => number;

  constructor(private readonly options: ReconcilerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** One pass over every container on this node that has, or had, devices from the agent. */
  async pass(): Promise<void> {
    const pods = this.options.pods();
    const slaves = pods.filter(isSlave);
    const owners = new Map(pods.filter((p) => !isSlave(p) && !p.metadata?.deletionTimestamp).map((p) => [p.metadata?.uid, p]));
    let failure: string | undefined;
    const attempt = async (key: string, work: () => Promise<void>) => {
      try {
        await work();
      } catch (e) {
        failure = `${key}: ${(e as Error).message}`;
        this.options.logger.warn("reconcile failed; retrying next pass", { container: key, error: e });
      }
    };
    const orphans = slaves.filter((s) => {
      const owner = owners.get(s.metadata!.labels![OWNER_UID_LABEL]);
      return !owner || !(owner.spec?.containers ?? []).some((c) => c.name === s.metadata!.labels![CONTAINER_LABEL]);
    });
    if (orphans.length) await attempt("orphans", () => this.deleteSlaves(orphans, "its owner pod or container is gone"));
    for (const owner of owners.values()) {
      for (const container of owner.spec?.containers ?? []) {
        const key = `${owner.metadata!.uid}/${container.name}`;
        const mine = slaves.filter((s) => s.metadata!.labels![OWNER_UID_LABEL] === owner.metadata!.uid && s.metadata!.labels![CONTAINER_LABEL] === container.name);
        await attempt(key, () => this.reconcileContainer(key, owner, container.name, mine));
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

  private async reconcileContainer(key: string, owner: V1Pod, containerName: string, slaves: V1Pod[]): Promise<void> {
    const container = resolveContainer(owner, containerName);
    if (!container.containerId && slaves.length === 0) return;
    // The lock keeps a pass from acting on a container while a mount or unmount changes it.
    if (this.options.locks.busy(key)) return;
    const release = await this.options.locks.acquire(key, 0, key).catch(() => undefined);
    if (!release) return;
    try {
      const abandoned = slaves.filter((s) => !readGrant(s).grant && this.now() - Date.parse(String(s.metadata?.creationTimestamp ?? 0)) > (this.options.abandonedAfterMs ?? 10 * 60_000));
      if (abandoned.length) await this.deleteSlaves(abandoned, "it never got a grant (its mount did not finish)");
      if (!container.containerId) return; // granted again once it runs
      const target = containerTarget(owner, container.containerId, this.options.cgroup);
      const record = readGrants(target).record.devices;
      const granted = slaves.filter((s) => readGrant(s).grant);
      const devices = granted.flatMap((s) => readGrant(s).grant!.devices);
      if (devices.length === 0 && !record.some((g) => g.grantor === AGENT_GRANTOR)) return;
      const stale = agentPathsNotIn(record, devices);
      if (stale.length && (await this.stillWanted(owner, containerName, stale))) return;
      const restarted = granted.filter((s) => readGrant(s).grant!.containerId !== container.containerId);
      // A pass never waits: whoever holds the lock (a CLI run) is changing this container now.
      const result = await setGrants(target, (current) => agentDesired(current, devices), { lockTimeoutMs: 0 });
      for (const s of restarted) {
        await this.options.kube.patchPodAnnotations(s.metadata!.namespace!, s.metadata!.name!, grantAnnotations(readGrant(s).grant!.devices, container.containerId));
      }
      // A new container has a new cgroup, so an empty record there is what marks a
      // restart; the annotation alone may lag in the informer after our own patch.
      if (restarted.length && result.added.length) {
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
      if (e instanceof GrantsLockedError) return; // the next pass looks again
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
   * The informer may not yet show a slave pod (or its grant record) that a
   * mount has just written; before taking devices away, ask the API.
   */
  private async stillWanted(owner: V1Pod, container: string, paths: string[]): Promise<boolean> {
    const fresh = await this.options.kube.listPods(owner.metadata!.namespace!, slavePodSelector({ ownerUid: owner.metadata!.uid!, container }));
    const wanted = new Set(fresh.filter((s) => !s.metadata?.deletionTimestamp).flatMap((s) => readGrant(s).grant?.devices ?? []).map((d) => d.path));
    return paths.some((p) => wanted.has(p));
  }
}
