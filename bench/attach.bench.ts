// attach + detach of 1 and of 8 loop devices into one running runc container
// in each cgroup mode: device-mounter against the shell-out method of the
// reference implementation (per device `nsenter -t PID -m -- sh -c 'mknod ...'`
// plus a cgroup step), same container, same run, alternating. Prints medians
// and ratios as a Markdown table. Run as root: `node_modules/.bin/bun bench/attach.bench.ts [rounds]`.
import { writeFileSync } from "node:fs";
import { applyV2 } from "../agent/cgroup/v2.ts";
import { setGrants, type DeviceSpec } from "../agent/container/grants.ts";
import type { DeviceRule } from "../agent/devices/rules.ts";
import { cleanupAll } from "../test/support/cleanup.ts";
import { createLoopDevice, type LoopDevice } from "../test/support/loop.ts";
import { startContainer, type CgroupMode, type Container } from "../test/support/runc.ts";

const ROUNDS = Number(process.argv[2] ?? 25);

function spec(loop: LoopDevice, i: number): DeviceSpec {
  return { path: `/dev/bench${i}`, type: "b", major: loop.major, minor: loop.minor, access: "rw", mode: 0o660, uid: 0, gid: 0 };
}

async function oursInProcess(c: Container, loops: LoopDevice[]): Promise<void> {
  await setGrants({ pid: c.pid }, loops.map(spec));
  await setGrants({ pid: c.pid }, []);
}

async function oursCli(c: Container, loops: LoopDevice[]): Promise<void> {
  const run = async (args: string[]) => {
    const p = Bun.spawn(["dist/device-mounter", ...args], { stdout: "ignore", stderr: "inherit" });
    if ((await p.exited) !== 0) throw new Error(`device-mounter ${args.join(" ")} failed`);
  };
  await run(["attach", "--pid", String(c.pid), ...loops.map((l, i) => `${l.path}:rw:/dev/bench${i}`)]);
  await run(["detach", "--pid", String(c.pid), "--all"]);
}

/**
 * The reference's method. Its cgroup step per device: a rule written to
 * devices.allow/deny (v1), or the container's device program replaced with
 * one more or one fewer rule (v2; the kernel offers no per-rule write there).
 */
async function shellOut(c: Container, loops: LoopDevice[]): Promise<void> {
  const nsenter = async (script: string) => {
    const p = Bun.spawn(["nsenter", "-t", String(c.pid), "-m", "--", "sh", "-c", script], { stdout: "ignore", stderr: "inherit" });
    if ((await p.exited) !== 0) throw new Error(`nsenter ${script} failed`);
  };
  const rule = (l: LoopDevice): DeviceRule => ({ type: "b", major: l.major, minor: l.minor, access: "rw", allow: true });
  const allowOnly = (granted: LoopDevice[]) => applyV2(c.cgroup.unified, granted.map(rule));
  for (const [i, l] of loops.entries()) {
    await nsenter(`mknod -m 660 /dev/bench${i} b ${l.major} ${l.minor}`);
    if (c.mode === "v1") writeFileSync(`${c.cgroup.v1Devices}/devices.allow`, `b ${l.major}:${l.minor} rw`);
    else allowOnly(loops.slice(0, i + 1));
  }
  for (const [i, l] of loops.entries()) {
    await nsenter(`rm -f /dev/bench${i}`);
    if (c.mode === "v1") writeFileSync(`${c.cgroup.v1Devices}/devices.deny`, `b ${l.major}:${l.minor} rw`);
    else allowOnly(loops.slice(i + 1));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function time(fn: () => Promise<void>): Promise<number> {
  const start = Bun.nanoseconds();
  await fn();
  return (Bun.nanoseconds() - start) / 1e6;
}

type Method = { name: string; run: (c: Container, loops: LoopDevice[]) => Promise<void>; modes: CgroupMode[] };
const METHODS: Method[] = [
  { name: "device-mounter (in-process, as the agent)", run: oursInProcess, modes: ["v1", "v2"] },
  { name: "device-mounter CLI (2 processes)", run: oursCli, modes: ["v1", "v2"] },
  { name: "shell-out: nsenter + sh -c mknod per device", run: shellOut, modes: ["v1", "v2"] },
];

try {
  const loops: LoopDevice[] = [];
  for (let i = 0; i < 8; i++) loops.push(await createLoopDevice({ sizeBytes: 64 * 1024 }));
  const rows: string[] = [];
  for (const mode of ["v1", "v2"] as CgroupMode[]) {
    const c = await startContainer({ mode });
    for (const n of [1, 8]) {
      const set = loops.slice(0, n);
      const methods = METHODS.filter((m) => m.modes.includes(mode));
      const samples = new Map(methods.map((m) => [m.name, [] as number[]]));
      for (const m of methods) await m.run(c, set); // warm-up
      for (let r = 0; r < ROUNDS; r++) for (const m of methods) samples.get(m.name)!.push(await time(() => m.run(c, set)));
      const shell = samples.get(METHODS[2]!.name);
      for (const m of methods) {
        const med = median(samples.get(m.name)!);
        const speedUp = shell && m !== METHODS[2] ? median(shell) / med : undefined;
        const ratio = speedUp === undefined ? "" : speedUp >= 1 ? `${speedUp.toFixed(1)}x faster` : `${(1 / speedUp).toFixed(0)}x slower`;
        rows.push(`| ${mode} | ${n} | ${m.name} | ${med.toFixed(2)} | ${ratio} |`);
      }
    }
    await c.stop();
  }
  console.log(`attach + detach, median of ${ROUNDS} rounds (alternating), ${new Date().toISOString().slice(0, 10)}, ${process.arch}, Linux ${require("node:os").release()}\n`);
  console.log("| cgroup | devices | method | median ms | vs shell-out |\n|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  await cleanupAll();
}
