import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StatusError } from "../../src/api/status.ts";
import { LOOP_RESOURCE } from "../../test/cluster/node/devices.ts";
import { cleanupAfterAll } from "../../test/support/cleanup.ts";
import { runCommandOk } from "../../test/support/command.ts";
import { requireRoot } from "../../test/support/prereqs.ts";
import { makeTempDir, type TempDir } from "../../test/support/tempdir.ts";
import { DeviceTypeConfigError, genericDeviceType, loadDeviceTypeConfig, parseDeviceTypeConfig } from "./generic.ts";
import { BUILT_IN_TYPE_NAMES } from "./registry.ts";
import { thrownBy } from "../../test/support/thrown.ts";

cleanupAfterAll();

const configError = (text: string) => thrownBy(DeviceTypeConfigError, () => parseDeviceTypeConfig(text, "device-types.yaml", BUILT_IN_TYPE_NAMES));

const statusError = (fn: () => unknown) => thrownBy(StatusError, fn);

/** The generic type the cluster-in-a-box's example.com/loop needs: plugin IDs "loop0".. are not host names. */
const LOOP_CONFIG = `
- name: loop
  resources: [${LOOP_RESOURCE}]
  devices:
    - slavePath: /dev/example-{id}
`;

describe("parseDeviceTypeConfig", () => {
  test("fills defaults: access rw, no companions", () => {
    expect(parseDeviceTypeConfig(LOOP_CONFIG, "cm")).toEqual([
      { name: "loop", resources: [LOOP_RESOURCE], devices: [{ slavePath: "/dev/example-{id}", access: "rw" }], companions: [] },
    ]);
  });

  test("reads JSON too, and an empty document as no types", () => {
    const json = JSON.stringify([{ name: "FPGA", resources: ["example.com/fpga"], devices: [{ hostPath: "/dev/{id}", containerPath: "/dev/fpga{index}", access: "rwm" }] }]);
    expect(parseDeviceTypeConfig(json, "cm")[0]?.devices).toEqual([{ hostPath: "/dev/{id}", containerPath: "/dev/fpga{index}", access: "rwm" }]);
    expect(parseDeviceTypeConfig("", "cm")).toEqual([]);
  });

  test("every problem is reported at once, each with its path", () => {
    const error = configError(`
- name: "bad name!"
  resources: ["Example.com/x", "example.com/ok"]
  devices:
    - hostPath: dev/{id}
      access: wr
    - hostPath: /dev/{id}
      slavePath: /dev/{id}
    - hostPath: /dev/../{id}
    - containerPath: /dev/{uid}
      hostPath: /dev/x
  companions:
    - hostPath: /dev/ctl{id}
  extra: 1
- name: ok
  resources: []
  devices: []
`);
    expect(error.problems).toEqual([
      "deviceTypes[0][name]: must be 1-63 letters, digits, '_', '-' or '.', starting and ending with a letter or digit",
      "deviceTypes[0][resources][0]: not a valid resource name: prefix part must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
      "deviceTypes[0][devices][0][hostPath]: must be an absolute path",
      'deviceTypes[0][devices][0][access]: must be a subset of "rwm" in that order',
      "deviceTypes[0][devices][1]: needs exactly one of hostPath and slavePath",
      "deviceTypes[0][devices][2][hostPath]: must be a normalised path (no '..', '//' or trailing '/')",
      "deviceTypes[0][devices][3][containerPath]: unknown placeholder {uid}; allowed: {id}, {index}",
      "deviceTypes[0][companions][0][hostPath]: placeholders are not allowed here (found {id})",
      'deviceTypes[0][extra]: Invalid key: Expected never but received "extra"',
      "deviceTypes[1][resources]: must name at least one resource",
      "deviceTypes[1][devices]: must describe at least one device node",
    ]);
    expect(error.message).toStartWith("invalid device type configuration device-types.yaml:\n  deviceTypes[0][name]: ");
  });

  test("names are unique regardless of case and may not take a built-in type's", () => {
    const error = configError(`
- {name: nvidia_gpu, resources: [example.com/a], devices: [{hostPath: /dev/a}]}
- {name: Loop, resources: [example.com/b], devices: [{hostPath: /dev/b}]}
- {name: LOOP, resources: [example.com/c], devices: [{hostPath: /dev/c}]}
`);
    expect(error.problems).toEqual([
      "deviceTypes[0][name]: nvidia_gpu is a built-in device type",
      "deviceTypes[2][name]: LOOP is already the name of deviceTypes[1] (names ignore case)",
    ]);
  });

  test("YAML syntax errors and unreadable files are config errors naming the source", () => {
    expect(configError("- name: [unclosed").problems[0]).toStartWith("not valid YAML or JSON: ");
    const missing = (() => {
      try {
        loadDeviceTypeConfig("/nonexistent/dm-test-device-types.yaml");
      } catch (error) {
        return error as DeviceTypeConfigError;
      }
    })();
    expect(missing?.message).toStartWith("invalid device type configuration /nonexistent/dm-test-device-types.yaml:\n  cannot read it: ");
  });
});

describe("generic devicesFor", () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = makeTempDir("devtypes-generic");
    mkdirSync(join(dir.path, "dev"));
    symlinkSync("/dev/null", join(dir.path, "dev", "example-link"));
    writeFileSync(join(dir.path, "dev", "example-file"), "");
  });
  afterAll(() => dir.remove());

  const [hostType] = parseDeviceTypeConfig(
    `
- name: CHARS
  resources: [example.com/char]
  devices:
    - hostPath: /dev/{id}
      containerPath: /dev/chars/{index}
      access: r
  companions:
    - hostPath: /dev/zero
      containerPath: /dev/chars-ctl
    - hostPath: /dev/dm-test-never-there
      optional: true
`,
    "test",
  ).map(genericDeviceType);

  test("a hostPath template is filled with the ID and index and the host node is read", () => {
    expect(hostType!.devicesFor("example.com/char", "null", { index: 2 })).toEqual([
      { hostPath: "/dev/null", containerPath: "/dev/chars/2", type: "c", major: 1, minor: 3, access: "r", mode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  test("companions are read from the host; optional ones that are absent are skipped", () => {
    expect(hostType!.companions?.()).toEqual([
      { hostPath: "/dev/zero", containerPath: "/dev/chars-ctl", type: "c", major: 1, minor: 5, access: "rw", mode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  test("a slavePath is read under the slave container's root, and the container path defaults to it", () => {
    const [type] = parseDeviceTypeConfig(LOOP_CONFIG.replace("example-{id}", "{id}"), "test").map(genericDeviceType);
    // This process stands in for the slave container: its root is the host's.
    const slaveRoot = `/proc/${process.pid}/root`;
    expect(type!.devicesFor(LOOP_RESOURCE, "zero", { index: 0, slaveRoot })).toEqual([
      { hostPath: `${slaveRoot}/dev/zero`, containerPath: "/dev/zero", type: "c", major: 1, minor: 5, access: "rw", mode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  test("a symlink in the slave container is refused: it would resolve against the agent's root", () => {
    const [type] = parseDeviceTypeConfig(LOOP_CONFIG, "test").map(genericDeviceType);
    const error = statusError(() => type!.devicesFor(LOOP_RESOURCE, "link", { index: 0, slaveRoot: dir.path }));
    expect(error.message).toBe(`device type loop, example.com/loop device ID "link": ${dir.path}/dev/example-link is a symlink, not a character or block device`);
  });

  test("a missing node, a regular file, an ID that is not one path component: errors naming them", () => {
    const [type] = parseDeviceTypeConfig(LOOP_CONFIG, "test").map(genericDeviceType);
    const at = { index: 0, slaveRoot: dir.path };
    expect(statusError(() => type!.devicesFor(LOOP_RESOURCE, "loop9", at)).message).toBe(
      `device type loop, example.com/loop device ID "loop9": device node ${dir.path}/dev/example-loop9 does not exist`,
    );
    expect(statusError(() => type!.devicesFor(LOOP_RESOURCE, "file", at)).message).toEndWith(`${dir.path}/dev/example-file is a regular file, not a character or block device`);
    expect(statusError(() => type!.devicesFor(LOOP_RESOURCE, "../../etc/passwd", at)).message).toBe(
      'device type loop, example.com/loop device ID "../../etc/passwd": device ID "../../etc/passwd" cannot be used in a path',
    );
    expect(statusError(() => type!.devicesFor(LOOP_RESOURCE, "loop0", { index: 0 })).message).toBe(
      `device type loop, example.com/loop device ID "loop0": its nodes are read from the slave pod's container, but no slave container root was given`,
    );
  });

  test("a resource the type does not own is refused", () => {
    expect(statusError(() => hostType!.devicesFor("example.com/other", "null")).message).toBe(
      "device type CHARS does not own resource example.com/other; it owns example.com/char",
    );
  });
});

// The cluster-in-a-box's loop plugin puts /dev/example-loopN into the slave container
// for a host /dev/loopM; a block node made in a fake container root stands in for it.
const haveRoot = requireRoot(["root"]);
describe.skipIf(!haveRoot)("example.com/loop as the cluster-in-a-box allocates it", () => {
  let root: TempDir;
  beforeAll(async () => {
    root = makeTempDir("devtypes-slaveroot");
    mkdirSync(join(root.path, "dev"));
    await runCommandOk(["mknod", "-m", "660", join(root.path, "dev", "example-loop1"), "b", "7", "42"]);
  });
  afterAll(() => root?.remove());

  test("the plugin's device ID resolves to the block device it gave the slave container", () => {
    const [type] = parseDeviceTypeConfig(LOOP_CONFIG, "test").map(genericDeviceType);
    expect(type!.devicesFor(LOOP_RESOURCE, "loop1", { index: 0, slaveRoot: root.path })).toEqual([
      { hostPath: join(root.path, "dev/example-loop1"), containerPath: "/dev/example-loop1", type: "b", major: 7, minor: 42, access: "rw", mode: 0o660, uid: 0, gid: 0 },
    ]);
  });
});
