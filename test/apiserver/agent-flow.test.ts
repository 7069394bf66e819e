// From the target pod to the agent on its node: what the caller sees for
// a missing pod, an unscheduled or finished one, a node without a ready
// agent, agent answers (passed through unchanged), a slow agent, and two
// operations on one container at once.
import { describe, expect, test } from "bun:test";
import type { AgentMountRequest } from "../../src/api/agent.ts";
import { StatusError } from "../../src/api/status.ts";
import { AgentUnreachableError } from "../../src/apiserver/agents/caller.ts";
import { FakeAgents, GPU_BODY, jsonPut, MOUNT_URL, mountResponse, runningPod, ScriptedAgentCaller, standardKube, testApp, UNMOUNT_URL, unmountResponse, authorized } from "./support/fakes.ts";
import { jsonOf, statusOf } from "./support/http.ts";

const Q = "?device_type=NVIDIA_GPU";

describe("target pod", () => {
  test("a missing pod → 404", async () => {
    const t = testApp();
    const status = await statusOf(await t.app.request(`/apis/device-mounter.io/v1alpha1/namespaces/team/pods/ghost/mount${Q}`, jsonPut(GPU_BODY)), 404);
    expect(status).toMatchObject({ reason: "NotFound", message: 'pods "ghost" not found in namespace "team"', details: { name: "ghost", kind: "pods" } });
  });

  test("a pod not scheduled yet → 409", async () => {
    const kube = standardKube().addPod({ metadata: { namespace: "team", name: "trainer", uid: "u1" }, spec: {}, status: { phase: "Pending" } });
    const status = await statusOf(await testApp({ kube }).app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)), 409);
    expect(status.message).toBe("pod team/trainer is not scheduled to a node yet; mount devices once it runs");
  });

  test("a finished pod → 409 for mount", async () => {
    const pod = runningPod("team", "trainer");
    pod.status!.phase = "Succeeded";
    const status = await statusOf(await testApp({ kube: standardKube().addPod(pod) }).app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)), 409);
    expect(status.message).toBe("pod team/trainer has finished (phase Succeeded); devices can only be mounted into running pods");
  });

  test("the agent is asked with the pod's uid, on the pod's node", async () => {
    const kube = standardKube().addPod(runningPod("team", "trainer", "node-b", "uid-42"));
    const t = testApp({ kube, agents: new FakeAgents().add("node-a").add("node-b", "https://10.1.2.3:8443") });
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)));
    const call = (t.caller as ScriptedAgentCaller).calls[0]!;
    expect(call.agent).toEqual({ node: "node-b", pod: "device-mounter/agent-node-b", url: "https://10.1.2.3:8443" });
    expect((call.request as AgentMountRequest).podUid).toBe("uid-42");
  });
});

describe("agent", () => {
  test("success: the agent's result comes back as MountResult of device-mounter.io/v1alpha1", async () => {
    const t = testApp();
    const body = await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)));
    expect(body).toEqual({
      kind: "MountResult",
      apiVersion: "device-mounter.io/v1alpha1",
      container: "main",
      containerId: "containerd://abc",
      devices: [{ deviceId: "GPU-1", resource: "nvidia.com/gpu", path: "/dev/nvidia0", type: "c", major: 195, minor: 0, access: "rw", mode: 0o666, uid: 0, gid: 0 }],
      slavePods: ["trainer-slave-1"],
      message: "mounted 1 device into team/trainer",
    });
  });

  test("unmount success with force: UnmountResult naming the processes ended", async () => {
    const t = testApp({ caller: new ScriptedAgentCaller(async (r) => unmountResponse(r as never)) });
    const body = await jsonOf(await t.app.request(`${UNMOUNT_URL}${Q}&force=1`, { method: "PUT", headers: authorized() }));
    expect(body).toMatchObject({ kind: "UnmountResult", apiVersion: "device-mounter.io/v1alpha1", killed: [{ pid: 42, comm: "python" }] });
  });

  test("no agent on the node → 503 naming the node", async () => {
    const t = testApp({ agents: new FakeAgents() });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)), 503);
    expect(status).toMatchObject({ reason: "ServiceUnavailable", message: 'no device-mounter agent runs on node "node-a"' });
  });

  test("an agent Status (409 busy) is passed through unchanged", async () => {
    const busy = new StatusError("Conflict", "/dev/nvidia0 is busy: pid 4242 (python) holds it; unmount with force=1 to end it", { name: "trainer", kind: "pods", causes: [{ reason: "DeviceBusy", message: "pid 4242" }] });
    const t = testApp({ caller: new ScriptedAgentCaller(async () => Promise.reject(busy)) });
    const status = await statusOf(await t.app.request(`${UNMOUNT_URL}${Q}`, { method: "PUT", headers: authorized() }), 409);
    expect(status).toEqual(busy.toStatus());
  });

  test("an agent Status with an unusual code keeps its code", async () => {
    const fromWire = StatusError.fromStatus({ message: "slave pod unschedulable: 0/1 nodes have enough nvidia.com/gpu", reason: "Invalid", code: 422 }, 422);
    const t = testApp({ caller: new ScriptedAgentCaller(async () => Promise.reject(fromWire)) });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)), 422);
    expect(status.message).toBe("slave pod unschedulable: 0/1 nodes have enough nvidia.com/gpu");
  });

  test("an unreachable agent → 503 with the reason", async () => {
    const t = testApp({ caller: new ScriptedAgentCaller(async () => Promise.reject(new AgentUnreachableError("agent device-mounter/agent-node-a on node \"node-a\" could not be reached: ECONNREFUSED"))) });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)), 503);
    expect(status.message).toBe('agent device-mounter/agent-node-a on node "node-a" could not be reached: ECONNREFUSED');
  });

  test("a slow agent → 504 after wait_second + margin, and the agent call is cancelled", async () => {
    let cancelled: unknown;
    const caller = new ScriptedAgentCaller(
      (_request, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            cancelled = signal.reason;
            reject(signal.reason);
          }),
        ),
    );
    const t = testApp({ caller, settings: { agentDeadlineMarginMs: 150 } });
    const started = performance.now();
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}&wait_second=0`, jsonPut(GPU_BODY)), 504);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(status).toMatchObject({
      reason: "Timeout",
      message: 'the agent on node "node-a" did not finish the mount for pod team/trainer within 150ms (wait_second=0); raise wait_second if the devices take longer to become available',
    });
    expect((cancelled as Error).name).toBe("TimeoutError");
  });

  test("a second operation on the same container while one runs → 409; other containers are not blocked", async () => {
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const atAgent = new Promise<void>((r) => (reached = r));
    const caller = new ScriptedAgentCaller(async (r) => {
      if ((r as AgentMountRequest).container === "main") {
        reached();
        await gate;
      }
      return mountResponse(r as AgentMountRequest);
    });
    const t = testApp({ caller });
    const first = t.app.request(`${MOUNT_URL}${Q}&container=main`, jsonPut(GPU_BODY));
    await atAgent;
    const second = await statusOf(await t.app.request(`${UNMOUNT_URL}${Q}&container=main`, { method: "PUT", headers: authorized() }), 409);
    expect(second.message).toBe('a mount is already running for container "main" of pod team/trainer; retry the unmount when it has finished');
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}&container=sidecar`, jsonPut(GPU_BODY)));
    release();
    await jsonOf(await first);
    // Once finished, the container is free again.
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}&container=main`, jsonPut(GPU_BODY)));
  });

  test("an unexpected failure → 500 naming the request id, never a stack; the log has the details", async () => {
    const kube = standardKube();
    kube.getPod = async () => {
      throw new TypeError("cannot read properties of undefined");
    };
    const t = testApp({ kube });
    const response = await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY, { "x-request-id": "req-123" }));
    const status = await statusOf(response, 500);
    expect(status.message).toBe("an internal error occurred (request id req-123); the apiserver log has the details");
    const logged = t.logs.find((l) => l.level === "error");
    expect(logged).toMatchObject({ msg: "unexpected error while serving a request", requestId: "req-123", error: "cannot read properties of undefined" });
    expect(String(logged?.stack)).toContain("TypeError");
  });
});
