// Conformance of the cluster-in-a-box with a plain pod, in every cgroup mode x driver:
// kubectl creates it, the scheduler binds it, the kubelet runs a real runc container in
// the cgroup a kubelet + containerd node would use, and delete removes all of it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { hostCgroupMounts } from "../support/cgroupfs.ts";
import { requireRoot } from "../support/prereqs.ts";
import { runCommand } from "../support/command.ts";
import { RUNC_ROOTS } from "../support/runc-cli.ts";
import { startCluster, type CgroupDriver, type CgroupMode, type Cluster } from "./index.ts";
import { containerIdOf, getPod, kubectlOk, podManifest, procsOf, waitForPod } from "./testing.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

const combos: Array<[CgroupMode, CgroupDriver]> = [
  ["v1", "cgroupfs"],
  ["v1", "systemd"],
  ["v2", "cgroupfs"],
  ["v2", "systemd"],
];

function expectedContainerCgroup(cluster: Cluster, driver: CgroupDriver, podUid: string, containerId: string): string {
  const root = cluster.nodes[0]?.kubepodsRoot ?? "";
  return driver === "cgroupfs"
    ? `${root}/besteffort/pod${podUid}/${containerId}`
    : `${root}/kubepods-besteffort.slice/kubepods-besteffort-pod${podUid.replaceAll("-", "_")}.slice/cri-containerd-${containerId}.scope`;
}

describe.skipIf(!ready).each(combos)("a pod on a %s node with the %s driver", (mode, driver) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ cgroupMode: mode, driver });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test("runs as a real container in the kubelet's cgroup and goes away on delete", async () => {
    const manifestPath = join(cluster.dir, "pod.yaml");
    writeFileSync(manifestPath, podManifest({ name: "web", command: ["sleep", "3600"], terminationGracePeriodSeconds: 1 }));
    expect(await kubectlOk(cluster, ["create", "-f", manifestPath])).toBe("pod/web created\n");
    await waitForPod(cluster, "web", "condition=Ready");

    const pod = await getPod(cluster, "web");
    expect(pod.spec?.nodeName).toBe("node-0");
    expect(pod.status?.phase).toBe("Running");
    expect(pod.status?.qosClass).toBe("BestEffort");
    const status = pod.status?.containerStatuses?.[0];
    expect(status).toMatchObject({ name: "main", ready: true, started: true, restartCount: 0 });
    expect(status?.state?.running?.startedAt).toBeDefined();
    expect(pod.status?.conditions?.filter((c) => c.status === "True").map((c) => c.type).sort()).toEqual(
      ["ContainersReady", "Initialized", "PodReadyToStartContainers", "PodScheduled", "Ready"],
    );

    const containerId = containerIdOf(pod);
    const cgroupPath = expectedContainerCgroup(cluster, driver, pod.metadata?.uid ?? "", containerId);
    const container = cluster.nodes[0]?.containerOf("default", "web", "main");
    expect(container?.cgroupsPath).toBe(cgroupPath);
    const mounts = hostCgroupMounts();
    const hostDirs = [`${mounts.unified}${cgroupPath}`];
    if (mode === "v1") hostDirs.push(`${mounts.v1.find((h) => h.controllers.includes("devices"))?.mountPoint}${cgroupPath}`);
    for (const dir of hostDirs) expect(procsOf(dir)).toContain(container?.pid ?? -1);
    const inside = await container?.execText(["cat", "/proc/1/cmdline"]);
    expect(inside?.stdout).toBe("sleep\u00003600\u0000");

    const listed = await kubectlOk(cluster, ["get", "pods", "-A"]);
    expect(listed).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    expect(listed).toMatch(/\ndefault\s+web\s+1\/1\s+Running\s+0\s+\S+\n/);

    expect(await kubectlOk(cluster, ["delete", "pod", "web"])).toBe('pod "web" deleted\n');
    expect((await cluster.kubectl(["get", "pod", "web"])).stderr).toContain('pods "web" not found');
    for (const dir of hostDirs) expect(existsSync(dir)).toBe(false);
    const podDir = hostDirs[0]?.slice(0, hostDirs[0].lastIndexOf("/")) ?? "";
    expect(existsSync(podDir)).toBe(false);
    const runcList = await runCommand(["runc", "--root", RUNC_ROOTS[mode], "list", "-q"]);
    expect(new TextDecoder().decode(runcList.stdout)).not.toContain(containerId);
  }, 120_000);

  test("a hostNetwork pod has the node's address as its pod IP; other pods get one from the node's pod subnet", async () => {
    const manifest = JSON.parse(podManifest({ name: "on-host", command: ["sleep", "3600"], terminationGracePeriodSeconds: 0 }));
    manifest.spec.hostNetwork = true;
    await kubectlOk(cluster, ["create", "-f", "-"], JSON.stringify(manifest));
    await kubectlOk(cluster, ["create", "-f", "-"], podManifest({ name: "on-pod-network", command: ["sleep", "3600"], terminationGracePeriodSeconds: 0 }));
    await waitForPod(cluster, "on-host", "condition=Ready");
    await waitForPod(cluster, "on-pod-network", "condition=Ready");
    const hostIP = cluster.nodes[0]?.hostIP;
    expect((await getPod(cluster, "on-host")).status).toMatchObject({ hostIP, podIP: hostIP, podIPs: [{ ip: hostIP }] });
    expect((await getPod(cluster, "on-pod-network")).status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
    await kubectlOk(cluster, ["delete", "pod", "on-host", "on-pod-network"]);
  }, 60_000);
});
