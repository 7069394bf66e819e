// The product end to end: kubectl, the CLI and the kubectl plugin call the
// Kubernetes API server; its aggregator proxies device-mounter.io/v1alpha1 to
// the apiserver binary, which finds the agent pod on the target pod's node and
// calls the agent binary, which puts a real loop device into a real runc
// container of the cluster-in-a-box.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import type { CgroupDriver, CgroupMode } from "../cluster/index.ts";
import { createPod, getPod, kubectlOk, waitForPod } from "../cluster/testing.ts";
import { readGrants } from "../../agent/container/grants.ts";
import { eventually, readInside, runningPod, slavePodsOf } from "../agent/harness.ts";
import { startProduct, type Product } from "./product.ts";
import { startHolder } from "../support/holder.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);
if (ready && !Bun.which("kubectl")) {
  if (process.env.CI === "true") throw new Error("missing test prerequisite: kubectl is not on PATH");
  console.warn("kubectl is not on PATH: skipping the end-to-end tests (set CI=true to fail instead)");
}
const runnable = ready && Bun.which("kubectl") !== null;

const GROUP_VERSION_PATH = "/apis/device-mounter.io/v1alpha1";
const mountPath = (pod: string, query = "device_type=LOOP&wait_second=20") => `${GROUP_VERSION_PATH}/namespaces/default/pods/${pod}/mount?${query}`;
const unmountPath = (pod: string, query = "device_type=LOOP&wait_second=20") => `${GROUP_VERSION_PATH}/namespaces/default/pods/${pod}/unmount?${query}`;
/** The contract's body of PUT .../mount: one loop device from the node's device plugin. */
const MOUNT_BODY = { resources: { "example.com/loop": "1" } };
/** The contract's body with every field, as the README shows it. */
const FULL_MOUNT_BODY = {
  ...MOUNT_BODY,
  annotations: { "device-mounter.io/expansion": "true" },
  labels: { app: "slave-pod" },
  patches: [JSON.stringify({ op: "add", path: "/spec/tolerations/-", value: { key: "dedicated", operator: "Exists" } })],
};

interface MountedDevice {
  path: string;
  deviceId: string;
}

function expectOk(what: string, r: { code: number; stdout: string; stderr: string }): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Setup shared by both node kinds: a product, pods named app-N, and the device checks a user would make. */
function productOn(mode: CgroupMode, driver: CgroupDriver) {
  const env = { product: undefined as unknown as Product };
  let pods = 0;
  beforeAll(async () => {
    env.product = await startProduct({ cgroupMode: mode, driver });
  }, 120_000);
  afterAll(async () => {
    await env.product?.stop();
  });
  return {
    get product() {
      return env.product;
    },
    newPod: () => runningPod(env.product.cluster, `app-${++pods}`),
    /** The container reads the device's bytes, and they are the loop device's. */
    async expectReadable(pod: string, device: MountedDevice) {
      const read = await readInside(env.product.node, pod, device.path);
      expect(read.stderr).toBe("");
      expect(read.code).toBe(0);
      const loop = env.product.node.loopDevices.find((l) => l.id === device.deviceId);
      expect(loop).toBeDefined();
      expect(read.bytes.equals(Buffer.from(loop!.bytes))).toBe(true);
    },
    async expectGone(pod: string, device: MountedDevice) {
      expect((await readInside(env.product.node, pod, device.path)).stderr).toContain("No such file or directory");
      expect(await slavePodsOf(env.product.cluster, pod)).toEqual([]);
    },
    async cliMount(pod: string): Promise<MountedDevice> {
      const out = expectOk("device-mounter mount", await env.product.deviceMounter("alice", ["mount", pod, "--type", "LOOP", "--resource", "example.com/loop=1", "--wait", "20", "-o", "json"]));
      const result = JSON.parse(out) as { kind: string; devices: MountedDevice[] };
      expect(result.kind).toBe("MountResult");
      expect(result.devices).toHaveLength(1);
      return result.devices[0]!;
    },
  };
}

describe.skipIf(!runnable)("device-mounter end to end on a v1 node with the cgroupfs driver", () => {
  const e2e = productOn("v1", "cgroupfs");

  test("discovery through the aggregator: /apis, /apis/device-mounter.io and the APIResourceList with pods/mount and pods/unmount", async () => {
    const { product } = e2e;
    const get = async (path: string) => JSON.parse(expectOk(`kubectl get --raw ${path}`, await product.kubectl("alice", ["get", "--raw", path])));

    const resources = await get(GROUP_VERSION_PATH);
    expect(resources).toMatchObject({ kind: "APIResourceList", groupVersion: "device-mounter.io/v1alpha1" });
    const byName = Object.fromEntries((resources.resources as Array<{ name: string }>).map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual(["pods/mount", "pods/unmount"]);
    for (const name of ["pods/mount", "pods/unmount"]) expect(byName[name]).toMatchObject({ namespaced: true, verbs: ["update"] });

    const group = await get("/apis/device-mounter.io");
    expect(group).toMatchObject({ kind: "APIGroup", name: "device-mounter.io", preferredVersion: { groupVersion: "device-mounter.io/v1alpha1", version: "v1alpha1" } });

    const groups = await get("/apis");
    expect(groups.kind).toBe("APIGroupList");
    expect((groups.groups as Array<{ name: string; versions: Array<{ groupVersion: string }> }>).find((g) => g.name === "device-mounter.io")?.versions.map((v) => v.groupVersion)).toEqual(["device-mounter.io/v1alpha1"]);
  }, 30_000);

  test("kubectl replace --raw .../mount with the contract's body: the container reads the loop device, the slave pod has the body's labels, annotations and patch; .../unmount takes it away", async () => {
    const { product } = e2e;
    const pod = await e2e.newPod();
    const body = join(product.cluster.dir, "full-mount-body.json");
    writeFileSync(body, JSON.stringify(FULL_MOUNT_BODY, null, 2));
    const mounted = JSON.parse(expectOk("kubectl replace --raw mount", await product.kubectl("alice", ["replace", "--raw", mountPath(pod, "device_type=LOOP&container=main&wait_second=20"), "-f", body])));
    expect(mounted).toMatchObject({ kind: "MountResult", container: "main" });
    expect(mounted.slavePods).toHaveLength(1);
    const device = mounted.devices[0] as MountedDevice;
    await e2e.expectReadable(pod, device);
    const slave = await getPod(product.cluster, mounted.slavePods[0]);
    expect(slave.metadata?.labels?.["app"]).toBe("slave-pod");
    expect(slave.metadata?.annotations?.["device-mounter.io/expansion"]).toBe("true");
    expect(slave.spec?.tolerations).toContainEqual({ key: "dedicated", operator: "Exists" });

    const empty = join(product.cluster.dir, "empty-body.json");
    writeFileSync(empty, "{}");
    const unmounted = JSON.parse(expectOk("kubectl replace --raw unmount", await product.kubectl("alice", ["replace", "--raw", unmountPath(pod), "-f", empty])));
    expect(unmounted).toMatchObject({ kind: "UnmountResult", slavePods: mounted.slavePods, killed: [] });
    await e2e.expectGone(pod, device);
  }, 60_000);

  test("device-mounter mount (the CLI) puts the device in; kubectl device-mounter unmount (the plugin) takes it away", async () => {
    const { product } = e2e;
    const pod = await e2e.newPod();
    const device = await e2e.cliMount(pod);
    await e2e.expectReadable(pod, device);

    const unmounted = await product.kubectlPlugin("alice", ["unmount", pod, "--type", "LOOP"]);
    expect(unmounted.stderr).toBe("");
    expect(unmounted.code).toBe(0);
    expect(unmounted.stdout).toContain(device.path);
    await e2e.expectGone(pod, device);
  }, 60_000);

  test("unmount of a busy device: 409 naming the PID, the device stays; with --force the holder is ended and the device is gone", async () => {
    const { product } = e2e;
    const pod = await e2e.newPod();
    const device = await e2e.cliMount(pod);
    const container = product.node.containerOf("default", pod, "main")!;
    const holder = await startHolder(container, device.path);

    const refused = await product.request("alice", "PUT", unmountPath(pod));
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ kind: "Status", status: "Failure", code: 409, reason: "Conflict" });
    expect(refused.body.message).toContain(`pid ${holder} (sleep)`);
    const cliRefused = await product.kubectlPlugin("alice", ["unmount", pod, "--type", "LOOP"]);
    expect(cliRefused.code).toBe(1);
    expect(cliRefused.stderr).toContain(`pid ${holder} (sleep)`);
    await e2e.expectReadable(pod, device);

    const forced = await product.kubectlPlugin("alice", ["unmount", pod, "--type", "LOOP", "--force"]);
    expect(forced.stderr).toBe("");
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`ended pid ${holder} (sleep)`);
    await e2e.expectGone(pod, device);
    expect(readFileSync(`${container.cgroup.v1Devices ?? container.cgroup.unified}/cgroup.procs`, "utf8").split("\n").map(Number)).not.toContain(holder!);
  }, 60_000);

  test("bob, without device-mounter.io:generate, gets 403 Forbidden; carol, who may not create pods, gets 403 from the apiserver; nothing is created", async () => {
    const { product } = e2e;
    const pod = await e2e.newPod();
    const body = join(product.cluster.dir, "mount-body.json");
    writeFileSync(body, JSON.stringify(MOUNT_BODY));

    const viaKubectl = await product.kubectl("bob", ["replace", "--raw", mountPath(pod), "-f", body]);
    expect(viaKubectl.code).not.toBe(0);
    expect(viaKubectl.stderr).toContain("Error from server (Forbidden)");
    const bob = await product.request("bob", "PUT", mountPath(pod), MOUNT_BODY);
    expect(bob.status).toBe(403);
    expect(bob.body).toMatchObject({ kind: "Status", code: 403, reason: "Forbidden" });
    expect(bob.body.message).toContain('"bob"');
    // Straight to the apiserver with bob's token (the contract's Authorization header): its own TokenReview and SubjectAccessReview refuse him too.
    const direct = await fetch(`${product.apiserver.url}${mountPath(pod)}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${product.tokenOf.bob}`, "content-type": "application/json" },
      body: JSON.stringify(MOUNT_BODY),
      tls: { rejectUnauthorized: false },
    });
    expect(direct.status).toBe(403);
    expect(await direct.json()).toMatchObject({ kind: "Status", code: 403, reason: "Forbidden" });

    const carol = await product.request("carol", "PUT", mountPath(pod), MOUNT_BODY);
    expect(carol.status).toBe(403);
    expect(carol.body).toMatchObject({ kind: "Status", code: 403, reason: "Forbidden" });
    expect(carol.body.message).toContain("create");
    const cli = await product.deviceMounter("carol", ["mount", pod, "--type", "LOOP", "--resource", "example.com/loop=1"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain("create");
    expect(await slavePodsOf(product.cluster, pod)).toEqual([]);
  }, 60_000);

  test("wait_second=0 is too short: 504 Timeout, and no slave pod is left behind", async () => {
    const { product } = e2e;
    const pod = await e2e.newPod();
    const late = await product.request("alice", "PUT", mountPath(pod, "device_type=LOOP&wait_second=0"), MOUNT_BODY);
    expect(late.status).toBe(504);
    expect(late.body).toMatchObject({ kind: "Status", code: 504, reason: "Timeout" });
    await eventually("the timed-out slave pod is deleted", async () => (await slavePodsOf(product.cluster, pod)).length === 0);
    // The device was not left behind in the container either, and the node's devices are free again.
    const device = await e2e.cliMount(pod);
    await e2e.expectReadable(pod, device);
    expect(expectOk("unmount", await product.deviceMounter("alice", ["unmount", pod, "--type", "LOOP"]))).toContain(device.path);
  }, 60_000);

  test("kube-apiserver's request timeout ends a waiting mount: kubectl reports it, and no slave pod or grant is left", async () => {
    const { product } = e2e;
    await createPod(product.cluster, { name: "hog", command: ["sleep", "3600"], terminationGracePeriodSeconds: 0, limits: { "example.com/loop": String(product.node.loopDevices.length) } });
    await waitForPod(product.cluster, "hog", "condition=Ready");
    const pod = await e2e.newPod();
    const body = join(product.cluster.dir, "timeout-body.json");
    writeFileSync(body, JSON.stringify(MOUNT_BODY));
    const started = Date.now();
    const cut = await product.kubectl("alice", ["replace", "--raw", mountPath(pod, "device_type=LOOP&wait_second=40"), "-f", body, "--request-timeout=2s"]);
    expect(cut.code).not.toBe(0);
    expect(cut.stderr).toMatch(/Timeout|deadline exceeded/);
    expect(Date.now() - started).toBeLessThan(15_000);
    await eventually("the abandoned mount's slave pod is deleted", async () => (await slavePodsOf(product.cluster, pod)).length === 0);
    await kubectlOk(product.cluster, ["delete", "pod", "hog", "--grace-period=0"]);
    // Nothing was granted behind the user's back, and the devices are free: a new mount gets one.
    const container = product.node.containerOf("default", pod, "main")!;
    expect(readGrants({ pid: container.pid }).record.devices).toEqual([]);
    const device = await e2e.cliMount(pod);
    await e2e.expectReadable(pod, device);
    expect(expectOk("unmount", await product.deviceMounter("alice", ["unmount", pod, "--type", "LOOP"]))).toContain(device.path);
  }, 60_000);

  test("no agent on the node: 503 when its pod is gone and when its process does not answer; mounting works again once it is back", async () => {
    const { product } = e2e;
    const pod = await e2e.newPod();
    let podDeleted = false;
    let agentStopped = false;
    try {
      await product.deleteAgentPod();
      podDeleted = true;
      const noPod = await product.request("alice", "PUT", mountPath(pod), MOUNT_BODY);
      expect(noPod.status).toBe(503);
      expect(noPod.body).toMatchObject({ kind: "Status", code: 503, reason: "ServiceUnavailable" });
      expect(noPod.body.message).toContain(`node "${product.node.name}"`);
      const cli = await product.deviceMounter("alice", ["mount", pod, "--type", "LOOP", "--resource", "example.com/loop=1"]);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toContain("no device-mounter agent");
      await product.createAgentPod();
      podDeleted = false;

      await product.agent.stopAgent();
      agentStopped = true;
      const noProcess = await product.request("alice", "PUT", mountPath(pod), MOUNT_BODY);
      expect(noProcess.status).toBe(503);
      expect(noProcess.body).toMatchObject({ kind: "Status", code: 503, reason: "ServiceUnavailable" });
      expect(noProcess.body.message).toContain("could not be reached");
    } finally {
      // Back as it was for the tests after this one, also when an assertion failed.
      if (podDeleted) await product.createAgentPod();
      if (agentStopped) await product.agent.startAgent();
    }
    expect(await slavePodsOf(product.cluster, pod)).toEqual([]);
    const device = await e2e.cliMount(pod);
    await e2e.expectReadable(pod, device);
    expect(expectOk("unmount", await product.deviceMounter("alice", ["unmount", pod, "--type", "LOOP"]))).toContain(device.path);
  }, 90_000);
});

// The other node kinds get the main path; every cgroup path layout is also unit-tested.
const otherNodes: Array<[CgroupMode, CgroupDriver]> = [
  ["v2", "systemd"],
  ["v1", "systemd"],
  ["v2", "cgroupfs"],
];

describe.skipIf(!runnable).each(otherNodes)("device-mounter end to end on a %s node with the %s driver", (mode, driver) => {
  const e2e = productOn(mode, driver);

  test("the CLI mounts a loop device the container reads; the kubectl plugin unmounts it", async () => {
    const { product } = e2e;
    const pod = await e2e.newPod();
    const device = await e2e.cliMount(pod);
    await e2e.expectReadable(pod, device);
    const unmounted = await product.kubectlPlugin("alice", ["unmount", pod, "--type", "LOOP"]);
    expect(unmounted.code).toBe(0);
    expect(unmounted.stdout).toContain(device.path);
    await e2e.expectGone(pod, device);
  }, 60_000);
});
