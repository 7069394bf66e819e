// The main job, end to end on this machine: a cluster-in-a-box (an API server
// stand-in with the aggregator, a scheduler, a kubelet running real runc
// containers, real loop devices as example.com/loop), the agent and the
// apiserver from the compiled binary, a pod, and `device-mounter mount` /
// `unmount` as a user would run them against the Kubernetes API.
import { readInside } from "../test/agent/harness.ts";
import { startProduct, type CommandOutput } from "../test/e2e/product.ts";
import { cleanupAll } from "../test/support/cleanup.ts";

/** `kubectl run` names the pod's one container after the pod. */
const POD = "demo";
let failed = false;

function fail(what: string): void {
  failed = true;
  console.log(`!! ${what}`);
}

function show(command: string, result: CommandOutput): CommandOutput {
  console.log(`\n$ ${command}`);
  const text = `${result.stdout}${result.stderr}`.trimEnd();
  if (text) console.log(text);
  if (result.code !== 0) fail(`exit code ${result.code}`);
  return result;
}

try {
  const started = Date.now();
  const product = await startProduct({ cgroupMode: "v1", driver: "cgroupfs" });
  const { cluster, node } = product;
  console.log(`== cluster-in-a-box ${cluster.name}: API server ${cluster.api.url}, node ${node.name} (${node.hostIP}, cgroup ${node.cgroupMode}, ${node.driver}) with loop devices ${node.loopDevices.map((l) => l.hostPath).join(", ")} as example.com/loop`);
  console.log(`== device-mounter agent on ${node.name}: ${product.agent.url()} (pod device-mounter/device-mounter-agent-${node.name})`);
  console.log(`== device-mounter apiserver: ${product.apiserver.url}, registered with the aggregator as v1alpha1.device-mounter.io`);
  console.log(`== started in ${((Date.now() - started) / 1000).toFixed(1)}s; the commands below run as user "alice" (KUBECONFIG=${product.kubeconfigOf.alice}), bound to device-mounter.io:generate`);

  const discovery = show("kubectl get --raw /apis/device-mounter.io/v1alpha1", await product.kubectl("alice", ["get", "--raw", "/apis/device-mounter.io/v1alpha1"]));
  if (!discovery.stdout.includes('"pods/mount"')) fail("the aggregated API does not list pods/mount");

  show(`kubectl run ${POD} --image=busybox:1.36 --restart=Never -- sleep 3600`, await product.kubectl("alice", ["run", POD, "--image=busybox:1.36", "--restart=Never", "--", "sleep", "3600"]));
  const wait = await cluster.kubectl(["wait", "--for=condition=Ready", `pod/${POD}`, "--timeout=60s"]);
  show(`kubectl wait --for=condition=Ready pod/${POD}   # as the cluster admin: alice may create pods, not read them`, { ...wait, stdout: wait.text });

  const mounted = show(
    `device-mounter mount ${POD} --type LOOP --resource example.com/loop=1`,
    await product.deviceMounter("alice", ["mount", POD, "--type", "LOOP", "--resource", "example.com/loop=1"]),
  );
  // Each device line: "  /dev/example-loop0 (b 7:0 rw) example.com/loop loop0"
  const [, path, id] = /^\s+(\/dev\/\S+) \(.*\) \S+ (\S+)$/m.exec(mounted.stdout) ?? [];
  if (!path) {
    fail("the mount printed no device");
  } else {
    const loop = node.loopDevices.find((l) => l.id === id);
    const inside = await readInside(node, POD, path, POD);
    console.log(`\ninside the container, head -c 64 ${path}: ${inside.code === 0 ? JSON.stringify(inside.bytes.subarray(0, 64).toString("latin1")) : inside.stderr.trim()}`);
    if (inside.code !== 0 || !loop || !inside.bytes.equals(Buffer.from(loop.bytes))) fail(`the container did not read the bytes of ${loop?.hostPath ?? `loop device ${id}`}`);
    else console.log(`   = the bytes of ${loop.hostPath} on the host`);

    show(`device-mounter unmount ${POD} --type LOOP`, await product.deviceMounter("alice", ["unmount", POD, "--type", "LOOP"]));
    const after = await readInside(node, POD, path, POD);
    console.log(`\ninside the container, head -c 64 ${path}: ${after.code === 0 ? "still readable" : after.stderr.trim()}`);
    if (after.code === 0) fail("the device is still there after unmount");
  }

  await product.stop();
  console.log(`\n== done in ${((Date.now() - started) / 1000).toFixed(1)}s; the cluster, its containers, loop devices and processes are gone`);
} catch (error) {
  fail(error instanceof Error ? (error.stack ?? error.message) : String(error));
} finally {
  await cleanupAll();
}
console.log(failed ? "\ndemo: FAILED" : "\ndemo: ok");
process.exit(failed ? 1 : 0);
