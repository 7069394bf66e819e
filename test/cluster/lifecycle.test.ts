// Pod lifecycle details a kubelet owns: init containers, restart policies and crash
// back-off, exit codes, and kubelet-side admission of pods that bypass the scheduler.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import { LOOP_RESOURCE, startCluster, type Cluster } from "./index.ts";
import { containerIdOf, createPod, getPod, kubectlOk, waitForPod } from "./testing.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

describe.skipIf(!ready)("pod lifecycle on a v1 node with the systemd driver", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ cgroupMode: "v1", driver: "systemd", devices: { loop: 1 }, restartBackoffMs: 1000 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test("QoS classes pick the pod cgroup: Guaranteed directly under kubepods, Burstable in its slice", async () => {
    await createPod(cluster, { name: "guaranteed", command: ["sleep", "3600"], limits: { cpu: "100m", memory: "64Mi" } });
    await createPod(cluster, { name: "burstable", command: ["sleep", "3600"], requests: { cpu: "100m" } });
    await waitForPod(cluster, "guaranteed", "condition=Ready");
    await waitForPod(cluster, "burstable", "condition=Ready");
    const root = cluster.nodes[0]?.kubepodsRoot ?? "";
    expect(root).toEndWith("/kubepods.slice");
    for (const [name, qos, parent] of [
      ["guaranteed", "Guaranteed", `${root}/kubepods-pod`],
      ["burstable", "Burstable", `${root}/kubepods-burstable.slice/kubepods-burstable-pod`],
    ] as const) {
      const pod = await getPod(cluster, name);
      expect(pod.status?.qosClass).toBe(qos);
      const uid = (pod.metadata?.uid ?? "").replaceAll("-", "_");
      expect(cluster.nodes[0]?.containerOf("default", name, "main")?.cgroupsPath).toBe(
        `${parent}${uid}.slice/cri-containerd-${containerIdOf(pod)}.scope`,
      );
    }
    await kubectlOk(cluster, ["delete", "pod", "guaranteed", "burstable", "--grace-period=1"]);
  }, 60_000);

  test("an init container runs to completion before the app container starts", async () => {
    await createPod(cluster, { name: "staged", initCommand: ["sh", "-c", "exit 0"], command: ["sleep", "3600"] });
    await waitForPod(cluster, "staged", "condition=Ready");
    const pod = await getPod(cluster, "staged");
    expect(pod.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: "Completed" });
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
    await kubectlOk(cluster, ["delete", "pod", "staged", "--grace-period=1"]);
  }, 60_000);

  test("restartPolicy Never: a failing container ends the pod Failed with its exit code", async () => {
    await createPod(cluster, { name: "once", restartPolicy: "Never", command: ["sh", "-c", "exit 3"], limits: { [LOOP_RESOURCE]: "1" } });
    await waitForPod(cluster, "once", "jsonpath={.status.phase}=Failed");
    const pod = await getPod(cluster, "once");
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: "Error" });
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    // A finished pod holds no device: the next one gets the only loop device.
    await createPod(cluster, { name: "next", command: ["sleep", "3600"], limits: { [LOOP_RESOURCE]: "1" } });
    await waitForPod(cluster, "next", "condition=Ready");
    await kubectlOk(cluster, ["delete", "pod", "once", "next", "--grace-period=1"]);
  }, 60_000);

  test("a crashing container backs off with CrashLoopBackOff", async () => {
    await createPod(cluster, { name: "crashloop", command: ["sh", "-c", "exit 1"] });
    await waitForPod(cluster, "crashloop", "jsonpath={.status.containerStatuses[0].state.waiting.reason}=CrashLoopBackOff");
    const pod = await getPod(cluster, "crashloop");
    const status = pod.status?.containerStatuses?.[0];
    expect(status?.state?.waiting?.message).toMatch(
      new RegExp(`^back-off \\d+s restarting failed container=main pod=crashloop_default\\(${pod.metadata?.uid}\\)$`),
    );
    expect(status?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: "Error" });
    expect(status?.restartCount).toBeGreaterThanOrEqual(1);
    expect(pod.status?.phase).toBe("Running");
    await kubectlOk(cluster, ["delete", "pod", "crashloop", "--grace-period=1"]);
  }, 60_000);

  test("a pod bound to the node directly is rejected when the node lacks the devices", async () => {
    await createPod(cluster, { name: "direct", nodeName: "node-0", limits: { [LOOP_RESOURCE]: "2" } });
    await waitForPod(cluster, "direct", "jsonpath={.status.phase}=Failed");
    const pod = await getPod(cluster, "direct");
    expect(pod.status?.reason).toBe("OutOfexample.com/loop");
    expect(pod.status?.message).toBe(
      "Pod was rejected: Node didn't have enough resource: example.com/loop, requested: 2, used: 0, capacity: 1",
    );
    await kubectlOk(cluster, ["delete", "pod", "direct"]);
  }, 60_000);
});
