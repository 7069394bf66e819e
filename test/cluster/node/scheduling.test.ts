import { describe, expect, test } from "bun:test";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { filterNode, unschedulableMessage, type FilterFailure } from "./scheduling.ts";
import { parseQuantity, podRequests, qosClassOf } from "./resources.ts";
import { containerCgroup, kubepodsCgroup, podCgroup } from "./cgroups.ts";

function node(name: string, overrides: Partial<V1Node> = {}, allocatable: Record<string, string> = {}): V1Node {
  return {
    metadata: { name, labels: { "kubernetes.io/hostname": name, zone: "a" } },
    spec: {},
    status: { allocatable: { cpu: "2", memory: "4Gi", pods: "110", "example.com/loop": "1", ...allocatable } },
    ...overrides,
  };
}

function pod(spec: Partial<NonNullable<V1Pod["spec"]>> = {}, limits: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name: "p", namespace: "default", uid: crypto.randomUUID() },
    spec: { containers: [{ name: "c", image: "busybox", resources: { limits } }], ...spec },
  };
}

describe("quantities and requests", () => {
  test("parses decimal, binary and exponent suffixes", () => {
    expect(parseQuantity("500m")).toBe(0.5);
    expect(parseQuantity("1Gi")).toBe(1024 ** 3);
    expect(parseQuantity("1.5k")).toBe(1500);
    expect(parseQuantity("12e3")).toBe(12000);
    expect(() => parseQuantity("one")).toThrow('invalid resource quantity "one"');
  });

  test("pod requests take limits as requests and the largest init container", () => {
    const requests = podRequests({
      spec: {
        initContainers: [{ name: "i", image: "b", resources: { requests: { cpu: "3" } } }],
        containers: [
          { name: "a", image: "b", resources: { limits: { cpu: "500m", "example.com/loop": "1" } } },
          { name: "b", image: "b", resources: { requests: { cpu: "1", memory: "1Mi" } } },
        ],
      },
    });
    expect(requests.get("cpu")).toBe(3000);
    expect(requests.get("memory")).toBe(1024 * 1024);
    expect(requests.get("example.com/loop")).toBe(1);
  });

  test("QoS class follows the kubelet's rules", () => {
    expect(qosClassOf(pod())).toBe("BestEffort");
    expect(qosClassOf(pod({}, { "example.com/loop": "1" }))).toBe("BestEffort");
    expect(qosClassOf(pod({}, { cpu: "1", memory: "1Gi" }))).toBe("Guaranteed");
    expect(qosClassOf(pod({}, { cpu: "1" }))).toBe("Burstable");
    const mixed = pod({}, { cpu: "1", memory: "1Gi" });
    mixed.spec?.containers.push({ name: "d", image: "busybox" });
    expect(qosClassOf(mixed)).toBe("Burstable");
  });
});

describe("cgroup layout", () => {
  const uid = "1b2c3d4e-0000-4000-8000-00000000abcd";
  const id = "a".repeat(64);
  test("cgroupfs driver", () => {
    const kubepods = kubepodsCgroup("cgroupfs", "");
    expect(containerCgroup("cgroupfs", podCgroup("cgroupfs", kubepods, "Burstable", uid), id)).toBe(
      `/kubepods/burstable/pod${uid}/${id}`,
    );
    expect(podCgroup("cgroupfs", kubepods, "Guaranteed", uid)).toBe(`/kubepods/pod${uid}`);
    expect(podCgroup("cgroupfs", kubepodsCgroup("cgroupfs", "/dm-test-1/n"), "BestEffort", uid)).toBe(
      `/dm-test-1/n/kubepods/besteffort/pod${uid}`,
    );
  });
  test("systemd driver", () => {
    const kubepods = kubepodsCgroup("systemd", "");
    const underscored = uid.replaceAll("-", "_");
    expect(containerCgroup("systemd", podCgroup("systemd", kubepods, "Burstable", uid), id)).toBe(
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${underscored}.slice/cri-containerd-${id}.scope`,
    );
    expect(podCgroup("systemd", kubepods, "Guaranteed", uid)).toBe(`/kubepods.slice/kubepods-pod${underscored}.slice`);
  });
});

describe("filters", () => {
  test("insufficient extended resource counts pods already on the node", () => {
    const other = pod({ nodeName: "n1" }, { "example.com/loop": "1" });
    const failure = filterNode(pod({}, { "example.com/loop": "1" }), { node: node("n1"), pods: [other] });
    expect(failure).toEqual({ reasons: ["Insufficient example.com/loop"], resolvableByPreemption: true });
    expect(filterNode(pod({}, { "example.com/loop": "1" }), { node: node("n1"), pods: [] })).toBeUndefined();
  });

  test("a resource the node does not have at all is insufficient", () => {
    expect(filterNode(pod({}, { "nvidia.com/gpu": "1" }), { node: node("n1"), pods: [] })?.reasons).toEqual([
      "Insufficient nvidia.com/gpu",
    ]);
  });

  test("node selector and required affinity", () => {
    const state = { node: node("n1"), pods: [] };
    expect(filterNode(pod({ nodeSelector: { zone: "a" } }), state)).toBeUndefined();
    expect(filterNode(pod({ nodeSelector: { zone: "b" } }), state)?.reasons).toEqual([
      "node(s) didn't match Pod's node affinity/selector",
    ]);
    const affinity = (operator: string, values?: string[], key = "zone") =>
      pod({
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] }],
            },
          },
        },
      });
    expect(filterNode(affinity("In", ["a", "c"]), state)).toBeUndefined();
    expect(filterNode(affinity("NotIn", ["a"]), state)).toBeDefined();
    expect(filterNode(affinity("Exists"), state)).toBeUndefined();
    expect(filterNode(affinity("DoesNotExist"), state)).toBeDefined();
    expect(filterNode(affinity("DoesNotExist", undefined, "gpu"), state)).toBeUndefined();
    const byName = pod({
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["n2"] }] }],
          },
        },
      },
    });
    expect(filterNode(byName, state)).toBeDefined();
    expect(filterNode(byName, { node: node("n2"), pods: [] })).toBeUndefined();
  });

  test("NoSchedule taints need a toleration", () => {
    const tainted = node("n1", { spec: { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] } });
    expect(filterNode(pod(), { node: tainted, pods: [] })).toEqual({
      reasons: ["node(s) had untolerated taint {dedicated: gpu}"],
      resolvableByPreemption: false,
    });
    const tolerating = pod({ tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }] });
    expect(filterNode(tolerating, { node: tainted, pods: [] })).toBeUndefined();
    expect(filterNode(pod({ tolerations: [{ operator: "Exists" }] }), { node: tainted, pods: [] })).toBeUndefined();
  });
});

describe("unschedulable message", () => {
  test("matches kube-scheduler's FitError text", () => {
    const insufficient: FilterFailure = { reasons: ["Insufficient example.com/loop"], resolvableByPreemption: true };
    expect(unschedulableMessage(pod(), [insufficient])).toBe(
      "0/1 nodes are available: 1 Insufficient example.com/loop. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    );
    const affinity: FilterFailure = { reasons: ["node(s) didn't match Pod's node affinity/selector"], resolvableByPreemption: false };
    const cpu: FilterFailure = { reasons: ["Insufficient cpu", "Insufficient example.com/loop"], resolvableByPreemption: true };
    expect(unschedulableMessage(pod(), [insufficient, affinity, cpu])).toBe(
      "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient example.com/loop. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
    );
  });
});
