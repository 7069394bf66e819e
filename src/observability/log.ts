// Structured logs: one JSON object per line on stdout, so that log
// collectors can index request ids, users and codes without parsing prose.
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Errors become their message (and the stack only for unexpected ones, under "stack"). */
function plain(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) out[key] = value instanceof Error ? value.message : value;
  return out;
}

export function jsonLogger(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`), clock: Clock = systemClock): Logger {
  const emit = (level: string, message: string, fields: LogFields = {}) =>
    write(JSON.stringify({ time: new Date(clock.now()).toISOString(), level, msg: message, ...plain(fields) }));
  return {
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
