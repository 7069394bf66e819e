// Extended resources end to end: scheduling by device count, the device inside the real
// container, the PodResources API reporting the allocation, release on delete, and
// restarts getting a new container ID (device-mounter must re-grant after them).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import { GPU_RESOURCE, LOOP_RESOURCE, startCluster, type CgroupDriver, type CgroupMode, type Cluster, type ClusterNode } from "./index.ts";
import { containerIdOf, createPod, getPod, kubectlOk, podResourcesClient, waitForPod, type PodResourcesClient } from "./testing.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

const combos: Array<[CgroupMode, CgroupDriver]> = [
  ["v2", "systemd"],
  ["v1", "cgroupfs"],
];

describe.skipIf(!ready).each(combos)("devices on a %s node with the %s driver", (mode, driver) => {
  let cluster: Cluster;
  let node: ClusterNode;
  let podResources: PodResourcesClient;

  beforeAll(async () => {
    cluster = await startCluster({ cgroupMode: mode, driver, devices: { loop: 1, gpus: 2 } });
    node = cluster.nodes[0] as ClusterNode;
    podResources = podResourcesClient(node.podResourcesSocket);
  });
  afterAll(async () => {
    podResources?.close();
    await cluster?.stop();
  });

  async function devicesOf(podName: string): Promise<Array<[string, string[]]>> {
    const { pod_resources } = await podResources.get("default", podName);
    return (pod_resources?.containers[0]?.devices ?? []).map((entry) => [entry.resource_name, entry.device_ids]);
  }

  test("a loop device pod reads the known bytes and shows in PodResources; a second one waits for it", async () => {
    const loop = node.loopDevices[0];
    if (!loop) throw new Error("the node has no loop device");
    await createPod(cluster, { name: "disk-a", command: ["sleep", "3600"], limits: { [LOOP_RESOURCE]: "1" } });
    await waitForPod(cluster, "disk-a", "condition=Ready");

    const container = node.containerOf("default", "disk-a", "main");
    const read = await container?.exec(["head", "-c", String(loop.bytes.length), loop.containerPath]);
    expect(read?.code).toBe(0);
    expect(Buffer.from(read?.stdout ?? []).equals(Buffer.from(loop.bytes))).toBe(true);
    expect(await devicesOf("disk-a")).toEqual([[LOOP_RESOURCE, [loop.id]]]);
    const listed = await podResources.list();
    expect(listed.pod_resources.map((pod) => `${pod.namespace}/${pod.name}`)).toEqual(["default/disk-a"]);

    // The only loop device is taken: the next pod stays Pending with the scheduler's reason.
    await createPod(cluster, { name: "disk-b", command: ["sleep", "3600"], limits: { [LOOP_RESOURCE]: "1" } });
    await waitForPod(cluster, "disk-b", "condition=PodScheduled=False");
    const pending = await getPod(cluster, "disk-b");
    expect(pending.status?.phase).toBe("Pending");
    expect(pending.status?.conditions?.find((c) => c.type === "PodScheduled")).toMatchObject({
      status: "False",
      reason: "Unschedulable",
      message:
        "0/1 nodes are available: 1 Insufficient example.com/loop. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    });

    await kubectlOk(cluster, ["delete", "pod", "disk-a", "--grace-period=1"]);
    await waitForPod(cluster, "disk-b", "condition=Ready");
    expect(await devicesOf("disk-b")).toEqual([[LOOP_RESOURCE, [loop.id]]]);
    const second = node.containerOf("default", "disk-b", "main");
    const again = await second?.exec(["head", "-c", String(loop.bytes.length), loop.containerPath]);
    expect(Buffer.from(again?.stdout ?? []).equals(Buffer.from(loop.bytes))).toBe(true);
    await kubectlOk(cluster, ["delete", "pod", "disk-b", "--grace-period=1"]);
  }, 120_000);

  test("more devices than the node has stays Pending with the scheduler's message", async () => {
    await createPod(cluster, { name: "greedy", limits: { [LOOP_RESOURCE]: "2" } });
    await waitForPod(cluster, "greedy", "condition=PodScheduled=False");
    const pod = await getPod(cluster, "greedy");
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.status?.conditions?.find((c) => c.type === "PodScheduled")?.message).toBe(
      "0/1 nodes are available: 1 Insufficient example.com/loop. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    );
    const events = await kubectlOk(cluster, ["get", "events", "--field-selector", "involvedObject.name=greedy", "-o", "json"]);
    expect(JSON.parse(events).items.map((event: { reason: string }) => event.reason)).toContain("FailedScheduling");
    await kubectlOk(cluster, ["delete", "pod", "greedy"]);
  }, 60_000);

  test("a GPU pod gets the GPU's device nodes and the UUID PodResources reports", async () => {
    await createPod(cluster, { name: "cuda", command: ["sleep", "3600"], limits: { [GPU_RESOURCE]: "1" } });
    await waitForPod(cluster, "cuda", "condition=Ready");
    const [[resource, ids] = ["", []]] = await devicesOf("cuda");
    expect(resource).toBe(GPU_RESOURCE);
    const gpu = node.gpus.find((candidate) => candidate.uuid === ids[0]);
    expect(gpu).toBeDefined();
    const container = node.containerOf("default", "cuda", "main");
    const env = await container?.execText(["sh", "-c", "echo $NVIDIA_VISIBLE_DEVICES"]);
    expect(env?.stdout.trim()).toBe(gpu?.uuid ?? "");
    const listing = await container?.execText(["ls", "-ln", `/dev/nvidia${gpu?.minor}`, "/dev/nvidiactl"]);
    expect(listing?.stdout).toMatch(new RegExp(`^crw-rw-rw-\\s+1 0\\s+0\\s+195,\\s+${gpu?.minor} .* /dev/nvidia${gpu?.minor}$`, "m"));
    expect(listing?.stdout).toMatch(/^crw-rw-rw-\s+1 0\s+0\s+195,\s+255 .* \/dev\/nvidiactl$/m);
    // The other GPU is not in the container.
    const other = node.gpus.find((candidate) => candidate !== gpu);
    expect((await container?.execText(["ls", `/dev/nvidia${other?.minor}`]))?.code).not.toBe(0);
    expect(statSync(gpu?.hostPath ?? "").isCharacterDevice()).toBe(true);
    await kubectlOk(cluster, ["delete", "pod", "cuda", "--grace-period=1"]);
  }, 60_000);

  test("a killed container restarts with a new container ID and restartCount 1", async () => {
    await createPod(cluster, { name: "crashy", command: ["sleep", "3600"], limits: { [LOOP_RESOURCE]: "1" } });
    await waitForPod(cluster, "crashy", "condition=Ready");
    const before = containerIdOf(await getPod(cluster, "crashy"));
    expect(await node.killContainer("default", "crashy", "main")).toBe(before);
    await waitForPod(cluster, "crashy", "jsonpath={.status.containerStatuses[0].restartCount}=1");
    await waitForPod(cluster, "crashy", "condition=Ready");
    const pod = await getPod(cluster, "crashy");
    const after = containerIdOf(pod);
    expect(after).not.toBe(before);
    expect(pod.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({
      exitCode: 137,
      reason: "Error",
      containerID: `containerd://${before}`,
    });
    // Same pod, same devices: the allocation outlives the restart.
    expect(await devicesOf("crashy")).toEqual([[LOOP_RESOURCE, [node.loopDevices[0]?.id ?? ""]]]);
    const restarted = node.containerOf("default", "crashy", "main");
    expect(restarted?.cgroupsPath).toEndWith(driver === "systemd" ? `cri-containerd-${after}.scope` : `/${after}`);
    const read = await restarted?.exec(["head", "-c", "8", node.loopDevices[0]?.containerPath ?? ""]);
    expect(read?.code).toBe(0);
    await kubectlOk(cluster, ["delete", "pod", "crashy", "--grace-period=1"]);
  }, 90_000);
});
