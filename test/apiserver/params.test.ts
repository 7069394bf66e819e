// Every query parameter and body rule of the contract, through the app as a
// client reaches it: the documented Status code and a message that says what
// to fix; valid input reaches the agent exactly as meant.
import { describe, expect, test } from "bun:test";
import type { AgentMountRequest, AgentUnmountRequest } from "../../src/api/agent.ts";
import { GPU_BODY, jsonPut, MOUNT_URL, ScriptedAgentCaller, standardKube, testApp, UNMOUNT_URL, authorized } from "./support/fakes.ts";
import { jsonOf, statusOf } from "./support/http.ts";

const mount = (query: string, body: unknown = GPU_BODY, headers: Record<string, string> = {}) => {
  const t = testApp();
  return { ...t, response: t.app.request(`${MOUNT_URL}${query}`, jsonPut(body, headers)) };
};
const unmount = (query: string) => {
  const t = testApp();
  return { ...t, response: t.app.request(`${UNMOUNT_URL}${query}`, { method: "PUT", headers: authorized() }) };
};
const sentMount = (caller: unknown) => (caller as ScriptedAgentCaller).calls[0]?.request as AgentMountRequest;
const sentUnmount = (caller: unknown) => (caller as ScriptedAgentCaller).calls[0]?.request as AgentUnmountRequest;

describe("query parameters of mount", () => {
  test("device_type is required", async () => {
    const { response, caller } = mount("");
    const status = await statusOf(await response, 400);
    expect(status.reason).toBe("BadRequest");
    expect(status.message).toBe("invalid query parameters: device_type: device_type is required: the type of device to mount, e.g. device_type=NVIDIA_GPU");
    expect(status.details?.causes).toEqual([{ reason: "FieldValueBad", field: "device_type", message: "device_type is required: the type of device to mount, e.g. device_type=NVIDIA_GPU" }]);
    expect((caller as ScriptedAgentCaller).calls).toHaveLength(0);
  });

  test("an empty device_type counts as missing", async () => {
    expect((await statusOf(await mount("?device_type=").response, 400)).message).toContain("device_type is required");
  });

  test.each([["NVIDIA GPU"], ["-gpu"], ["gpu/x"], ["a".repeat(64)]])("device_type %p is refused", async (value) => {
    const status = await statusOf(await mount(`?device_type=${encodeURIComponent(value)}`).response, 400);
    expect(status.message).toContain(`device_type ${JSON.stringify(value)} must be 1 to 63 letters, digits, '_', '-' or '.'`);
  });

  test("a parameter given twice is refused", async () => {
    const status = await statusOf(await mount("?device_type=A&device_type=B").response, 400);
    expect(status.message).toBe("invalid query parameters: device_type: device_type was given 2 times; give it once");
  });

  test.each([
    ["abc", 'wait_second "abc" must be a whole number of seconds from 0 to 300'],
    ["-1", 'wait_second "-1" must be a whole number of seconds from 0 to 300'],
    ["1.5", 'wait_second "1.5" must be a whole number of seconds from 0 to 300'],
    ["301", "wait_second 301 is more than the maximum of 300 seconds"],
    ["99999999999999999999999", "is more than the maximum of 300 seconds"],
  ])("wait_second=%p is refused", async (value, message) => {
    expect((await statusOf(await mount(`?device_type=NVIDIA_GPU&wait_second=${value}`).response, 400)).message).toContain(message);
  });

  test.each([
    ["", 10],
    ["&wait_second=", 10],
    ["&wait_second=0", 0],
    ["&wait_second=300", 300],
    ["&wait_second=007", 7],
  ])("wait_second%p → the agent gets timeoutSeconds %p", async (query, seconds) => {
    const { response, caller } = mount(`?device_type=NVIDIA_GPU${query}`);
    await jsonOf(await response);
    expect(sentMount(caller).timeoutSeconds).toBe(seconds);
  });

  test("the upper bound of wait_second follows --max-wait-seconds", async () => {
    const t = testApp({ settings: { maxWaitSeconds: 20 } });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}?device_type=X&wait_second=21`, jsonPut(GPU_BODY)), 400);
    expect(status.message).toContain("wait_second 21 is more than the maximum of 20 seconds");
  });

  test("container must be a container name", async () => {
    const status = await statusOf(await mount("?device_type=NVIDIA_GPU&container=Main_1").response, 400);
    expect(status.message).toContain(`container "Main_1" must consist of lower case alphanumeric characters or '-'`);
  });

  test("container, device_type and the body reach the agent; unknown parameters (kubectl's timeout) are ignored", async () => {
    const { response, caller } = mount("?device_type=NVIDIA_GPU&container=worker&timeout=32s", {
      resources: { "nvidia.com/gpu": "2", "volcano.sh/vgpu-memory": 2000 },
      labels: { app: "slave-pod" },
      annotations: { "device-mounter.io/expansion": "true" },
      patches: ['{"op":"replace","path":"/spec/schedulerName","value": "volcano"}'],
    });
    await jsonOf(await response);
    expect(sentMount(caller)).toEqual({
      namespace: "team",
      pod: "trainer",
      podUid: "uid-trainer",
      container: "worker",
      deviceType: "NVIDIA_GPU",
      resources: { "nvidia.com/gpu": "2", "volcano.sh/vgpu-memory": "2000" },
      annotations: { "device-mounter.io/expansion": "true" },
      labels: { app: "slave-pod" },
      patches: [{ op: "replace", path: "/spec/schedulerName", value: "volcano" }],
      timeoutSeconds: 10,
      user: "alice",
    });
  });
});

describe("query parameters of unmount", () => {
  test.each([
    ["", false],
    ["&force=1", true],
    ["&force=0", false],
    ["&force=true", true],
    ["&force=false", false],
    ["&force=TRUE", true],
    ["&force=", false],
  ])("force%p → %p", async (query, force) => {
    const { response, caller } = unmount(`?device_type=NVIDIA_GPU${query}`);
    const result = await jsonOf(await response);
    expect(result.kind).toBe("UnmountResult");
    expect(sentUnmount(caller).force).toBe(force);
  });

  test.each(["yes", "2", "on"])("force=%p is refused", async (value) => {
    const status = await statusOf(await unmount(`?device_type=NVIDIA_GPU&force=${value}`).response, 400);
    expect(status.message).toBe(`invalid query parameters: force: force ${JSON.stringify(value)} must be 1, 0, true or false`);
  });

  test("every problem is reported at once", async () => {
    const status = await statusOf(await unmount("?wait_second=x&force=maybe&container=A").response, 400);
    expect(status.details?.causes?.map((c) => c.field)).toEqual(["device_type", "container", "wait_second", "force"]);
  });

  test("unmount takes no body: one sent anyway is ignored", async () => {
    const t = testApp();
    const response = await t.app.request(`${UNMOUNT_URL}?device_type=NVIDIA_GPU&wait_second=3&container=main`, { method: "PUT", headers: authorized({ "content-type": "text/plain" }), body: "whatever" });
    await jsonOf(response);
    expect(sentUnmount(t.caller)).toEqual({ namespace: "team", pod: "trainer", podUid: "uid-trainer", container: "main", deviceType: "NVIDIA_GPU", force: false, timeoutSeconds: 3, user: "alice" });
  });
});

describe("path", () => {
  test("a namespace or pod name that cannot exist is a bad request", async () => {
    const kube = standardKube().allow("alice", "update", "device-mounter.io/pods/mount", "*").allow("alice", "create", "/pods", "*");
    const t = testApp({ kube });
    const status = await statusOf(await t.app.request("/apis/device-mounter.io/v1alpha1/namespaces/Team_X/pods/Trainer/mount?device_type=X", jsonPut(GPU_BODY)), 400);
    expect(status.details?.causes?.map((c) => c.field)).toEqual(["namespace", "name"]);
    expect(status.message).toStartWith('invalid path: namespace: namespace "Team_X" must consist of lower case alphanumeric characters');
  });
});

describe("body of mount", () => {
  const q = "?device_type=NVIDIA_GPU";

  test("must be JSON (415); without a Content-Type it is read as JSON, as kube-apiserver does (kubectl replace --raw sends none)", async () => {
    const t = testApp();
    await jsonOf(await t.app.request(`${MOUNT_URL}${q}`, { method: "PUT", headers: authorized(), body: JSON.stringify(GPU_BODY) }));
    const noTypeNotJson = await statusOf(await t.app.request(`${MOUNT_URL}${q}`, { method: "PUT", headers: authorized(), body: "resources=x" }), 400);
    expect(noTypeNotJson.message).toStartWith("the request body is not valid JSON: ");
    const form = await statusOf(await mount(q, "resources=x", { "content-type": "application/x-www-form-urlencoded" }).response, 415);
    expect(form.message).toBe('Content-Type "application/x-www-form-urlencoded" is not supported: send the body as application/json');
  });

  test("application/json with a charset is fine", async () => {
    await jsonOf(await mount(q, GPU_BODY, { "content-type": "application/json; charset=utf-8" }).response);
  });

  test("empty or malformed JSON is a bad request", async () => {
    expect((await statusOf(await mount(q, "").response, 400)).message).toStartWith("the request body is empty: send a JSON object");
    expect((await statusOf(await mount(q, '{"resources": {').response, 400)).message).toStartWith("the request body is not valid JSON: ");
  });

  const invalid = async (body: unknown) => {
    const status = await statusOf(await mount(q, body).response, 422);
    expect(status.reason).toBe("Invalid");
    expect(status.details?.name).toBe("trainer");
    return status;
  };

  test("must be an object with resources", async () => {
    for (const body of ["[]", "null", "3", '"x"']) expect((await invalid(body)).message).toBe("invalid mount request for pod team/trainer: the body must be a JSON object with resources, annotations, labels and patches");
    expect((await invalid({})).message).toBe('invalid mount request for pod team/trainer: resources: resources is required: the device resources to request, e.g. {"nvidia.com/gpu": "1"}');
    expect((await invalid({ resources: {} })).message).toBe('invalid mount request for pod team/trainer: resources: resources must name at least one resource, e.g. {"nvidia.com/gpu": "1"}');
    expect((await invalid({ resources: ["nvidia.com/gpu"] })).details?.causes).toEqual([
      { reason: "FieldValueInvalid", field: "resources", message: 'resources must be an object of resource name → quantity, e.g. {"nvidia.com/gpu": "1"}' },
    ]);
  });

  test("unknown fields are named (typos do not pass silently)", async () => {
    const status = await invalid({ ...GPU_BODY, label: { a: "b" } });
    expect(status.details?.causes).toEqual([{ reason: "FieldValueInvalid", field: "label", message: "unknown field; the body takes resources, annotations, labels and patches" }]);
  });

  test("quantities must be valid, positive, and whole for extended resources", async () => {
    const status = await invalid({ resources: { "nvidia.com/gpu": "0.5", "example.com/disk": "abc", "example.com/zero": "0", "example.com/neg": "-1", cpu: "500m", "bad name!": "1", "x.com/y": true } });
    expect(status.details?.causes).toEqual([
      { reason: "FieldValueInvalid", field: "resources[bad name!]", message: `resource name "bad name!" name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')` },
      { reason: "FieldValueInvalid", field: "resources[x.com/y]", message: 'must be a quantity string such as "1" or "2Gi"' },
    ]);
    const quantities = await invalid({ resources: { "nvidia.com/gpu": "0.5", "example.com/disk": "abc", "example.com/zero": "0", "example.com/neg": "-1", cpu: "500m" } });
    expect(quantities.details?.causes).toEqual([
      { reason: "FieldValueInvalid", field: "resources[nvidia.com/gpu]", message: 'quantity "0.5" must be a whole number: nvidia.com/gpu is an extended resource' },
      { reason: "FieldValueInvalid", field: "resources[example.com/disk]", message: '"abc" is not a valid quantity: use a number with an optional suffix, e.g. 1, 500m, 2Gi, 1.5G or 1e3' },
      { reason: "FieldValueInvalid", field: "resources[example.com/zero]", message: 'quantity "0" must be greater than zero' },
      { reason: "FieldValueInvalid", field: "resources[example.com/neg]", message: 'quantity "-1" must be greater than zero' },
    ]);
  });

  test("Kubernetes quantity forms are accepted", async () => {
    const { response, caller } = mount(q, { resources: { "nvidia.com/gpu": "1", memory: "2Gi", cpu: "500m", "example.com/big": "1e3", "example.com/k": "2k" } });
    await jsonOf(await response);
    expect(sentMount(caller).resources).toEqual({ "nvidia.com/gpu": "1", memory: "2Gi", cpu: "500m", "example.com/big": "1e3", "example.com/k": "2k" });
  });

  test("labels and annotations follow Kubernetes key and value rules", async () => {
    const status = await invalid({ ...GPU_BODY, labels: { "Example.com/app": "x", ok: "has space", fine: "v" }, annotations: { "a/b/c": "x", good: "any value at all" } });
    expect(status.details?.causes?.map((c) => [c.field, c.message])).toEqual([
      ["annotations[a/b/c]", `annotation key "a/b/c" a qualified name may contain at most one '/' (e.g. 'example.com/my-name')`],
      ["labels[Example.com/app]", `label key "Example.com/app" prefix part must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')`],
      ["labels[ok]", `label value "has space" must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value')`],
    ]);
    const types = await invalid({ ...GPU_BODY, labels: { a: 1 }, annotations: "x" });
    expect(types.details?.causes?.map((c) => [c.field, c.message])).toEqual([
      ["annotations", "annotations must be an object of string → string"],
      ["labels[a]", "label values must be strings"],
    ]);
  });

  test("annotations are limited to 256 KiB in total", async () => {
    const status = await statusOf(await testApp({ settings: { maxBodyBytes: 1024 * 1024 } }).app.request(`${MOUNT_URL}${q}`, jsonPut({ ...GPU_BODY, annotations: { big: "x".repeat(256 * 1024) } })), 422);
    expect(status.message).toContain("annotations may hold at most 262144 bytes of keys and values in total");
  });

  test("patches: strings holding RFC 6902 operations; problems name the index", async () => {
    const status = await invalid({
      ...GPU_BODY,
      patches: [
        '{"op":"add","path":"/metadata/labels/x","value":"y"}',
        "{not json",
        '[{"op":"add"}]',
        '{"op":"frobnicate","path":"/a"}',
        '{"op":"replace","path":"spec"}',
        { op: "add", path: "/a", value: 1 },
        '{"op":"move","path":"/a"}',
        '{"op":"remove","path":"/a~2b"}',
      ],
    });
    expect(status.details?.causes?.map((c) => [c.field, c.message])).toEqual([
      ["patches[1]", expect.stringMatching(/^is not valid JSON \(.+\); each patch is a string holding one operation, e\.g\. /)],
      ["patches[2]", "must encode a JSON object (one RFC 6902 operation), not an array"],
      ["patches[3]", '"op" must be one of add, remove, replace, move, copy, test'],
      ["patches[4]", `"path" "spec" is not a JSON pointer: it must be empty or start with '/', and '~' must be followed by 0 or 1`],
      ["patches[4]", '"value" is required for op replace'],
      ["patches[5]", expect.stringMatching(/^each patch must be a string holding one JSON-encoded RFC 6902 operation/)],
      ["patches[6]", '"from" is required for op move: a JSON pointer'],
      ["patches[7]", `"path" "/a~2b" is not a JSON pointer: it must be empty or start with '/', and '~' must be followed by 0 or 1`],
    ]);
    expect((await invalid({ ...GPU_BODY, patches: "x" })).message).toBe("invalid mount request for pod team/trainer: patches: patches must be an array of strings");
  });

  test("valid patches of every op reach the agent decoded", async () => {
    const ops = [
      { op: "add", path: "/spec/tolerations/-", value: { key: "gpu", operator: "Exists" } },
      { op: "remove", path: "/metadata/labels/a~1b" },
      { op: "replace", path: "/spec/priorityClassName", value: null },
      { op: "move", from: "/a", path: "/b" },
      { op: "copy", from: "/a", path: "/c" },
      { op: "test", path: "", value: {} },
    ] as const;
    const { response, caller } = mount(q, { ...GPU_BODY, patches: ops.map((o) => JSON.stringify(o)) });
    await jsonOf(await response);
    expect(sentMount(caller).patches).toEqual(ops.map((o) => ({ ...o })));
  });

  test("a body over --max-body-bytes is refused with 413, with or without Content-Length", async () => {
    const t = testApp({ settings: { maxBodyBytes: 1024 } });
    const big = JSON.stringify({ ...GPU_BODY, annotations: { a: "x".repeat(2000) } });
    const sized = await statusOf(await t.app.request(`${MOUNT_URL}${q}`, jsonPut(big)), 413);
    expect(sized.reason).toBe("RequestEntityTooLarge");
    expect(sized.message).toBe("the request body is larger than the limit of 1024 bytes");
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode(big.slice(i * 600, (i + 1) * 600)));
        controller.close();
      },
    });
    const chunked = await t.app.request(`${MOUNT_URL}${q}`, { method: "PUT", headers: authorized({ "content-type": "application/json", "transfer-encoding": "chunked" }), body: stream, duplex: "half" } as RequestInit);
    expect((await statusOf(chunked, 413)).message).toBe("the request body is larger than the limit of 1024 bytes");
    expect((t.caller as ScriptedAgentCaller).calls).toHaveLength(0);
  });
});
