import { describe, expect, test } from "bun:test";
import type { V1Pod } from "@kubernetes/client-node";
import type { JsonPatchOperation } from "../../src/api/agent.ts";
import { StatusError } from "../../src/api/status.ts";
import { qosClassOf } from "../../test/cluster/node/resources.ts";
import { buildSlavePod, type SlavePodInput } from "./build.ts";

const OWNER_UID = "6f1c2d3e-1111-4222-8333-944455556666";
const owner: V1Pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "trainer", namespace: "ml", uid: OWNER_UID },
  spec: {
    nodeName: "node-a",
    priorityClassName: "high",
    hostPID: true,
    tolerations: [
      { key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" },
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    ],
    containers: [{ name: "main", image: "registry.example/trainer:1" }],
  },
};

const input = (over: Partial<SlavePodInput> = {}): SlavePodInput => ({
  owner,
  container: "main",
  deviceType: "NVIDIA_GPU",
  resources: { "nvidia.com/gpu": "2" },
  nodeName: "node-a",
  image: "registry.example/device-mounter@sha256:0123",
  labels: {},
  annotations: {},
  patches: [],
  index: 0,
  ...over,
});

function refused(over: Partial<SlavePodInput>): StatusError {
  try {
    buildSlavePod(input(over));
  } catch (error) {
    if (error instanceof StatusError) return error;
    throw error;
  }
  throw new Error("expected the slave pod to be refused");
}

const PIN = { nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["node-a"] }] }] };

describe("buildSlavePod", () => {
  test("the pod: owner's namespace, owned but not controlled, pinned by affinity, Guaranteed, locked down", () => {
    const pod = buildSlavePod(input({ labels: { app: "slave-pod" }, annotations: { note: "x" }, index: 1 }));
    expect(pod).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        generateName: "trainer-dm-nvidia-gpu-",
        namespace: "ml",
        labels: {
          app: "slave-pod",
          "device-mounter.io/slave": "true",
          "device-mounter.io/owner-uid": OWNER_UID,
          "device-mounter.io/container": "main",
          "device-mounter.io/device-type": "NVIDIA_GPU",
        },
        annotations: {
          note: "x",
          "device-mounter.io/owner": "ml/trainer",
          "device-mounter.io/container": "main",
          "device-mounter.io/device-type": "NVIDIA_GPU",
          "device-mounter.io/index": "1",
        },
        ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "trainer", uid: OWNER_UID, blockOwnerDeletion: true, controller: false }],
      },
      spec: {
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: PIN } },
        schedulerName: "default-scheduler",
        tolerations: owner.spec!.tolerations,
        priorityClassName: "high",
        restartPolicy: "Always",
        terminationGracePeriodSeconds: 0,
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
          {
            name: "hold",
            image: "registry.example/device-mounter@sha256:0123",
            imagePullPolicy: "IfNotPresent",
            command: ["/device-mounter", "hold"],
            resources: {
              requests: { "nvidia.com/gpu": "2", cpu: "10m", memory: "32Mi" },
              limits: { "nvidia.com/gpu": "2", cpu: "10m", memory: "32Mi" },
            },
            securityContext: {
              privileged: false,
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              runAsNonRoot: true,
              capabilities: { drop: ["ALL"] },
            },
          },
        ],
      },
    });
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.spec?.hostPID).toBeUndefined();
    expect(qosClassOf(pod)).toBe("Guaranteed");
    // A copy: later changes to the owner's informer object do not leak in.
    expect(pod.spec?.tolerations).not.toBe(owner.spec?.tolerations);
  });

  test("the public API's example body builds: its labels, its device-mounter.io/expansion annotation, its patch", () => {
    const pod = buildSlavePod(
      input({
        deviceType: "VGPU",
        resources: { "volcano.sh/vgpu-number": "1", "volcano.sh/vgpu-memory": "2000" },
        annotations: { "device-mounter.io/expansion": "true" },
        labels: { app: "slave-pod" },
        patches: [JSON.parse('{"op":"replace","path":"/spec/schedulerName","value": "volcano"}') as JsonPatchOperation],
      }),
    );
    expect(pod.spec?.schedulerName).toBe("volcano");
    expect(pod.metadata?.annotations?.["device-mounter.io/expansion"]).toBe("true");
    expect(pod.metadata?.labels?.app).toBe("slave-pod");
  });

  test("generateName is lower-case DNS and no longer than the API server keeps", () => {
    const longOwner = { ...owner, metadata: { ...owner.metadata, name: "a".repeat(60) } };
    expect(buildSlavePod(input({ owner: longOwner, deviceType: "Loop" })).metadata?.generateName).toBe("a".repeat(58));
    expect(buildSlavePod(input({ deviceType: "My_Type.v2" })).metadata?.generateName).toBe("trainer-dm-my-type-v2-");
  });

  test("device-mounter's own keys are refused from the caller, each named", () => {
    const error = refused({
      labels: { "device-mounter.io/owner-uid": "someone-else" },
      annotations: { "device-mounter.io/devices": "[]", "device-mounter.io/container": "other" },
    });
    expect(error.code).toBe(422);
    expect(error.message).toBe(
      "slave pod refused: labels key device-mounter.io/owner-uid is device-mounter's own; annotations key device-mounter.io/devices is device-mounter's own; annotations key device-mounter.io/container is device-mounter's own",
    );
    expect(error.details?.causes?.map((c) => c.field)).toEqual([
      "labels[device-mounter.io/owner-uid]",
      "annotations[device-mounter.io/devices]",
      "annotations[device-mounter.io/container]",
    ]);
  });

  test("annotations a container runtime acts on are refused, from the body and from patches", () => {
    const error = refused({
      annotations: { "cdi.k8s.io/hold": "nvidia.com/gpu=all", "io.kubernetes.cri-o.Devices": "/dev/sda" },
      patches: [{ op: "add", path: "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1hold", value: "unconfined" }],
    });
    expect(error.details?.causes?.map((c) => c.message)).toEqual([
      "annotations key cdi.k8s.io/hold would be acted on by the container runtime",
      "annotations key io.kubernetes.cri-o.Devices would be acted on by the container runtime",
    ]);
    const patched = refused({ patches: [{ op: "add", path: "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1hold", value: "unconfined" }] });
    expect(patched.message).toBe(
      "slave pod refused: metadata.annotations key container.apparmor.security.beta.kubernetes.io/hold would be acted on by the container runtime",
    );
  });

  test("label and annotation syntax as Kubernetes checks it", () => {
    const error = refused({
      labels: { "bad key!": "v", ok: "-starts-with-dash", "Example.com/x": "v", ["a".repeat(64)]: "v" },
      annotations: { "/empty-prefix": "v", "fine.example/key": "x".repeat(300_000) },
    });
    expect(error.details?.causes?.map((c) => c.message)).toEqual([
      'labels: key "bad key!": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyName\', \'my.name\' or \'123-abc\')',
      'labels["ok"]: value "-starts-with-dash": must be empty or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyValue\' or \'my_value\')',
      'labels: key "Example.com/x": prefix part must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\')',
      `labels: key "${"a".repeat(64)}": name part must be no more than 63 characters`,
      'annotations: key "/empty-prefix": prefix part must be non-empty',
      "annotations: total size 300030 bytes must be no more than 262144 bytes",
    ]);
  });
});

describe("patches", () => {
  const op = (o: Record<string, unknown>) => o as JsonPatchOperation;

  test("scheduling, tolerations, affinity, node selector, labels and annotations may change", () => {
    const pod = buildSlavePod(
      input({
        patches: [
          op({ op: "add", path: "/spec/priorityClassName", value: "batch" }),
          op({ op: "add", path: "/spec/tolerations/-", value: { key: "k", operator: "Exists", effect: "NoSchedule" } }),
          op({ op: "remove", path: "/spec/tolerations/0" }),
          op({ op: "add", path: "/spec/nodeSelector", value: { "example.com/pool": "a" } }),
          op({ op: "add", path: "/spec/affinity/podAntiAffinity", value: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { x: "y" } } }] } }),
          op({
            op: "add",
            path: "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions",
            value: [{ key: "example.com/zone", operator: "In", values: ["z1"] }],
          }),
          op({ op: "add", path: "/metadata/labels/team", value: "ml" }),
          op({ op: "add", path: "/metadata/annotations/example.com~1note", value: "n" }),
          op({ op: "test", path: "/spec/containers/0/command/1", value: "hold" }),
        ],
      }),
    );
    expect(pod.spec?.priorityClassName).toBe("batch");
    expect(pod.spec?.tolerations?.map((t) => t.key)).toEqual(["node.kubernetes.io/not-ready", "k"]);
    expect(pod.spec?.nodeSelector).toEqual({ "example.com/pool": "a" });
    expect(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]).toEqual({
      matchFields: [{ key: "metadata.name", operator: "In", values: ["node-a"] }],
      matchExpressions: [{ key: "example.com/zone", operator: "In", values: ["z1"] }],
    });
    expect(pod.metadata?.labels?.team).toBe("ml");
    expect(pod.metadata?.annotations?.["example.com/note"]).toBe("n");
  });

  test("anything that could escalate is refused, every path named, with the allowed ones listed", () => {
    const error = refused({
      patches: [
        op({ op: "replace", path: "/spec/containers/0/image", value: "evil" }),
        op({ op: "add", path: "/spec/hostPID", value: true }),
        op({ op: "add", path: "/spec/nodeName", value: "node-a" }),
        op({ op: "add", path: "/spec/volumes", value: [{ name: "root", hostPath: { path: "/" } }] }),
        op({ op: "add", path: "/spec/runtimeClassName", value: "unconfined" }),
        op({ op: "replace", path: "/metadata/labels", value: {} }),
        op({ op: "replace", path: "/metadata/labels/device-mounter.io~1owner-uid", value: "x" }),
        op({ op: "move", from: "/metadata/annotations/device-mounter.io~1owner", path: "/metadata/annotations/x" }),
        op({ op: "copy", from: "/spec/tolerations", path: "/spec/containers/0/securityContext/capabilities/add" }),
        op({ op: "replace", path: "", value: {} }),
        op({ op: "add", path: "spec/hostNetwork", value: true }),
        op({ op: "add", path: "/spec/schedulerName/x", value: 1 }),
      ],
    });
    expect(error.code).toBe(422);
    expect(error.details?.causes?.map((c) => c.message)).toEqual([
      "patch 0 (replace): /spec/containers/0/image is not a path patches may change",
      "patch 1 (add): /spec/hostPID is not a path patches may change",
      "patch 2 (add): /spec/nodeName is not a path patches may change",
      "patch 3 (add): /spec/volumes is not a path patches may change",
      "patch 4 (add): /spec/runtimeClassName is not a path patches may change",
      "patch 5 (replace): /metadata/labels is not a path patches may change",
      "patch 6 (replace): /metadata/labels/device-mounter.io~1owner-uid is device-mounter's own key device-mounter.io/owner-uid",
      "patch 7 (move): /metadata/annotations/device-mounter.io~1owner is device-mounter's own key device-mounter.io/owner",
      "patch 8 (copy): /spec/containers/0/securityContext/capabilities/add is not a path patches may change",
      'patch 9 (replace): "" (the whole pod) is not a path patches may change',
      'patch 10 (add): "spec/hostNetwork" is not a JSON pointer (it must start with "/")',
      "patch 11 (add): /spec/schedulerName/x is not a path patches may change",
    ]);
    expect(error.message).toEndWith(
      ". Patches may change only /spec/schedulerName, /spec/priorityClassName, /spec/tolerations[/...], /spec/affinity[/...] (the pinning to the node stays), /spec/nodeSelector[/...], /metadata/labels/<key>, /metadata/annotations/<key>",
    );
  });

  test("a patch may not loosen the pinning to the node", () => {
    const replaced = refused({
      patches: [op({ op: "replace", path: "/spec/affinity/nodeAffinity", value: { preferredDuringSchedulingIgnoredDuringExecution: [] } })],
    });
    expect(replaced.message).toBe("slave pod refused: the patches removed the required node affinity that pins the slave pod to node node-a");
    const ored = refused({
      patches: [
        op({
          op: "add",
          path: "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/-",
          value: { matchExpressions: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }] },
        }),
      ],
    });
    expect(ored.message).toBe(
      "slave pod refused: nodeSelectorTerms[1] of the required node affinity does not pin the slave pod to node node-a (matchFields metadata.name In [node-a])",
    );
    const moved = refused({
      patches: [op({ op: "replace", path: "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0", value: "node-b" })],
    });
    expect(moved.message).toContain("nodeSelectorTerms[0] of the required node affinity does not pin the slave pod to node node-a");
  });

  test("a patch that cannot apply, fails its test, or leaves an invalid pod is a 422 naming it", () => {
    const unresolvable = refused({ patches: [op({ op: "replace", path: "/spec/nodeSelector/x", value: "y" })] });
    expect([unresolvable.code, unresolvable.message]).toEqual([
      422,
      "patch 0 (replace /spec/nodeSelector/x) cannot be applied to the slave pod: Cannot perform the operation at a path that does not exist",
    ]);
    const failedTest = refused({
      patches: [op({ op: "add", path: "/metadata/labels/a", value: "b" }), op({ op: "test", path: "/spec/containers/0/image", value: "other" })],
    });
    expect(failedTest.message).toBe("patch 1 (test /spec/containers/0/image) cannot be applied to the slave pod: Test operation failed");
    const invalidPod = refused({ patches: [op({ op: "add", path: "/spec/tolerations/-", value: { key: "k", tolerationSeconds: "soon" } })] });
    expect(invalidPod.message).toBe("slave pod refused: the patched slave pod is not a valid Pod: data/spec/tolerations/2/tolerationSeconds must be integer");
    const badLabel = refused({ patches: [op({ op: "add", path: "/metadata/labels/bad key", value: "v" })] });
    expect(badLabel.message).toStartWith('slave pod refused: metadata.labels: key "bad key": name part must consist of');
  });
});
