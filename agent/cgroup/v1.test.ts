// planV1 against devices.list files written by the test: the policy of which
// bits device-mounter may write and take back, without a kernel.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planV1, v1Enforces } from "./v1.ts";
import { parseDevicesList } from "../devices/rules.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function cgroupWith(list: string): string {
  const dir = mkdtempSync(join(tmpdir(), "dm-test-v1plan-"));
  dirs.push(dir);
  writeFileSync(join(dir, "devices.list"), list);
  return dir;
}

const loop = (access: string) => ({ type: "b" as const, major: 7, minor: 3, access });

describe("planV1", () => {
  test("grants only the bits the runtime has not, and records them as ours", () => {
    const dir = cgroupWith("c 1:3 rwm\nb 7:3 r\n");
    const plan = planV1(dir, [loop("rw")], []);
    expect(plan.writes).toEqual([{ file: "devices.allow", line: "b 7:3 w" }]);
    expect(plan.added).toEqual([loop("w")]);
  });

  test("revoking takes back only our own bits, never the runtime's", () => {
    const dir = cgroupWith("c 1:3 rwm\nb 7:3 rw\n");
    const plan = planV1(dir, [], [loop("w")]);
    expect(plan.writes).toEqual([{ file: "devices.deny", line: "b 7:3 w" }]);
    expect(plan.added).toEqual([]);
  });

  test("a wildcard rule of the runtime covers the device: nothing to write, nothing to take back", () => {
    const dir = cgroupWith("b 7:* rwm\n");
    expect(planV1(dir, [loop("rw")], [])).toMatchObject({ writes: [], added: [] });
  });

  test("a grant that disappeared from under us is written again (repair)", () => {
    const dir = cgroupWith("c 1:3 rwm\n");
    const plan = planV1(dir, [loop("rw")], [loop("rw")]);
    expect(plan.writes).toEqual([{ file: "devices.allow", line: "b 7:3 rw" }]);
    expect(plan.added).toEqual([loop("rw")]);
  });

  test("narrowing rw to r denies w; allows are written before denies", () => {
    const dir = cgroupWith("b 7:3 rw\n");
    const plan = planV1(dir, [loop("r"), { type: "c", major: 10, minor: 200, access: "rw" }], [loop("rw")]);
    expect(plan.writes).toEqual([
      { file: "devices.allow", line: "c 10:200 rw" },
      { file: "devices.deny", line: "b 7:3 w" },
    ]);
  });
});

describe("v1Enforces", () => {
  test("allow-all does not restrict; a runtime allowlist does", () => {
    expect(v1Enforces(parseDevicesList("a *:* rwm\n"))).toBe(false);
    expect(v1Enforces(parseDevicesList("c 1:3 rwm\nc *:* m\nb *:* m\n"))).toBe(true);
  });
});
