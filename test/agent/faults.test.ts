// A mount that fails at each of its steps leaves nothing behind: no slave
// pod, no grant, no device node. The mount service runs in-process here so
// each dependency can be made to fail at exactly one step; everything else
// (cluster, scheduler, kubelet, PodResources, containers, kernel) is real.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { readGrants } from "../../agent/container/grants.ts";
import { createRegistry } from "../../agent/devicetypes/registry.ts";
import { parseDeviceTypeConfig } from "../../agent/devicetypes/generic.ts";
import { AgentKube } from "../../agent/kube/client.ts";
import { MountService, type MountServiceOptions } from "../../agent/mount/service.ts";
import { containerTarget } from "../../agent/mount/target.ts";
import { parseCgroupMounts } from "../../agent/cgroup/locate.ts";
import { createPodResourcesClient } from "../../agent/podresources/client.ts";
import { StatusError } from "../../src/api/status.ts";
import { kubeConnection, loadKubeConfig } from "../../src/kube/transport.ts";
import type { Logger } from "../../src/observability/log.ts";
import { startCluster, type Cluster, type ClusterNode } from "../cluster/index.ts";
import { createPod, getPod, kubectlOk, waitForPod } from "../cluster/testing.ts";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import { AGENT_IMAGE, AGENT_IMAGES, AGENT_RULES, AGENT_USER, LOOP_MOUNT, LOOP_TYPE_CONFIG } from "./harness.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

describe.skipIf(!ready)("a mount failing at each step leaves nothing behind (v2, systemd)", () => {
  let cluster: Cluster;
  let node: ClusterNode;
  let base: MountServiceOptions;

  beforeAll(async () => {
    cluster = await startCluster({
      cgroupMode: "v2",
      driver: "systemd",
      devices: { loop: 1 },
      images: AGENT_IMAGES,
    });
    node = cluster.nodes[0]!;
    cluster.api.setPolicy({ rules: AGENT_RULES });
    const kubeconfig = `${cluster.dir}/agent-kubeconfig`;
    cluster.api.writeKubeconfig(kubeconfig, AGENT_USER);
    base = {
      nodeName: node.name,
      image: AGENT_IMAGE,
      kube: new AgentKube(kubeConnection(loadKubeConfig({ file: kubeconfig }))),
      registry: createRegistry({ config: parseDeviceTypeConfig(LOOP_TYPE_CONFIG, "test") }),
      podResources: createPodResourcesClient(node.podResourcesSocket),
      cgroup: { driver: node.driver, kubepodsRoot: node.kubepodsRoot, mounts: parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")) },
      logger: quiet,
    };
    await createPod(cluster, { name: "target", command: ["sleep", "3600"], terminationGracePeriodSeconds: 0 });
    await waitForPod(cluster, "target", "condition=Ready");
  }, 120_000);
  afterAll(async () => {
    base?.podResources.close();
    await cluster?.stop();
  });

  async function mountWith(overrides: Partial<MountServiceOptions>) {
    const owner = await getPod(cluster, "target");
    const service = new MountService({ ...base, ...overrides });
    return service
      .mount({
        namespace: "default",
        pod: "target",
        podUid: owner.metadata!.uid!,
        ...LOOP_MOUNT,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
  }

  /** What a user could see: slave pods in the API, grants on the container, nodes inside it, and the device denied. */
  async function expectNothingLeft() {
    const slaves = JSON.parse(await kubectlOk(cluster, ["get", "pods", "-l", "device-mounter.io/slave=true", "-o", "json"])).items;
    expect(slaves).toEqual([]);
    const owner = await getPod(cluster, "target");
    const containerId = owner.status!.containerStatuses![0]!.containerID!;
    const target = containerTarget(owner, containerId, base.cgroup);
    expect(readGrants(target).record.devices).toEqual([]);
    const loop = node.loopDevices[0]!;
    expect(existsSync(`/proc/${target.pid}/root${loop.containerPath}`)).toBe(false);
    const container = node.containerOf("default", "target", "main")!;
    const probe = `/dev/dm-probe-${Math.random().toString(36).slice(2, 8)}`;
    Bun.spawnSync(["mknod", `/proc/${target.pid}/root${probe}`, "b", String(loop.major), String(loop.minor)]);
    expect((await container.execText(["head", "-c", "1", probe])).stderr).toContain("Operation not permitted");
    Bun.spawnSync(["rm", "-f", `/proc/${target.pid}/root${probe}`]);
  }

  test("creating the slave pod fails", async () => {
    const kube = Object.create(base.kube) as AgentKube;
    kube.createPod = async () => {
      throw new StatusError("Forbidden", "injected: pods is forbidden");
    };
    expect(await mountWith({ kube })).toMatchObject({ code: 403 });
    await expectNothingLeft();
  }, 60_000);

  test("the PodResources API fails", async () => {
    const podResources = { ...base.podResources, get: async () => Promise.reject(new StatusError("ServiceUnavailable", "injected: PodResources unavailable")) };
    expect(await mountWith({ podResources })).toMatchObject({ code: 503, message: "injected: PodResources unavailable" });
    await expectNothingLeft();
  }, 60_000);

  test("the target container's cgroup cannot be found", async () => {
    const cgroup = { ...base.cgroup, kubepodsRoot: "/dm-test-nowhere/kubepods.slice" };
    expect(await mountWith({ cgroup })).toMatchObject({ code: 503 });
    await expectNothingLeft();
  }, 60_000);

  test("making the device node fails (read-only root file system)", async () => {
    const registry = createRegistry({
      config: parseDeviceTypeConfig(
        `- name: LOOP
  resources: [example.com/loop]
  devices:
    - slavePath: /dev/example-{id}
      containerPath: /opt/devices/{id}
`,
        "test",
      ),
    });
    const failure = await mountWith({ registry });
    expect(failure).toMatchObject({ code: "EROFS", syscall: "mkdirat" });
    await expectNothingLeft();
  }, 60_000);

  test("recording the grant on the slave pod fails", async () => {
    const kube = Object.create(base.kube) as AgentKube;
    kube.patchPodAnnotations = async () => {
      throw new StatusError("Conflict", "injected: the slave pod changed");
    };
    expect(await mountWith({ kube })).toMatchObject({ code: 409 });
    await expectNothingLeft();
  }, 60_000);
});
