// Cluster-level behaviour: kubectl watches, several nodes with their own devices and
// PodResources sockets, pods for another scheduler, and a teardown that leaves nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { cleanupAfterAll, cleanupAll } from "../support/cleanup.ts";
import { hostCgroupMounts } from "../support/cgroupfs.ts";
import { runCommand } from "../support/command.ts";
import { requireRoot } from "../support/prereqs.ts";
import { RUNC_ROOTS } from "../support/runc-cli.ts";
import { LOOP_RESOURCE, startCluster, type Cluster } from "./index.ts";
import { containerIdOf, createPod, getPod, kubectlOk, podManifest, podResourcesClient, waitForPod } from "./testing.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

/** Reads a long-running command's stdout until `until` matches what it printed so far. */
async function readUntil(cmd: string[], until: RegExp, timeoutMs: number, whileWaiting?: () => Promise<void>): Promise<string> {
  const child = Bun.spawn({ cmd, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let text = "";
  try {
    const reader = child.stdout.getReader();
    let started = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      if (!started && whileWaiting) {
        started = true;
        void whileWaiting();
      }
      if (until.test(text)) break;
    }
  } finally {
    clearTimeout(timer);
    child.kill("SIGKILL");
    await child.exited;
  }
  if (!until.test(text)) throw new Error(`${cmd.join(" ")} did not print ${until} within ${timeoutMs} ms; got:\n${text}`);
  return text;
}

describe.skipIf(!ready)("a two-node cluster", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ cgroupMode: "v2", driver: "cgroupfs", nodes: 2, devices: { loop: 1 } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test("kubectl get -w follows a pod from creation to deletion", async () => {
    // Something to list first: the watch's first output says it has started.
    await createPod(cluster, { name: "anchor", schedulerName: "other-scheduler" });
    const output = await readUntil(
      ["kubectl", "--kubeconfig", cluster.kubeconfigPath, "get", "pods", "-w", "--output-watch-events"],
      /DELETED\s+watched\s/,
      60_000,
      async () => {
        await createPod(cluster, { name: "watched", command: ["sleep", "3600"], terminationGracePeriodSeconds: 1 });
        await waitForPod(cluster, "watched", "condition=Ready");
        await kubectlOk(cluster, ["delete", "pod", "watched"]);
      },
    );
    expect(output).toMatch(/^EVENT\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    expect(output).toMatch(/^ADDED\s+watched\s+0\/1\s+Pending\s+0\s/m);
    expect(output).toMatch(/^MODIFIED\s+watched\s+1\/1\s+Running\s+0\s/m);
    expect(output).toMatch(/^MODIFIED\s+watched\s+0\/1\s+(Terminating|Completed|Error)\s/m);
    await kubectlOk(cluster, ["delete", "pod", "anchor"]);
  }, 90_000);

  test("pods spread over the nodes' devices, each node reports only its own", async () => {
    await createPod(cluster, { name: "a", command: ["sleep", "3600"], limits: { [LOOP_RESOURCE]: "1" } });
    await createPod(cluster, { name: "b", command: ["sleep", "3600"], limits: { [LOOP_RESOURCE]: "1" } });
    await waitForPod(cluster, "a", "condition=Ready");
    await waitForPod(cluster, "b", "condition=Ready");
    const nodesOf = [(await getPod(cluster, "a")).spec?.nodeName, (await getPod(cluster, "b")).spec?.nodeName];
    expect([...nodesOf].sort()).toEqual(["node-0", "node-1"]);

    await createPod(cluster, { name: "c", limits: { [LOOP_RESOURCE]: "1" } });
    await waitForPod(cluster, "c", "condition=PodScheduled=False");
    expect((await getPod(cluster, "c")).status?.conditions?.find((each) => each.type === "PodScheduled")?.message).toBe(
      "0/2 nodes are available: 2 Insufficient example.com/loop. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
    );

    for (const node of cluster.nodes) {
      const client = podResourcesClient(node.podResourcesSocket);
      try {
        const { pod_resources } = await client.list();
        const podOnNode = nodesOf[0] === node.name ? "a" : "b";
        expect(pod_resources.map((pod) => pod.name)).toEqual([podOnNode]);
        expect(pod_resources[0]?.containers[0]?.devices).toEqual([
          { resource_name: LOOP_RESOURCE, device_ids: ["loop0"], topology: null },
        ]);
        const container = node.containerOf("default", podOnNode, "main");
        const read = await container?.exec(["head", "-c", String(node.loopDevices[0]?.bytes.length), "/dev/example-loop0"]);
        expect(Buffer.from(read?.stdout ?? []).equals(Buffer.from(node.loopDevices[0]?.bytes ?? []))).toBe(true);
      } finally {
        client.close();
      }
    }
    await kubectlOk(cluster, ["delete", "pod", "a", "b", "c", "--grace-period=1"]);
  }, 90_000);

  test("node selectors pin pods; pods for another scheduler stay unscheduled", async () => {
    await createPod(cluster, { name: "elsewhere", schedulerName: "other-scheduler" });
    await createPod(cluster, { name: "pinned", command: ["sleep", "3600"], nodeSelector: { "kubernetes.io/hostname": "node-1" } });
    await waitForPod(cluster, "pinned", "condition=Ready");
    expect((await getPod(cluster, "pinned")).spec?.nodeName).toBe("node-1");
    const elsewhere = await getPod(cluster, "elsewhere");
    expect(elsewhere.spec?.nodeName).toBeUndefined();
    expect(elsewhere.status?.conditions ?? []).toEqual([]);
    expect(elsewhere.status?.phase).toBe("Pending");

    await createPod(cluster, { name: "nowhere", nodeSelector: { "kubernetes.io/hostname": "node-9" } });
    await waitForPod(cluster, "nowhere", "condition=PodScheduled=False");
    expect((await getPod(cluster, "nowhere")).status?.conditions?.[0]?.message).toBe(
      "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    );
    await kubectlOk(cluster, ["delete", "pod", "elsewhere", "pinned", "nowhere", "--grace-period=1"]);
  }, 60_000);
});

describe.skipIf(!ready)("teardown", () => {
  test("the cleanup registry removes every container, loop device, cgroup, socket and temp dir", async () => {
    const cluster = await startCluster({ cgroupMode: "v1", driver: "systemd", devices: { loop: 1, gpus: 1 } });
    const node = cluster.nodes[0];
    if (!node) throw new Error("the cluster has no node");
    await kubectlOk(cluster, ["create", "-f", "-"], podManifest({ name: "left", command: ["sleep", "3600"], limits: { [LOOP_RESOURCE]: "1" } }));
    await waitForPod(cluster, "left", "condition=Ready");
    const containerId = containerIdOf(await getPod(cluster, "left"));
    const pid = node.containerOf("default", "left", "main")?.pid ?? -1;
    const loopPath = node.loopDevices[0]?.hostPath ?? "";
    const cgroupRoots = [...hostCgroupMounts().v1.map((hierarchy) => hierarchy.mountPoint), hostCgroupMounts().unified ?? ""];
    expect(cgroupRoots.filter((root) => existsSync(`${root}/${cluster.name}`)).length).toBe(cgroupRoots.length);

    // What afterAll does after a failed test: the cluster was never stopped by the test.
    await cleanupAll();

    const losetup = await runCommand(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"]);
    expect(new TextDecoder().decode(losetup.stdout)).not.toContain(cluster.name);
    expect(new TextDecoder().decode(losetup.stdout)).not.toMatch(new RegExp(`^${loopPath}\\s.*dm-test`, "m"));
    for (const mode of ["v1", "v2"] as const) {
      const listed = await runCommand(["runc", "--root", RUNC_ROOTS[mode], "list", "-q"]);
      expect(new TextDecoder().decode(listed.stdout)).not.toContain(containerId);
    }
    const state = existsSync(`/proc/${pid}/stat`) ? (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]?.[0] : "gone";
    expect(["gone", "Z"]).toContain(state ?? "gone");
    for (const root of cgroupRoots) expect(existsSync(`${root}/${cluster.name}`)).toBe(false);
    expect(existsSync(node.podResourcesSocket)).toBe(false);
    expect(existsSync(cluster.dir)).toBe(false);
    expect(readdirSync("/tmp").filter((name) => name === cluster.name)).toEqual([]);
  }, 60_000);
});
