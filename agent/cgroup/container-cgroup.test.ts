import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StatusError } from "../../src/api/status.ts";
import { containerCgroup, podCgroup } from "../../test/cluster/node/cgroups.ts";
import { cleanupAfterAll } from "../../test/support/cleanup.ts";
import { hostCgroupMounts, removeCgroupTree, v1HierarchyWith } from "../../test/support/cgroupfs.ts";
import { testName } from "../../test/support/names.ts";
import { requireRoot } from "../../test/support/prereqs.ts";
import { makeTempDir, type TempDir } from "../../test/support/tempdir.ts";
import {
  containerCgroupCandidates,
  findContainerCgroup,
  firstPid,
  type CgroupDriver,
  type ContainerRef,
  type QosClass,
} from "./container-cgroup.ts";

cleanupAfterAll();

const UID = "8d4f0b7e-2c1a-4e5b-9f60-1a2b3c4d5e6f";
const ID = "4b825dc642cb6eb9a060e54bf8d69288fbee4904a1b2c3d4e5f60718293a4b5c";

type Layout = "v1" | "v2" | "hybrid";

/**
 * A fake host: cgroup hierarchies as plain directories under <dir>/cg, and a
 * <dir>/proc/self/mountinfo that says where they are mounted, as a real host's does.
 */
function fakeHost(dir: string, layout: Layout, namespaceRoot = "/") {
  const cg = join(dir, "cg");
  const hierarchies = { v1: layout === "v2" ? undefined : join(cg, "devices"), unified: layout === "v1" ? undefined : layout === "v2" ? cg : join(cg, "unified") };
  const lines = [`31 23 0:28 / ${cg} rw,relatime - tmpfs tmpfs rw,mode=755`];
  if (hierarchies.v1) lines.push(`36 31 0:33 ${namespaceRoot} ${hierarchies.v1} rw,relatime - cgroup cgroup rw,devices`);
  if (layout !== "v2") lines.push(`37 31 0:34 / ${join(cg, "memory")} rw,relatime - cgroup cgroup rw,memory`);
  if (hierarchies.unified) lines.push(`41 31 0:38 ${namespaceRoot} ${hierarchies.unified} rw,relatime - cgroup2 cgroup2 rw,nsdelegate`);
  mkdirSync(join(dir, "proc", "self"), { recursive: true });
  writeFileSync(join(dir, "proc", "self", "mountinfo"), `${lines.join("\n")}\n`);
  /** mkdir of a cgroup path (relative to the namespace root) in every hierarchy, with processes in the leaf. */
  const makeCgroup = (path: string, pids: number[] = [4242]) => {
    for (const hierarchy of [hierarchies.v1, hierarchies.unified]) {
      if (!hierarchy) continue;
      const leaf = join(hierarchy, path);
      mkdirSync(leaf, { recursive: true });
      writeFileSync(join(leaf, "cgroup.procs"), pids.map((p) => `${p}\n`).join(""));
    }
  };
  return { cgroupRoot: cg, procRoot: join(dir, "proc"), hierarchies, makeCgroup };
}

const ref = (qosClass: QosClass, runtime = "containerd"): ContainerRef => ({ podUid: UID, qosClass, containerId: `${runtime}://${ID}` });

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir("container-cgroup");
});
afterEach(() => dir.remove());

describe("containerCgroupCandidates", () => {
  test("systemd: QoS slices, the uid's dashes as underscores, the runtime's scope", () => {
    expect(containerCgroupCandidates(ref("Burstable"), { driver: "systemd" })).toEqual([
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8d4f0b7e_2c1a_4e5b_9f60_1a2b3c4d5e6f.slice/cri-containerd-${ID}.scope`,
    ]);
    expect(containerCgroupCandidates(ref("Guaranteed", "cri-o"), { driver: "systemd" })).toEqual([
      `/kubepods.slice/kubepods-pod8d4f0b7e_2c1a_4e5b_9f60_1a2b3c4d5e6f.slice/crio-${ID}.scope`,
    ]);
  });

  test("cgroupfs: QoS directories, pod<uid>, the bare id (CRI-O prefixes crio-)", () => {
    expect(containerCgroupCandidates(ref("BestEffort", "docker"), { driver: "cgroupfs" })).toEqual([`/kubepods/besteffort/pod${UID}/${ID}`, `/kubepods/besteffort/pod${UID}/crio-${ID}`]);
    expect(containerCgroupCandidates(ref("Guaranteed", "cri-o"), { driver: "cgroupfs", kubepodsRoot: "/custom/kubepods" })).toEqual([
      `/custom/kubepods/pod${UID}/crio-${ID}`,
      `/custom/kubepods/pod${UID}/${ID}`,
    ]);
  });

  test("IDs that are not one path component are refused", () => {
    for (const containerId of ["containerd://../../etc", "containerd://", ID, "containerd://a/b"]) {
      expect(() => containerCgroupCandidates({ podUid: UID, qosClass: "Burstable", containerId })).toThrow(
        `container ID ${JSON.stringify(containerId)} is not of the form <runtime>://<id>`,
      );
    }
    expect(() => containerCgroupCandidates({ podUid: "../x", qosClass: "Burstable", containerId: `containerd://${ID}` })).toThrow('pod UID "../x" cannot be part of a cgroup path');
  });
});

// The pod cgroup as the cluster-in-a-box's kubelet makes it; the runtime's own leaf names.
const LEAF: Record<CgroupDriver, Record<string, string>> = {
  cgroupfs: { containerd: ID, "cri-o": `crio-${ID}`, docker: ID },
  systemd: { containerd: `cri-containerd-${ID}.scope`, "cri-o": `crio-${ID}.scope`, docker: `docker-${ID}.scope` },
};
const matrix = (["cgroupfs", "systemd"] as const).flatMap((driver) =>
  (["Guaranteed", "Burstable", "BestEffort"] as const).flatMap((qos) =>
    ["containerd", "cri-o", "docker"].flatMap((runtime) => (["v1", "v2", "hybrid"] as const).map((layout) => ({ driver, qos, runtime, layout }))),
  ),
);

describe("findContainerCgroup", () => {
  test.each(matrix)("$driver, $qos, $runtime, cgroup $layout", ({ driver, qos, runtime, layout }) => {
    const host = fakeHost(dir.path, layout);
    const kubepods = driver === "systemd" ? "/dm-test/kubepods.slice" : "/dm-test/kubepods";
    const path = join(podCgroup(driver, kubepods, qos, UID), LEAF[driver][runtime]!);
    host.makeCgroup(path);
    const found = findContainerCgroup(ref(qos, runtime), { cgroupRoot: host.cgroupRoot, procRoot: host.procRoot, kubepodsRoot: kubepods, driver: "auto" });
    expect(found).toEqual({
      path,
      ...(host.hierarchies.v1 ? { v1Devices: join(host.hierarchies.v1, path) } : {}),
      ...(host.hierarchies.unified ? { unified: join(host.hierarchies.unified, path) } : {}),
    });
    expect(firstPid(found)).toBe(4242);
  });

  test("the default kubepods roots, with the driver detected", () => {
    const host = fakeHost(dir.path, "hybrid");
    const path = containerCgroup("systemd", podCgroup("systemd", "/kubepods.slice", "Burstable", UID), ID);
    host.makeCgroup(path);
    expect(findContainerCgroup(ref("Burstable"), { cgroupRoot: host.cgroupRoot, procRoot: host.procRoot }).path).toBe(path);
  });

  test("a runtime that is in v2 mode on a hybrid host has only the cgroup2 directory", () => {
    const host = fakeHost(dir.path, "hybrid");
    const path = `/kubepods/pod${UID}/${ID}`;
    mkdirSync(join(host.hierarchies.unified!, path), { recursive: true });
    expect(findContainerCgroup(ref("Guaranteed"), { cgroupRoot: host.cgroupRoot, procRoot: host.procRoot, driver: "cgroupfs" })).toEqual({
      path,
      unified: join(host.hierarchies.unified!, path),
    });
  });

  test("a mount from inside a cgroup namespace shows only what is below its root", () => {
    const host = fakeHost(dir.path, "v2", "/kubepods");
    mkdirSync(join(host.cgroupRoot, "burstable", `pod${UID}`, ID), { recursive: true });
    expect(findContainerCgroup(ref("Burstable"), { cgroupRoot: host.cgroupRoot, procRoot: host.procRoot, driver: "cgroupfs" })).toEqual({
      path: `/kubepods/burstable/pod${UID}/${ID}`,
      unified: join(host.cgroupRoot, "burstable", `pod${UID}`, ID),
    });
  });

  test("layouts no rule knows are found by searching for the container ID, never a conmon cgroup", () => {
    const host = fakeHost(dir.path, "v2");
    const pod = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replaceAll("-", "_")}.slice`;
    host.makeCgroup(`${pod}/crio-conmon-${ID}.scope`);
    host.makeCgroup(`${pod}/other-runtime-${ID}.scope/container`);
    const found = findContainerCgroup(ref("Burstable", "cri-o"), { cgroupRoot: host.cgroupRoot, procRoot: host.procRoot, driver: "systemd" });
    expect(found).toEqual({ path: `${pod}/other-runtime-${ID}.scope`, unified: join(host.cgroupRoot, pod, `other-runtime-${ID}.scope`) });
    // The processes are in a child cgroup (v2 allows none in inner nodes).
    expect(firstPid(found)).toBe(4242);
  });

  test("nothing found: ServiceUnavailable naming what was looked for and searched", () => {
    const host = fakeHost(dir.path, "v1");
    host.makeCgroup(`/kubepods/a/b/c/d/${ID}`);
    let error: StatusError | undefined;
    try {
      findContainerCgroup(ref("BestEffort"), { cgroupRoot: host.cgroupRoot, procRoot: host.procRoot, driver: "cgroupfs", searchDepth: 4 });
    } catch (e) {
      error = e as StatusError;
    }
    expect(error?.code).toBe(503);
    expect(error?.message).toBe(
      `container containerd://${ID} of pod ${UID} (BestEffort) has no cgroup on this node: looked for /kubepods/besteffort/pod${UID}/${ID}, /kubepods/besteffort/pod${UID}/crio-${ID} in ${host.hierarchies.v1}, then searched ${join(host.hierarchies.v1!, "kubepods")} 4 levels deep for a directory named after ${ID}`,
    );
  });

  test("no cgroup hierarchy under the cgroup root is ServiceUnavailable", () => {
    const host = fakeHost(dir.path, "hybrid");
    expect(() => findContainerCgroup(ref("Burstable"), { cgroupRoot: join(dir.path, "elsewhere"), procRoot: host.procRoot })).toThrow(
      `no cgroup2 or cgroup v1 devices hierarchy is mounted at or below ${join(dir.path, "elsewhere")}`,
    );
  });
});

describe("firstPid", () => {
  test("cgroup2 is read first; an empty container is Conflict (not running)", () => {
    const host = fakeHost(dir.path, "hybrid");
    host.makeCgroup("/c1", []);
    writeFileSync(join(host.hierarchies.v1!, "c1", "cgroup.procs"), "77\n");
    const dirs = { v1Devices: join(host.hierarchies.v1!, "c1"), unified: join(host.hierarchies.unified!, "c1") };
    expect(firstPid(dirs)).toBe(77);
    writeFileSync(join(host.hierarchies.unified!, "c1", "cgroup.procs"), "88\n99\n");
    expect(firstPid(dirs)).toBe(88);
    host.makeCgroup("/c2", []);
    const empty = { unified: join(host.hierarchies.unified!, "c2") };
    let error: StatusError | undefined;
    try {
      firstPid(empty);
    } catch (e) {
      error = e as StatusError;
    }
    expect([error?.code, error?.message]).toEqual([409, `the container is not running: no process in ${empty.unified}`]);
  });
});

const haveRoot = requireRoot(["root", "cgroup2"]);
describe.skipIf(!haveRoot)("on the real cgroup hierarchies", () => {
  const kubepods = `/${testName("kubepods")}/kubepods`;
  const mounts = haveRoot ? hostCgroupMounts() : { v1: [] };
  const roots = [v1HierarchyWith("devices", mounts)?.mountPoint, mounts.unified].filter((r) => r !== undefined);
  let sleeper: ReturnType<typeof Bun.spawn> | undefined;

  afterAll(async () => {
    sleeper?.kill("SIGKILL");
    await sleeper?.exited;
    for (const root of roots) await removeCgroupTree(join(root, kubepods.split("/")[1]!));
  });

  test("a process moved into a container cgroup is found through the host's mountinfo", () => {
    const path = `${kubepods}/burstable/pod${UID}/${ID}`;
    sleeper = Bun.spawn(["sleep", "60"]);
    for (const root of roots) {
      mkdirSync(join(root, path), { recursive: true });
      writeFileSync(join(root, path, "cgroup.procs"), String(sleeper.pid));
    }
    const found = findContainerCgroup(ref("Burstable"), { kubepodsRoot: kubepods, cgroupRoot: "/sys/fs/cgroup" });
    expect(found.path).toBe(path);
    expect(found.unified).toBe(join(mounts.unified!, path));
    expect(firstPid(found)).toBe(sleeper.pid);
  });
});
