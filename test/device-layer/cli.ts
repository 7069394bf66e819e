// Runs the compiled single binary the way an operator would: from "/", as a
// fresh process each time (so nothing survives between calls but the kernel).
import { existsSync } from "node:fs";
import { join } from "node:path";

export const BINARY = join(import.meta.dir, "../../dist/device-mounter");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function requireBinary(): void {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: build it first with \`node_modules/.bin/bun build.ts\``);
}

export async function deviceMounter(...args: string[]): Promise<CliResult> {
  const child = Bun.spawn([BINARY, ...args], { cwd: "/", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

/** Like deviceMounter, but a non-zero exit fails the test with what it printed. */
export async function deviceMounterOk(...args: string[]): Promise<string> {
  const r = await deviceMounter(...args);
  if (r.code !== 0) throw new Error(`device-mounter ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
