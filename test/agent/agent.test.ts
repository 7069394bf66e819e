// The agent end to end on the cluster-in-a-box: real slave pods scheduled and
// given devices by the stand-in scheduler and kubelet, PodResources over
// gRPC, and grants into real runc containers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { loadNative } from "../../native/index.ts";
import { readGrants } from "../../agent/container/grants.ts";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import { createPod, getPod, kubectlOk, podResourcesClient, waitForPod } from "../cluster/testing.ts";
import type { CgroupDriver, CgroupMode } from "../cluster/index.ts";
import { eventually, startAgentCluster, type AgentCluster } from "./harness.ts";
import { startHolder } from "../support/holder.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

const combos: Array<[CgroupMode, CgroupDriver]> = [
  ["v1", "cgroupfs"],
  ["v2", "systemd"],
];

describe.skipIf(!ready).each(combos)("agent on a %s node with the %s driver", (mode, driver) => {
  let env: AgentCluster;
  let pods = 0;
  beforeAll(async () => {
    env = await startAgentCluster({ cgroupMode: mode, driver });
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
  });

  async function runningPod(extra: Parameters<typeof createPod>[1] extends infer O ? Partial<O> : never = {}): Promise<string> {
    const name = `app-${++pods}`;
    await createPod(env.cluster, { name, command: ["sleep", "3600"], terminationGracePeriodSeconds: 0, ...extra });
    await waitForPod(env.cluster, name, "condition=Ready");
    return name;
  }

  async function readInside(pod: string, path: string) {
    const c = env.node.containerOf("default", pod, "main");
    const r = await c!.exec(["head", "-c", "4096", path]);
    return { code: r.code, bytes: Buffer.from(r.stdout), stderr: r.stderr };
  }

  async function slavePodsOf(pod: string): Promise<string[]> {
    const out = await kubectlOk(env.cluster, ["get", "pods", "-l", "device-mounter.io/slave=true", "-o", "json"]);
    const list = JSON.parse(out) as { items: Array<{ metadata: { name: string; annotations?: Record<string, string> } }> };
    return list.items.filter((p) => p.metadata.annotations?.["device-mounter.io/owner"] === `default/${pod}`).map((p) => p.metadata.name);
  }

  const loopOf = (id: string) => env.node.loopDevices.find((l) => l.id === id)!;

  test("mount 1 loop device: the container reads its bytes; the slave pod is Guaranteed and records it; unmount takes it away", async () => {
    const pod = await runningPod();
    const mounted = await env.mount({ pod });
    expect(mounted.status).toBe(200);
    expect(mounted.body).toMatchObject({ kind: "MountResult", container: "main" });
    const device = mounted.body.devices[0];
    const read = await readInside(pod, device.path);
    expect(read.code).toBe(0);
    expect(read.bytes.equals(Buffer.from(loopOf(device.deviceId).bytes))).toBe(true);

    const slave = await getPod(env.cluster, mounted.body.slavePods[0]);
    expect(slave.status?.qosClass).toBe("Guaranteed");
    expect(slave.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Pod", name: pod, blockOwnerDeletion: true, controller: false });
    expect(JSON.parse(slave.metadata!.annotations!["device-mounter.io/devices"]!).devices[0]).toMatchObject({ deviceId: device.deviceId, path: device.path });

    const unmounted = await env.unmount({ pod });
    expect(unmounted.status).toBe(200);
    expect(unmounted.body).toMatchObject({ kind: "UnmountResult", slavePods: mounted.body.slavePods, killed: [] });
    expect((await readInside(pod, device.path)).stderr).toContain("No such file or directory");
    expect(await slavePodsOf(pod)).toEqual([]);
  }, 60_000);

  test("mount 2 loop devices: both readable, and PodResources shows the slave pod holding them", async () => {
    const pod = await runningPod();
    const mounted = await env.mount({ pod, resources: { "example.com/loop": "2" } });
    expect(mounted.status).toBe(200);
    expect(mounted.body.devices).toHaveLength(2);
    for (const device of mounted.body.devices) {
      expect((await readInside(pod, device.path)).bytes.equals(Buffer.from(loopOf(device.deviceId).bytes))).toBe(true);
    }
    const client = podResourcesClient(env.node.podResourcesSocket);
    try {
      const { pod_resources } = await client.get("default", mounted.body.slavePods[0]);
      const ids = (pod_resources?.containers[0]?.devices ?? []).flatMap((d) => d.device_ids).sort();
      expect(ids).toEqual(mounted.body.devices.map((d: { deviceId: string }) => d.deviceId).sort());
    } finally {
      client.close();
    }
    expect((await env.unmount({ pod })).status).toBe(200);
  }, 60_000);

  test("NVIDIA_GPU: /dev/nvidiaN opens with ENXIO (allowed, no driver) after mount, and is gone after unmount", async () => {
    const pod = await runningPod();
    const mounted = await env.mount({ pod, deviceType: "nvidia_gpu", resources: { "nvidia.com/gpu": "1" } });
    expect(mounted.status).toBe(200);
    const gpu = mounted.body.devices.find((d: { resource: string }) => d.resource === "nvidia.com/gpu");
    expect(gpu.path).toMatch(/^\/dev\/nvidia\d+$/);
    const open = await env.node.containerOf("default", pod, "main")!.execText(["sh", "-c", `: < ${gpu.path}`]);
    expect(open.stderr).toContain("No such device or address");
    expect(mounted.body.devices.map((d: { path: string }) => d.path)).toContain("/dev/nvidiactl");
    expect((await env.unmount({ pod, deviceType: "NVIDIA_GPU" })).status).toBe(200);
    const after = await env.node.containerOf("default", pod, "main")!.execText(["sh", "-c", `: < ${gpu.path}`]);
    expect(after.stderr).toMatch(/no such file|No such file or directory|Operation not permitted/);
  }, 60_000);

  test("a patch touching spec.containers or spec.hostPID is refused with 422 and nothing is created", async () => {
    const pod = await runningPod();
    for (const patch of [
      { op: "add", path: "/spec/hostPID", value: true },
      { op: "replace", path: "/spec/containers/0/image", value: "evil" },
    ]) {
      const refused = await env.mount({ pod, patches: [patch as never] });
      expect(refused.status).toBe(422);
      expect(refused.body.message).toContain(patch.path);
    }
    expect(await slavePodsOf(pod)).toEqual([]);
  }, 60_000);

  test("no device free → the scheduler's reason as 409, and no slave pod is left; too short a wait → 504, none left", async () => {
    const hog = await runningPod({ limits: { "example.com/loop": "2" } });
    const pod = await runningPod();
    // The scheduler may still place it while wait_second lasts; at the deadline its reason is the answer.
    const refused = await env.mount({ pod, timeoutSeconds: 2 });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain("Insufficient example.com/loop");
    expect(await slavePodsOf(pod)).toEqual([]);
    await kubectlOk(env.cluster, ["delete", "pod", hog, "--grace-period=0"]);

    const late = await env.mount({ pod, timeoutSeconds: 0 });
    expect(late.status).toBe(504);
    expect(late.body.reason).toBe("Timeout");
    await eventually("the timed-out slave pod is deleted", async () => (await slavePodsOf(pod)).length === 0);
  }, 90_000);

  test("another process changing the container's devices: the mount waits, answers 409 at its deadline and leaves no slave pod", async () => {
    const pod = await runningPod();
    const container = env.node.containerOf("default", pod, "main")!;
    // What a node CLI run holds while it changes the container's grants.
    const native = loadNative();
    const held = native.lockDirectory(container.cgroup.v1Devices ?? container.cgroup.unified);
    try {
      const refused = await env.mount({ pod, timeoutSeconds: 6 }); // time for the slave pod to run, even on a loaded machine
      expect(refused).toMatchObject({ status: 409, body: { reason: "Conflict" } });
      expect(refused.body.message).toContain("another device-mounter process has been changing the devices of this container");
      await eventually("the refused mount's slave pod is deleted", async () => (await slavePodsOf(pod)).length === 0);
    } finally {
      native.close(held);
    }
    const mounted = await env.mount({ pod });
    expect(mounted).toMatchObject({ status: 200 });
    expect((await readInside(pod, mounted.body.devices[0].path)).code).toBe(0);
    expect((await env.unmount({ pod })).status).toBe(200);
  }, 60_000);

  test("a caller that goes away while the mount waits: the slave pod is deleted at once and nothing is granted", async () => {
    const hog = await runningPod({ limits: { "example.com/loop": "2" } });
    const pod = await runningPod();
    const gone = new AbortController();
    const waiting = env.mount({ pod, timeoutSeconds: 30 }, undefined, gone.signal).catch((e: unknown) => e);
    await eventually("the mount created its slave pod", async () => (await slavePodsOf(pod)).length === 1);
    gone.abort();
    expect(await waiting).toBeInstanceOf(Error);
    await eventually("the slave pod is deleted", async () => (await slavePodsOf(pod)).length === 0);
    const events = JSON.parse(await kubectlOk(env.cluster, ["get", "events", "--field-selector", `involvedObject.name=${pod},reason=DeviceMountFailed`, "-o", "json"]));
    expect(events.items.map((e: { message: string }) => e.message)).toEqual([
      "mounting LOOP into container main failed: the caller stopped waiting (its request timed out or was cancelled) before the devices were granted; nothing was mounted",
    ]);
    await kubectlOk(env.cluster, ["delete", "pod", hog, "--grace-period=0"]);
    const container = env.node.containerOf("default", pod, "main")!;
    expect(readGrants({ pid: container.pid }).record.devices).toEqual([]);
  }, 60_000);

  test("unmount of a device in use: 409 naming the PID; with force the holder is ended and the device is gone", async () => {
    const pod = await runningPod();
    const mounted = await env.mount({ pod });
    const path = mounted.body.devices[0].path;
    const container = env.node.containerOf("default", pod, "main")!;
    const holder = await startHolder(container, path);

    const busy = await env.unmount({ pod });
    expect(busy.status).toBe(409);
    expect(busy.body.message).toContain(`pid ${holder} (sleep)`);
    expect((await readInside(pod, path)).code).toBe(0);

    const forced = await env.unmount({ pod, force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.killed).toEqual([{ pid: holder, comm: "sleep" }]);
    expect((await readInside(pod, path)).stderr).toContain("No such file or directory");
  }, 60_000);

  test("the agent restarted between mount and unmount still unmounts (no local state)", async () => {
    const pod = await runningPod();
    const mounted = await env.mount({ pod });
    await env.restartAgent();
    expect((await readInside(pod, mounted.body.devices[0].path)).code).toBe(0);
    expect((await env.unmount({ pod })).status).toBe(200);
    expect((await readInside(pod, mounted.body.devices[0].path)).stderr).toContain("No such file or directory");
  }, 90_000);

  test("a restarted container gets its devices again, and a grant removed behind the agent's back is restored", async () => {
    const pod = await runningPod();
    const mounted = await env.mount({ pod });
    expect(mounted).toMatchObject({ status: 200 });
    const device = mounted.body.devices[0];
    const before = env.node.containerIdOf("default", pod, "main");
    await env.node.killContainer("default", pod, "main");
    await eventually("the kubelet restarts the container", () => {
      const id = env.node.containerIdOf("default", pod, "main");
      return id !== undefined && id !== before;
    }, 15_000);
    await eventually("the device is granted to the new container", async () => (await readInside(pod, device.path)).code === 0, 10_000);
    const key = `${(await getPod(env.cluster, pod)).metadata!.uid}/main`;
    const logged = (message: string) => env.logs.filter((l) => l.includes(message) && l.includes(key)).length;
    await eventually("the regrant is logged", () => logged("granted devices to a restarted container") === 1);

    // Behind the agent's back: the node is deleted inside the container.
    const container = env.node.containerOf("default", pod, "main")!;
    expect((await container.execText(["rm", device.path])).code).toBe(0);
    await eventually("the node is restored", async () => (await readInside(pod, device.path)).code === 0);
    // The line is written after the kernel change and reaches us through a pipe.
    const repairs = () => logged("repaired a grant that disappeared");
    await eventually("the repair is logged", () => repairs() === 1);

    // Behind its back again: the runtime's rules are rewritten (v1) or its program re-created (v2).
    if (container.cgroup.v1Devices) {
      await Bun.write(`${container.cgroup.v1Devices}/devices.deny`, `b ${device.major}:${device.minor} rwm`);
    } else {
      const native = loadNative();
      const [id] = native.bpfProgQuery(container.cgroup.unified).progIds;
      const fd = native.bpfProgGetFdById(id!);
      const info = native.bpfProgInfo(fd);
      // Our program is prologue + the runtime's: the runtime's alone (what runc would load) is its tail.
      const { splitDeviceProgram } = await import("../../agent/cgroup/bpf/prologue.ts");
      const { decode, encode } = await import("../../agent/cgroup/bpf/insn.ts");
      const original = splitDeviceProgram(decode(info.insns)).original;
      const runcFd = native.bpfProgLoad(encode(original), "", "Apache-2.0");
      native.bpfProgAttach(container.cgroup.unified, runcFd, 2 | 4, fd);
      native.close(runcFd);
      native.close(fd);
    }
    // Reading right away could race the repair loop; the agent's own account of a
    // second repair, then a read that works, show the grant was put back.
    await eventually("the cgroup grant is restored", async () => repairs() === 2 && (await readInside(pod, device.path)).code === 0);
    expect((await env.unmount({ pod })).status).toBe(200);
  }, 90_000);

  test("a slave pod deleted by someone else takes its device away; an owner deleted takes its slave pods", async () => {
    const pod = await runningPod();
    const mounted = await env.mount({ pod });
    await kubectlOk(env.cluster, ["delete", "pod", mounted.body.slavePods[0], "--grace-period=0"]);
    await eventually("the device is revoked", async () => (await readInside(pod, mounted.body.devices[0].path)).code !== 0);

    const owner = await runningPod();
    const second = await env.mount({ pod: owner });
    expect(second.status).toBe(200);
    await kubectlOk(env.cluster, ["delete", "pod", owner, "--grace-period=0"]);
    await eventually("the slave pods are garbage collected", async () => (await slavePodsOf(owner)).length === 0);
  }, 90_000);

  test("the node is labelled with the device types it serves, and unlabelled when the agent stops", async () => {
    const labels = async () => JSON.parse(await kubectlOk(env.cluster, ["get", "node", env.node.name, "-o", "json"])).metadata.labels as Record<string, string>;
    expect(await labels()).toMatchObject({ "device-types.device-mounter.io/LOOP": "true", "device-types.device-mounter.io/NVIDIA_GPU": "true" });
    await env.stopAgent();
    const after = await labels();
    expect(Object.keys(after).filter((k) => k.startsWith("device-types.device-mounter.io/"))).toEqual([]);
    await env.startAgent();
    expect(await labels()).toMatchObject({ "device-types.device-mounter.io/LOOP": "true" });
  }, 60_000);

  test("callers without the apiserver's identity get 401 or 403 as a Status", async () => {
    const pod = await runningPod();
    const none = await env.mount({ pod }, "");
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ kind: "Status", reason: "Unauthorized" });
    const someone = env.cluster.api.issueToken({ username: "mallory", groups: ["system:authenticated"], extra: {} } as never);
    const forbidden = await env.mount({ pod }, someone);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.message).toContain('"mallory"');
    expect(await slavePodsOf(pod)).toEqual([]);
  }, 60_000);
});

describe.skipIf(!ready)("agent under concurrency (v1, cgroupfs)", () => {
  let env: AgentCluster;
  beforeAll(async () => {
    // Two more GPUs than pods: the racing pairs on one container contend for them.
    env = await startAgentCluster({ cgroupMode: "v1", driver: "cgroupfs", loop: 1, gpus: 12 });
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
  });

  test("10 concurrent mounts into 10 pods, and 5 concurrent mount/unmount pairs on one container, end consistent", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `gpu-${i}`);
    await Promise.all(names.map((name) => createPod(env.cluster, { name, command: ["sleep", "3600"], terminationGracePeriodSeconds: 0 })));
    for (const name of names) await waitForPod(env.cluster, name, "condition=Ready", 120);
    const results = await Promise.all(names.map((pod) => env.mount({ pod, deviceType: "NVIDIA_GPU", resources: { "nvidia.com/gpu": "1" }, timeoutSeconds: 60 })));
    expect(results.map((r) => r.status)).toEqual(names.map(() => 200));
    const gpus = results.map((r) => r.body.devices.find((d: { resource: string }) => d.resource === "nvidia.com/gpu").deviceId);
    expect(new Set(gpus).size).toBe(10);

    const target = names[0]!;
    const pairs = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const m = await env.mount({ pod: target, deviceType: "NVIDIA_GPU", resources: { "nvidia.com/gpu": "1" }, timeoutSeconds: 20 });
        const u = await env.unmount({ pod: target, deviceType: "NVIDIA_GPU", timeoutSeconds: 20 });
        return [m.status, u.status];
      }),
    );
    // Each call either happens or is refused cleanly: 409 (the container is busy, or no GPU
    // was free), 504 (none became free in time), 404 (nothing left to unmount). Never a 5xx other than 504.
    for (const [m, u] of pairs) {
      expect([200, 409, 504]).toContain(m!);
      expect([200, 404, 409]).toContain(u!);
    }
    expect(pairs.some(([m]) => m === 200)).toBe(true);
    // At the end: what the kernel grants matches the slave pods that exist.
    const slaves = JSON.parse(await kubectlOk(env.cluster, ["get", "pods", "-l", "device-mounter.io/slave=true", "-o", "json"])).items as Array<{ metadata: { annotations: Record<string, string> } }>;
    const ofTarget = slaves.filter((s) => s.metadata.annotations["device-mounter.io/owner"] === `default/${target}`);
    const container = env.node.containerOf("default", target, "main")!;
    const nodes = readdirSync(`/proc/${container.pid}/root/dev`).filter((n) => /^nvidia\d+$/.test(n));
    const expected = ofTarget.flatMap((s) => (JSON.parse(s.metadata.annotations["device-mounter.io/devices"] ?? '{"devices":[]}').devices as Array<{ path: string }>).map((d) => d.path.replace("/dev/", ""))).filter((n) => /^nvidia\d+$/.test(n));
    expect(nodes.sort()).toEqual(expected.sort());
  }, 240_000);
});
