// `device-mounter mount|unmount` against a Kubernetes API stand-in over
// HTTPS (standing in for kube-apiserver and its aggregator): the request
// path, query and body the contract fixes, kubeconfig rules, output, and
// the Status message on failure.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StatusError } from "../../src/api/status.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { isKubectlPlugin, mountCommand, unmountCommand } from "../../src/cli/kube-commands.ts";
import { CertFactory, type Issued } from "./support/certs.ts";
import { mountResponse, unmountResponse } from "./support/fakes.ts";
import { FakeKubeApi, kubeconfigYaml, type RecordedRequest } from "./support/fake-kube-api.ts";

let certs: CertFactory;
let ca: Issued;
let api: FakeKubeApi;
let kubeconfig: string;
/** What the aggregated API answers next: [HTTP code, JSON body]. */
let answer: (r: RecordedRequest) => [number, unknown];

const file = (name: string, content: string) => {
  const path = join(certs.path, name);
  writeFileSync(path, content);
  return path;
};

beforeAll(() => {
  certs = new CertFactory();
  ca = certs.rootCA("kube-ca");
  const serving = certs.leaf("kube-serving", ca, { cn: "kube-apiserver", usage: "serverAuth", altNames: ["127.0.0.1"] });
  api = new FakeKubeApi({
    cert: serving.cert,
    key: serving.key,
    token: "user-token",
    aggregated: (c, recorded) => {
      const [code, body] = answer(recorded);
      return c.json(body as object, code as 200);
    },
  });
  kubeconfig = file("kubeconfig", kubeconfigYaml(api, ca.cert, "from-context"));
});
afterAll(async () => {
  await api?.stop();
  certs?.remove();
});

const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});

async function run(command: typeof mountCommand, argv: string[]): Promise<{ lines: string[]; request: RecordedRequest | undefined }> {
  const lines: string[] = [];
  const before = api.requests.length;
  await command(argv, (line) => lines.push(line));
  return { lines, request: api.requests.slice(before).find((r) => r.path.startsWith("/apis/device-mounter.io")) };
}

const succeedMount = (r: RecordedRequest): [number, unknown] => {
  const pod = r.path.split("/")[7]!;
  const { kind: _, ...rest } = mountResponse({ namespace: "x", pod, podUid: "", deviceType: "x", resources: {}, annotations: {}, labels: {}, patches: [], timeoutSeconds: 1, user: "x" });
  return [200, { kind: "MountResult", apiVersion: "device-mounter.io/v1alpha1", ...rest }];
};

describe("device-mounter mount", () => {
  test("sends exactly the contract's request through the API server", async () => {
    answer = succeedMount;
    const { lines, request } = await run(mountCommand, [
      "trainer",
      "-n",
      "team",
      "--type",
      "NVIDIA_GPU",
      "--resource",
      "nvidia.com/gpu=1",
      "--resource",
      "volcano.sh/vgpu-memory=2000",
      "--container",
      "main",
      "--wait",
      "30",
      "--label",
      "app=slave-pod",
      "--annotation",
      "device-mounter.io/expansion=true",
      "--patch",
      '{"op":"replace","path":"/spec/schedulerName","value": "volcano"}',
      "--kubeconfig",
      kubeconfig,
    ]);
    expect(request).toMatchObject({
      method: "PUT",
      path: "/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/mount",
      query: { device_type: "NVIDIA_GPU", container: "main", wait_second: "30" },
      authorization: "Bearer user-token",
      contentType: "application/json",
    });
    expect(JSON.parse(request!.body)).toEqual({
      resources: { "nvidia.com/gpu": "1", "volcano.sh/vgpu-memory": "2000" },
      annotations: { "device-mounter.io/expansion": "true" },
      labels: { app: "slave-pod" },
      patches: ['{"op":"replace","path":"/spec/schedulerName","value": "volcano"}'],
    });
    expect(lines).toEqual(["mounted 1 device into x/trainer", "  /dev/nvidia0 (c 195:0 rw) nvidia.com/gpu GPU-1"]);
  });

  test("only given parameters are sent; the namespace comes from the kubeconfig context", async () => {
    answer = succeedMount;
    const { request } = await run(mountCommand, ["trainer", "--type", "NVIDIA_GPU", "--resource", "nvidia.com/gpu=1", "--kubeconfig", kubeconfig]);
    expect(request?.path).toBe("/apis/device-mounter.io/v1alpha1/namespaces/from-context/pods/trainer/mount");
    expect(request?.query).toEqual({ device_type: "NVIDIA_GPU" });
    expect(JSON.parse(request!.body)).toEqual({ resources: { "nvidia.com/gpu": "1" }, annotations: {}, labels: {}, patches: [] });
  });

  test("KUBECONFIG and ~/.kube/config are used without --kubeconfig", async () => {
    answer = succeedMount;
    process.env.KUBECONFIG = kubeconfig;
    expect((await run(mountCommand, ["p1", "--type", "T", "--resource", "a.com/b=1"])).request?.path).toContain("/namespaces/from-context/pods/p1/");
    delete process.env.KUBECONFIG;
    const home = join(certs.path, "home");
    mkdirSync(join(home, ".kube"), { recursive: true });
    writeFileSync(join(home, ".kube", "config"), kubeconfigYaml(api, ca.cert, "home-ns"));
    process.env.HOME = home;
    expect((await run(mountCommand, ["p2", "--type", "T", "--resource", "a.com/b=1"])).request?.path).toContain("/namespaces/home-ns/pods/p2/");
  });

  test("a JSON array given to --patch sends one string per operation", async () => {
    answer = succeedMount;
    const { request } = await run(mountCommand, ["trainer", "--type", "T", "--resource", "a.com/b=1", "--patch", '[{"op":"add","path":"/a","value":1},{"op":"remove","path":"/b"}]', "--kubeconfig", kubeconfig]);
    expect(JSON.parse(request!.body).patches).toEqual(['{"op":"add","path":"/a","value":1}', '{"op":"remove","path":"/b"}']);
  });

  test("-o json prints the result object", async () => {
    answer = succeedMount;
    const { lines } = await run(mountCommand, ["trainer", "--type", "T", "--resource", "a.com/b=1", "-o", "json", "--kubeconfig", kubeconfig]);
    expect(JSON.parse(lines.join("\n"))).toMatchObject({ kind: "MountResult", apiVersion: "device-mounter.io/v1alpha1", slavePods: ["trainer-slave-1"] });
  });

  test("a Status answer becomes the error, with its message and code", async () => {
    answer = () => [409, new StatusError("Conflict", "a mount is already running for the default container of pod team/trainer; retry the mount when it has finished").toStatus()];
    const error = (await run(mountCommand, ["trainer", "--type", "T", "--resource", "a.com/b=1", "--kubeconfig", kubeconfig]).catch((e) => e)) as StatusError;
    expect(error).toBeInstanceOf(StatusError);
    expect([error.code, error.reason, error.message]).toEqual([409, "Conflict", "a mount is already running for the default container of pod team/trainer; retry the mount when it has finished"]);
  });

  test("a 404 that is not about the pod points at the missing APIService", async () => {
    answer = () => [404, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server could not find the requested resource", reason: "NotFound", code: 404 }];
    const error = (await run(mountCommand, ["trainer", "--type", "T", "--resource", "a.com/b=1", "--kubeconfig", kubeconfig]).catch((e) => e)) as StatusError;
    expect(error.message).toBe("the server could not find the requested resource (is device-mounter installed? kubectl get apiservice v1alpha1.device-mounter.io)");
    answer = () => [404, new StatusError("NotFound", 'pods "ghost" not found in namespace "team"', { name: "ghost", kind: "pods" }).toStatus()];
    const missing = (await run(mountCommand, ["ghost", "--type", "T", "--resource", "a.com/b=1", "--kubeconfig", kubeconfig]).catch((e) => e)) as StatusError;
    expect(missing.message).toBe('pods "ghost" not found in namespace "team"');
  });

  test("a server that cannot be reached is named", async () => {
    const unreachable = file("unreachable", kubeconfigYaml(api, ca.cert).replace(api.url, "https://127.0.0.1:1"));
    const error = (await run(mountCommand, ["trainer", "--type", "T", "--resource", "a.com/b=1", "--kubeconfig", unreachable]).catch((e) => e)) as StatusError;
    expect(error.message).toStartWith("cannot reach the Kubernetes API at https://127.0.0.1:1: ");
  });

  test.each([
    [[], "name exactly one pod"],
    [["a", "b", "--type", "T", "--resource", "x.com/y=1"], "name exactly one pod (got a b)"],
    [["p", "--resource", "x.com/y=1"], "--type: device_type is required"],
    [["p", "--type", "T"], "name at least one --resource NAME=QUANTITY (e.g. --resource nvidia.com/gpu=1)"],
    [["p", "--type", "T", "--resource", "nvidia.com/gpu"], '--resource "nvidia.com/gpu" is not KEY=VALUE'],
    [["p", "--type", "T", "--resource", "nvidia.com/gpu=0.5"], '--resource nvidia.com/gpu: quantity "0.5" must be a whole number: nvidia.com/gpu is an extended resource'],
    [["p", "--type", "T", "--resource", "x.com/y=1", "--label", "a=1", "--label", "a=2"], "--label a is given twice"],
    [["p", "--type", "T", "--resource", "x.com/y=1", "--patch", "{oops"], "--patch #1: is not valid JSON"],
    [["p", "--type", "T", "--resource", "x.com/y=1", "--wait", "soon"], '--wait: wait_second "soon" must be a whole number of seconds'],
    [["p", "--type", "T", "--resource", "x.com/y=1", "--container", "Main"], '--container: container "Main" must consist of lower case'],
    [["p", "--type", "T", "--resource", "x.com/y=1", "-o", "yaml"], "-o yaml: use text or json"],
    [["p", "--type", "T", "--resource", "x.com/y=1", "--bogus"], "Unknown option '--bogus'"],
  ])("usage error for %p", async (argv, message) => {
    const error = await mountCommand([...argv, "--kubeconfig", kubeconfig], () => {}).catch((e) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
  });

  test("without any kubeconfig the error says where one is looked for", async () => {
    delete process.env.KUBECONFIG;
    process.env.HOME = join(certs.path, "empty-home");
    const error = await mountCommand(["p", "--type", "T", "--resource", "x.com/y=1"], () => {}).catch((e) => e);
    expect((error as Error).message).toBe("no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod");
  });
});

describe("device-mounter unmount", () => {
  test("PUT .../unmount with force=1 and no body; prints what was removed and ended", async () => {
    answer = (r) => {
      const { kind: _, ...rest } = unmountResponse({ namespace: "team", pod: "trainer", podUid: "", deviceType: "T", force: true, timeoutSeconds: 1, user: "x" });
      return [200, { kind: "UnmountResult", apiVersion: "device-mounter.io/v1alpha1", ...rest, message: `unmounted (${r.query.force})` }];
    };
    const { lines, request } = await run(unmountCommand, ["trainer", "-n", "team", "--type", "NVIDIA_GPU", "--container", "main", "--force", "--kubeconfig", kubeconfig]);
    expect(request).toMatchObject({ method: "PUT", path: "/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/unmount", query: { device_type: "NVIDIA_GPU", container: "main", force: "1" }, body: "" });
    expect(lines).toEqual(["unmounted (1)", "  /dev/nvidia0 (c 195:0 rw) nvidia.com/gpu GPU-1", "  ended pid 42 (python)"]);
  });

  test("without --force no force parameter is sent", async () => {
    answer = () => [200, { kind: "UnmountResult", message: "done", devices: [], killed: [] }];
    const { request, lines } = await run(unmountCommand, ["trainer", "--type", "T", "--wait", "5", "--kubeconfig", kubeconfig]);
    expect(request?.query).toEqual({ device_type: "T", wait_second: "5" });
    expect(lines).toEqual(["done"]);
  });
});

test("--help prints the usage", async () => {
  const lines: string[] = [];
  await mountCommand(["--help"], (l) => lines.push(l));
  await unmountCommand(["-h"], (l) => lines.push(l));
  expect(lines).toEqual([
    "Usage: device-mounter mount POD [-n NAMESPACE] --type DEVICE_TYPE --resource NAME=QUANTITY... [--container NAME] [--wait SECONDS] [--label KEY=VALUE]... [--annotation KEY=VALUE]... [--patch JSON]... [--kubeconfig FILE] [--context NAME] [-o text|json]",
    "Usage: device-mounter unmount POD [-n NAMESPACE] --type DEVICE_TYPE [--container NAME] [--wait SECONDS] [--force] [--kubeconfig FILE] [--context NAME] [-o text|json]",
  ]);
});

test("isKubectlPlugin: the kubectl-device_mounter executable name", () => {
  expect(isKubectlPlugin("/usr/local/bin/kubectl-device_mounter")).toBe(true);
  expect(isKubectlPlugin("kubectl-device_mounter.exe")).toBe(true);
  expect(isKubectlPlugin("/usr/local/bin/device-mounter")).toBe(false);
  expect(isKubectlPlugin("kubectl-device-mounter")).toBe(false);
});
