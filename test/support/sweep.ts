// Removes leftovers of crashed test runs: `bun test/support/sweep.ts`.
import { sweepLeftovers } from "./cleanup.ts";

const report = await sweepLeftovers();
const sections: Array<[string, string[]]> = [
  ["containers", report.containers],
  ["loop devices", report.loopDevices],
  ["cgroup dirs", report.cgroupDirs],
  ["temp dirs", report.tempDirs],
  ["skipped (owner still running)", report.skippedLive],
  ["errors", report.errors],
];
for (const [title, items] of sections) {
  console.log(`${title}: ${items.length === 0 ? "none" : ""}`);
  for (const item of items) console.log(`  ${item}`);
}
process.exitCode = report.errors.length > 0 ? 1 : 0;
