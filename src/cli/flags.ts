// Server flags, as k8s.io/apiserver options do them: a table that is both the
// parser's input and the --help text, and a validator that collects every
// problem so that one run reports all of them at once.
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

export interface FlagSpec {
  type: "string" | "boolean";
  default?: string;
  short?: string;
  help: string;
}

export type FlagTable = Record<string, FlagSpec>;

export type ParsedFlags<T extends FlagTable> = { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string };

export function flagUsage(header: string, flags: FlagTable): string {
  const lines = [header, "", "Flags:"];
  for (const [name, flag] of Object.entries(flags)) {
    const value = flag.type === "string" ? " VALUE" : "";
    const def = flag.default !== undefined ? ` (default ${JSON.stringify(flag.default)})` : "";
    lines.push(`  --${name}${value}`, `      ${flag.help}${def}`);
  }
  return lines.join("\n");
}

export function parseFlags<T extends FlagTable>(argv: string[], flags: T): ParsedFlags<T> {
  const options = Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.default !== undefined ? { default: f.default } : {}) }]),
  );
  try {
    const { values, positionals } = parseArgs({ args: argv, options: options as NonNullable<Parameters<typeof parseArgs>[0]>["options"], allowPositionals: true, strict: true });
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(" ")} (see --help)`);
    return values as ParsedFlags<T>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${(e as Error).message} (see --help)`);
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations ("10s", "1m30s", "500ms"); a bare number is seconds. */
export function parseDuration(text: string): number | undefined {
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return Number(text) * 1000;
  if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(amount) * DURATION_UNITS[unit!]!;
  return total;
}

/** Reads flag values, noting every problem; `done()` throws them all in one UsageError. */
export class FlagValidator<T extends FlagTable> {
  readonly problems: string[] = [];

  constructor(private readonly flags: ParsedFlags<T>) {}

  text(name: keyof T & string): string {
    return String(this.flags[name] ?? "");
  }

  integer(name: keyof T & string, min: number, max: number): number {
    const text = this.text(name);
    if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
      this.problems.push(`--${name} ${JSON.stringify(text)} must be a whole number from ${min} to ${max}`);
      return min;
    }
    return Number(text);
  }

  duration(name: keyof T & string): number {
    const text = this.text(name);
    const ms = parseDuration(text);
    if (ms === undefined) this.problems.push(`--${name} ${JSON.stringify(text)} is not a duration such as 10s, 1m or 500ms`);
    return ms ?? 0;
  }

  /** A path that must exist when given; undefined when not given. */
  file(name: keyof T & string): string | undefined {
    const path = this.flags[name] as string | undefined;
    if (path === undefined) return undefined;
    if (path === "" || !existsSync(path)) this.problems.push(`--${name} ${JSON.stringify(path)} does not exist`);
    return path;
  }

  done(): void {
    if (this.problems.length) throw new UsageError(`invalid flags:\n  - ${this.problems.join("\n  - ")}`);
  }
}
