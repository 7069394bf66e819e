// planV1 against devices.list files written by the test: the policy of which
// bits device-mounter may write and take back, without a kernel.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allowedBits, planV1, v1Enforces } from "./v1.ts";
import { allows, parseDevicesList } from "../devices/rules.ts";

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

describe("allowedBits", () => {
  test("agrees with the rule model's allows() letter by letter", () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const num = () => (rand(4) === 0 ? "*" : String(rand(3)));
    for (let i = 0; i < 300; i++) {
      const lines = Array.from({ length: 1 + rand(4) }, () => `${["c", "b"][rand(2)]} ${num()}:${num()} ${["r", "w", "m", "rw", "rwm", "wm"][rand(6)]}`);
      const list = parseDevicesList(lines.join("\n") + "\n");
      for (const type of ["c", "b"] as const)
        for (let major = 0; major < 3; major++)
          for (let minor = 0; minor < 3; minor++) {
            const dev = { type, major, minor, access: "rwm" };
            expect([...allowedBits(list, dev)].sort()).toEqual((["r", "w", "m"] as const).filter((b) => allows(list, dev, b)).sort());
          }
    }
  });
});
