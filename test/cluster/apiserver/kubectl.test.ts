// The real kubectl binary against the stand-in over HTTPS: discovery, server-side
// printing, server-side field validation, create/get/delete/patch/label, watches,
// selectors, error messages and both credential kinds.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readLinesUntil, startTestServer, type TestServer } from "./testing.ts";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    policy: {
      tokens: { "bob-token": { username: "bob", groups: ["readers"] } },
      rules: [{ group: "readers", verbs: ["get", "list", "watch"], apiGroups: [""], resources: ["pods"], namespaces: ["kube-public"] }],
    },
  });
});
afterAll(async () => {
  await t?.stop();
});

const podYaml = (name: string, extra = "") => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:${extra}
  containers:
  - name: main
    image: busybox:1.36
`;

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await t.kubectl(args, stdin === undefined ? {} : { stdin });
  if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

describe("kubectl", () => {
  test("create -f, get -o json, get -A, delete", async () => {
    expect(await ok(["create", "-f", "-"], podYaml("k-one"))).toBe("pod/k-one created\n");
    const pod = JSON.parse(await ok(["get", "pod", "k-one", "-o", "json"])) as Record<string, any>;
    expect(pod["kind"]).toBe("Pod");
    expect(pod["metadata"]["namespace"]).toBe("default");
    expect(pod["status"]["phase"]).toBe("Pending");
    const all = await ok(["get", "pods", "-A"]);
    const lines = all.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    expect(lines.some((l) => /^default\s+k-one\s+0\/1\s+Pending\s+0\s+\d+s$/.test(l))).toBe(true);
    expect(await ok(["delete", "pod", "k-one"])).toBe('pod "k-one" deleted\n');
    const gone = await t.kubectl(["get", "pod", "k-one"]);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toBe('Error from server (NotFound): pods "k-one" not found\n');
  });

  test("get -o wide, nodes and namespaces print kube's columns", async () => {
    await ok(["create", "-f", "-"], podYaml("k-wide"));
    const wide = (await ok(["get", "pod", "k-wide", "-o", "wide"])).split("\n")[0];
    expect(wide).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
    await t.core.createNode({ body: { metadata: { name: "k-node" }, status: { conditions: [{ type: "Ready", status: "True" }], nodeInfo: { kubeletVersion: "v1.32.4" } as never } } });
    const nodes = await ok(["get", "nodes"]);
    expect(nodes).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nk-node\s+Ready\s+<none>\s+\d+s\s+v1\.32\.4\n$/);
    const namespaces = await ok(["get", "ns", "kube-system", "--no-headers"]);
    expect(namespaces).toMatch(/^kube-system\s+Active\s+\d+s\n$/);
  });

  test("server-side validation errors reach the user unchanged", async () => {
    const invalid = await t.kubectl(["create", "-f", "-"], { stdin: podYaml("Bad_Pod") });
    expect(invalid.exitCode).toBe(1);
    expect(invalid.stderr).toStartWith(`The Pod "Bad_Pod" is invalid: metadata.name: Invalid value: "Bad_Pod": a lowercase RFC 1123 subdomain`);
    const unknown = await t.kubectl(["create", "-f", "-"], { stdin: podYaml("k-unknown", "\n  bogusField: 1") });
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toBe(
      'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.bogusField"\n',
    );
    const duplicate = await t.kubectl(["create", "-f", "-"], { stdin: podYaml("k-wide") });
    expect(duplicate.stderr).toBe('Error from server (AlreadyExists): error when creating "STDIN": pods "k-wide" already exists\n');
  });

  test("label, annotate and patch use the PATCH flavours", async () => {
    await ok(["create", "-f", "-"], podYaml("k-patch"));
    expect(await ok(["label", "pod", "k-patch", "tier=front"])).toBe("pod/k-patch labeled\n");
    expect(await ok(["annotate", "pod", "k-patch", "note=hi"])).toBe("pod/k-patch annotated\n");
    await ok(["patch", "pod", "k-patch", "--type=json", "-p", '[{"op":"add","path":"/metadata/labels/extra","value":"1"}]']);
    await ok(["patch", "pod", "k-patch", "--type=merge", "-p", '{"metadata":{"labels":{"extra":null}}}']);
    await ok(["patch", "pod", "k-patch", "-p", '{"spec":{"containers":[{"name":"main","image":"busybox:1.37"}]}}']);
    const pod = JSON.parse(await ok(["get", "pod", "k-patch", "-o", "json"])) as Record<string, any>;
    expect(pod["metadata"]["labels"]).toEqual({ app: "k-patch", tier: "front" });
    expect(pod["metadata"]["annotations"]).toEqual({ note: "hi" });
    expect(pod["spec"]["containers"].map((c: { image: string }) => c.image)).toEqual(["busybox:1.37"]);
  });

  test("label and field selectors, chunked lists", async () => {
    await ok(["create", "namespace", "k-sel"]);
    for (const name of ["s-a", "s-b", "s-c"]) await ok(["create", "-n", "k-sel", "-f", "-"], podYaml(name));
    await t.request("POST", "/api/v1/namespaces/k-sel/pods/s-b/binding", { body: { metadata: { name: "s-b" }, target: { name: "some-node" } } });
    expect(await ok(["get", "pods", "-n", "k-sel", "-l", "app in (s-a,s-b)", "-o", "name"])).toBe("pod/s-a\npod/s-b\n");
    expect(await ok(["get", "pods", "-n", "k-sel", "--field-selector", "spec.nodeName=", "-o", "name"])).toBe("pod/s-a\npod/s-c\n");
    expect(await ok(["get", "pods", "-n", "k-sel", "--chunk-size=1", "-o", "name"])).toBe("pod/s-a\npod/s-b\npod/s-c\n");
  });

  test("get -w prints the list, then each change", async () => {
    await ok(["create", "namespace", "k-watch"]);
    await ok(["create", "-n", "k-watch", "-f", "-"], podYaml("w-first"));
    const child = t.spawnKubectl(["get", "pods", "-n", "k-watch", "-w", "--output-watch-events"]);
    try {
      const reader = child.stdout;
      const [head, rest] = reader.tee();
      const initial = await readLinesUntil(head, (lines) => lines.some((l) => l.includes("w-first")), 10_000);
      expect(initial[0]).toMatch(/^EVENT\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
      await t.core.createNamespacedPod({ namespace: "k-watch", body: { metadata: { name: "w-second" }, spec: { containers: [{ name: "c", image: "i" }] } } });
      await t.core.deleteNamespacedPod({ namespace: "k-watch", name: "w-second" });
      const all = await readLinesUntil(rest, (lines) => lines.some((l) => /^DELETED\s+w-second/.test(l)), 10_000);
      expect(all.some((l) => /^ADDED\s+w-first\s+0\/1\s+Pending/.test(l))).toBe(true);
      expect(all.some((l) => /^ADDED\s+w-second\s+0\/1\s+Pending/.test(l))).toBe(true);
      expect(all.some((l) => /^DELETED\s+w-second\s+0\/1\s+Pending/.test(l))).toBe(true);
    } finally {
      child.kill();
      await child.exited;
    }
  });

  test("typed-client commands send protobuf bodies the server understands", async () => {
    expect(await ok(["create", "namespace", "k-proto"])).toBe("namespace/k-proto created\n");
    expect(await ok(["create", "configmap", "cm", "-n", "k-proto", "--from-literal=key=value"])).toBe("configmap/cm created\n");
    expect(await ok(["create", "secret", "generic", "sec", "-n", "k-proto", "--from-literal=key=value"])).toBe("secret/sec created\n");
    const cm = JSON.parse(await ok(["get", "configmap", "cm", "-n", "k-proto", "-o", "json"])) as { data: unknown; metadata: Record<string, unknown> };
    expect(cm.data).toEqual({ key: "value" });
    expect(cm.metadata["generateName"]).toBeUndefined();
    const secret = JSON.parse(await ok(["get", "secret", "sec", "-n", "k-proto", "-o", "json"])) as { data: unknown; type: string };
    expect(secret).toMatchObject({ type: "Opaque", data: { key: Buffer.from("value").toString("base64") } });
  });

  test("discovery lists the served resources", async () => {
    const resources = await ok(["api-resources", "--no-headers", "-o", "name"]);
    for (const name of ["pods", "nodes", "namespaces", "events", "configmaps", "poddisruptionbudgets.policy", "subjectaccessreviews.authorization.k8s.io", "tokenreviews.authentication.k8s.io"]) {
      expect(resources.split("\n")).toContain(name);
    }
  });

  test("a forbidden user sees kube's 403 wording; a bad token is Unauthorized", async () => {
    const denied = await t.kubectl(["get", "pods", "-n", "default"], { user: { token: "bob-token" } });
    expect(denied.exitCode).toBe(1);
    expect(denied.stderr).toBe(
      'Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"\n',
    );
    const allowed = await t.kubectl(["get", "pods", "-n", "kube-public"], { user: { token: "bob-token" } });
    expect(allowed.exitCode).toBe(0);
    expect((await t.kubectl(["auth", "can-i", "list", "pods", "-n", "kube-public"], { user: { token: "bob-token" } })).stdout).toBe("yes\n");
    expect((await t.kubectl(["auth", "can-i", "delete", "pods", "-n", "kube-public"], { user: { token: "bob-token" } })).stdout).toBe("no\n");
    const bad = await t.kubectl(["get", "pods"], { user: { token: "nope" } });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain("error: You must be logged in to the server (Unauthorized)");
  });

  test("a client certificate authenticates as its CN with its O groups", async () => {
    const cert = t.server.issueClientCertificate("carol", ["team-a", "team-b"]);
    const whoami = await t.kubectl(["auth", "whoami", "-o", "json"], { user: { clientCertificate: cert } });
    expect(whoami.exitCode).toBe(0);
    const review = JSON.parse(whoami.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
    expect(review.status.userInfo).toEqual({ username: "carol", groups: ["team-a", "team-b", "system:authenticated"] });
  });
});
