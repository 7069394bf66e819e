// The agent end to end on the cluster-in-a-box: real slave pods scheduled and
// given devices by the stand-in scheduler and kubelet, PodResources over
// gRPC, and grants into real runc containers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import { createPod, getPod, kubectlOk, waitForPod } from "../cluster/testing.ts";
import type { CgroupDriver, CgroupMode } from "../cluster/index.ts";
import { startAgentCluster, type AgentCluster } from "./harness.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

const combos: Array<[CgroupMode, CgroupDriver]> = [
  ["v1", "cgroupfs"],
  ["v2", "systemd"],
];

describe.skipIf(!ready).each(combos)("agent on a %s node with the %s driver", (mode, driver) => {
  let env: AgentCluster;
  beforeAll(async () => {
    env = await startAgentCluster({ cgroupMode: mode, driver });
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
  });

  async function readInside(pod: string, path: string) {
    const c = env.node.containerOf("default", pod, "main");
    const r = await c!.exec(["head", "-c", "4096", path]);
    return { code: r.code, bytes: Buffer.from(r.stdout), stderr: r.stderr };
  }

  test("mount one loop device: the container reads its bytes; unmount takes it away", async () => {
    await createPod(env.cluster, { name: "app", command: ["sleep", "3600"] });
    await waitForPod(env.cluster, "app", "condition=Ready");
    const started = Date.now();
    const mounted = await env.mount({ pod: "app" });
    if (mounted.status !== 200) console.log(mounted.body, env.logs.slice(-20).join("\n"));
    console.log("mount took", Date.now() - started);
    expect(mounted.status).toBe(200);
    expect(mounted.body).toMatchObject({ kind: "MountResult", container: "main" });
    const device = mounted.body.devices[0];
    const loop = env.node.loopDevices.find((l) => l.id === device.deviceId)!;
    const read = await readInside("app", device.path);
    expect(read.code).toBe(0);
    expect(read.bytes.equals(Buffer.from(loop.bytes))).toBe(true);

    const slave = await getPod(env.cluster, mounted.body.slavePods[0]);
    expect(slave.status?.qosClass).toBe("Guaranteed");
    expect(JSON.parse(slave.metadata!.annotations!["device-mounter.io/devices"]!).devices[0]).toMatchObject({ deviceId: device.deviceId, path: device.path });

    const unmounted = await env.unmount({ pod: "app" });
    expect(unmounted.status).toBe(200);
    expect((await readInside("app", device.path)).stderr).toContain("No such file or directory");
    await kubectlOk(env.cluster, ["delete", "pod", "app", "--grace-period=0"]);
  }, 120_000);
});
