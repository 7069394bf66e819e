// cgroup v1 device grants: devices.allow / devices.deny, with devices.list
// read first so that access the runtime had granted is never taken away.
import { readFileSync, writeFileSync } from "node:fs";
import { allows, parseDevicesList, type DeviceRule } from "../devices/rules.ts";
import type { DeviceAccess } from "../container/record.ts";

const BITS = ["r", "w", "m"] as const;
type Bit = (typeof BITS)[number];

export function readDevicesList(dir: string): DeviceRule[] {
  return parseDevicesList(readFileSync(`${dir}/devices.list`, "utf8"));
}

/** A cgroup whose list allows everything ("a *:* rwm") does not restrict devices at all. */
export function v1Enforces(list: DeviceRule[]): boolean {
  return !allows(list, { type: "c", major: 0xfff - 1, minor: 0xfffff - 1 }, "rwm") || !allows(list, { type: "b", major: 0xfff - 1, minor: 0xfffff - 1 }, "rwm");
}

const key = (d: { type: string; major: number; minor: number }) => `${d.type} ${d.major}:${d.minor}`;

/**
 * The single letters the list allows for one device: a letter is allowed
 * when some matching rule has it (for single letters this is what `allows`
 * decides, in one pass over the list instead of one per letter).
 */
export function allowedBits(list: DeviceRule[], dev: DeviceAccess): Set<Bit> {
  const found = new Set<Bit>();
  for (const rule of list) {
    if (!rule.allow) continue;
    if (rule.type !== "a" && rule.type !== dev.type) continue;
    if (rule.major !== "*" && rule.major !== dev.major) continue;
    if (rule.minor !== "*" && rule.minor !== dev.minor) continue;
    for (const b of BITS) if (rule.access.includes(b)) found.add(b);
  }
  return found;
}

function bits(access: string): Set<Bit> {
  return new Set(BITS.filter((b) => access.includes(b)));
}

function format(set: Set<Bit>): string {
  return BITS.filter((b) => set.has(b)).join("");
}

export interface V1Plan {
  dir: string;
  writes: Array<{ file: "devices.allow" | "devices.deny"; line: string }>;
  /** What device-mounter's own bits will be once the writes are done. */
  added: DeviceAccess[];
}

/**
 * Plans how the cgroup comes to allow exactly `desired` on top of what the
 * runtime allows. `added` is what device-mounter wrote earlier (from the
 * record). Only bits the runtime did not grant itself count as ours, so a
 * later revoke denies those and nothing else.
 */
export function planV1(dir: string, desired: DeviceAccess[], added: DeviceAccess[]): V1Plan {
  const list = readDevicesList(dir);
  const want = new Map(desired.map((d) => [key(d), d]));
  const had = new Map(added.map((d) => [key(d), d]));
  const nextAdded: DeviceAccess[] = [];
  const allowsLines: string[] = [];
  const denyLines: string[] = [];

  for (const k of new Set([...want.keys(), ...had.keys()])) {
    const dev = (want.get(k) ?? had.get(k))!;
    const wanted = bits(want.get(k)?.access ?? "");
    const ours = bits(had.get(k)?.access ?? "");
    const allowedNow = allowedBits(list, dev);
    // What the runtime granted by itself: allowed now and not written by us.
    const runtime = new Set([...allowedNow].filter((b) => !ours.has(b)));
    const nextOurs = new Set([...wanted].filter((b) => !runtime.has(b)));
    const toAllow = new Set([...nextOurs].filter((b) => !allowedNow.has(b)));
    const toDeny = new Set([...ours].filter((b) => !nextOurs.has(b) && allowedNow.has(b)));
    if (toAllow.size) allowsLines.push(`${k} ${format(toAllow)}`);
    if (toDeny.size) denyLines.push(`${k} ${format(toDeny)}`);
    if (nextOurs.size) nextAdded.push({ type: dev.type, major: dev.major, minor: dev.minor, access: format(nextOurs) });
  }
  // Allows first: a failure half-way leaves the container with more of what
  // it asked for, never with less of what it had.
  const writes = [
    ...allowsLines.map((line) => ({ file: "devices.allow" as const, line })),
    ...denyLines.map((line) => ({ file: "devices.deny" as const, line })),
  ];
  return { dir, writes, added: nextAdded };
}

export function executeV1(plan: V1Plan): void {
  for (const w of plan.writes) writeFileSync(`${plan.dir}/${w.file}`, w.line);
}
