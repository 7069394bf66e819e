// The node-level CLI: grant host devices to any running container (runc,
// containerd, podman, or a pod's container) by one of its host PIDs. No
// Kubernetes involved.
import { existsSync } from "node:fs";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { detectHostFeatures } from "../../agent/cgroup/features.ts";
import type { CgroupDirs } from "../../agent/cgroup/locate.ts";
import { readGrants, setGrants, specOf, type ContainerTarget, type DeviceSpec, type GrantResult } from "../../agent/container/grants.ts";
import { statHostDevice } from "../../agent/container/host-device.ts";
import type { GrantedDevice } from "../../agent/container/record.ts";
import { COMMIT, VERSION } from "../version.ts";
import { UsageError } from "./errors.ts";

export class NotGrantedError extends Error {
  override readonly name = "NotGrantedError";
}

type Out = (line: string) => void;

const TARGET_OPTIONS = {
  pid: { type: "string" },
  cgroup: { type: "string", multiple: true },
} as const;

function parse<T extends ParseArgsOptionsConfig>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true } as const);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function targetFrom(values: { pid?: string; cgroup?: string[] }): ContainerTarget {
  if (!values.pid) throw new UsageError("--pid PID is required (a host PID of a process in the container)");
  if (!/^[1-9][0-9]*$/.test(values.pid)) throw new UsageError(`--pid ${JSON.stringify(values.pid)} is not a process ID`);
  const pid = Number(values.pid);
  if (!existsSync(`/proc/${pid}`)) throw new UsageError(`no process ${pid} on this host`);
  if (!values.cgroup?.length) return { pid };
  const cgroupDirs: CgroupDirs = {};
  for (const dir of values.cgroup) {
    if (existsSync(`${dir}/devices.list`)) cgroupDirs.v1Devices = dir;
    else if (existsSync(`${dir}/cgroup.controllers`)) cgroupDirs.unified = dir;
    else throw new UsageError(`--cgroup ${dir} is neither a cgroup v1 devices directory nor a cgroup2 directory`);
  }
  return { pid, cgroupDirs };
}

/** "rw", "wr", "rwm" → canonical order; anything else is a usage error. */
function canonicalAccess(access: string, spec: string): string {
  if (!/^[rwm]+$/.test(access)) throw new UsageError(`access ${JSON.stringify(access)} in ${JSON.stringify(spec)} must be letters from r, w, m`);
  return ["r", "w", "m"].filter((b) => access.includes(b)).join("");
}

/** DEVICE[:ACCESS[:CONTAINER_PATH]] */
export function parseDeviceArg(spec: string): DeviceSpec {
  const [hostPath = "", access = "rw", containerPath, ...extra] = spec.split(":");
  if (!hostPath.startsWith("/") || extra.length) throw new UsageError(`${JSON.stringify(spec)} is not DEVICE[:ACCESS[:CONTAINER_PATH]] with an absolute host DEVICE path`);
  if (containerPath !== undefined && !containerPath.startsWith("/")) throw new UsageError(`container path in ${JSON.stringify(spec)} must be absolute`);
  const host = statHostDevice(hostPath);
  return {
    path: containerPath ?? hostPath,
    type: host.type,
    major: host.major,
    minor: host.minor,
    access: canonicalAccess(access, spec),
    mode: host.mode,
    uid: 0,
    gid: 0,
  };
}

const describeDevice = (g: { path: string; type: string; major: number; minor: number; access: string }) => `${g.path} (${g.type} ${g.major}:${g.minor} ${g.access})`;

function report(result: GrantResult, out: Out): void {
  for (const a of result.added) out(`granted ${describeDevice(a)}`);
  for (const r of result.removed) out(`revoked ${describeDevice(r)}`);
  for (const k of result.killed) out(`ended pid ${k.pid} (${k.comm}), which used ${k.devices.join(", ")}`);
  if (!result.added.length && !result.removed.length) out("nothing to change");
}

export async function attachCommand(argv: string[], out: Out): Promise<void> {
  const { values, positionals } = parse(argv, TARGET_OPTIONS);
  const target = targetFrom(values);
  if (positionals.length === 0) throw new UsageError("name at least one DEVICE[:ACCESS[:CONTAINER_PATH]]");
  const additions = positionals.map(parseDeviceArg);
  const paths = new Set(additions.map((a) => a.path));
  report(await setGrants(target, (current) => [...current.filter((d) => !paths.has(d.path)).map(specOf), ...additions]), out);
}

export async function detachCommand(argv: string[], out: Out): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...TARGET_OPTIONS,
    all: { type: "boolean" },
    force: { type: "boolean" },
    "grace-period": { type: "string" },
  });
  const target = targetFrom(values);
  if (!values.all && positionals.length === 0) throw new UsageError("name the devices to detach (a container path or a host device path), or --all");
  if (values.all && positionals.length) throw new UsageError("--all takes no device arguments");
  const grace = values["grace-period"] ?? "5";
  if (!/^[0-9]+(\.[0-9]+)?$/.test(grace)) throw new UsageError(`--grace-period ${JSON.stringify(grace)} is not a number of seconds`);

  const remaining = (current: GrantedDevice[]): DeviceSpec[] => {
    if (values.all) return [];
    const drop = new Set<string>();
    for (const arg of positionals) {
      const byPath = current.filter((d) => d.path === arg);
      const matches = byPath.length ? byPath : current.filter((d) => existsSync(arg) && sameHostDevice(arg, d));
      if (!matches.length) throw new NotGrantedError(`${arg} is not granted to this container by device-mounter (see: device-mounter list --pid ${target.pid})`);
      matches.forEach((m) => drop.add(m.path));
    }
    return current.filter((d) => !drop.has(d.path)).map(specOf);
  };
  report(await setGrants(target, remaining, { force: values.force ?? false, graceMs: Number(grace) * 1000 }), out);
}

function sameHostDevice(hostPath: string, g: GrantedDevice): boolean {
  try {
    const host = statHostDevice(hostPath);
    return host.type === g.type && host.major === g.major && host.minor === g.minor;
  } catch {
    return false;
  }
}

export async function listCommand(argv: string[], out: Out): Promise<void> {
  const { values } = parse(argv, { ...TARGET_OPTIONS, output: { type: "string", short: "o" } });
  const target = targetFrom(values);
  const format = values.output ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError(`-o ${format}: use table or json`);
  const { enforcement, record } = readGrants(target);
  if (format === "json") {
    out(JSON.stringify({ pid: target.pid, cgroup: enforcement, devices: record.devices }, null, 2));
    return;
  }
  if (!record.devices.length) {
    out("no devices granted by device-mounter");
    return;
  }
  const rows = [["PATH", "DEVICE", "ACCESS", "MODE"], ...record.devices.map((d) => [d.path, `${d.type} ${d.major}:${d.minor}`, d.access, d.mode.toString(8).padStart(4, "0")])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
}

export async function versionCommand(argv: string[], out: Out): Promise<void> {
  const { values } = parse(argv, { output: { type: "string", short: "o" } });
  const features = detectHostFeatures();
  const info = { version: VERSION, commit: COMMIT, bun: Bun.version, ...features };
  if (values.output === "json") {
    out(JSON.stringify(info, null, 2));
    return;
  }
  out(`device-mounter ${VERSION} (commit ${COMMIT}, bun ${Bun.version})`);
  const mounts = [features.v1DevicesMount && `v1 devices at ${features.v1DevicesMount}`, features.cgroup2Mount && `cgroup2 at ${features.cgroup2Mount}`].filter(Boolean).join(", ");
  out(`cgroup layout: ${features.cgroupLayout}${mounts ? ` (${mounts})` : ""}`);
  out(`BPF_F_REPLACE: ${features.bpfReplaceDetail}`);
}
