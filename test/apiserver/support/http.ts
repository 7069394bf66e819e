// Reading what a client sees from a Response.
import { expect } from "bun:test";
import type { Status } from "../../../src/api/status.ts";

/** The Status body of an error response, after checking its code and content type. */
export async function statusOf(response: Response, code: number): Promise<Status> {
  const text = await response.text();
  if (response.status !== code) throw new Error(`expected HTTP ${code}, got ${response.status}: ${text}`);
  expect(response.headers.get("content-type")).toStartWith("application/json");
  const status = JSON.parse(text) as Status;
  expect(status.kind).toBe("Status");
  expect(status.apiVersion).toBe("v1");
  expect(status.status).toBe("Failure");
  expect(status.code).toBe(code);
  // Never a stack trace.
  expect(text).not.toMatch(/\n\s+at |\.ts:\d+/);
  return status;
}

export async function jsonOf<T = Record<string, unknown>>(response: Response, code = 200): Promise<T> {
  const text = await response.text();
  if (response.status !== code) throw new Error(`expected HTTP ${code}, got ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}
