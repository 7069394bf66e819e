// The Hono environment of the apiserver: what the TLS server hands each
// request (peer certificates, headers as received) and what middleware sets.
import type { Context } from "hono";
import type { ConnectionInfo } from "../../http/https-server.ts";
import type { HeaderAccess } from "../auth/front-proxy.ts";
import type { UserInfo } from "../../api/user.ts";

export type ApiserverEnv = {
  /** Absent under app.request() without an env argument. */
  Bindings: Partial<ConnectionInfo> | undefined;
  Variables: {
    requestId: string;
    user: UserInfo | undefined;
  };
};

export type ApiserverContext = Context<ApiserverEnv>;

/**
 * Headers of this request as HeaderAccess. With the TLS server's raw
 * headers, repeated headers stay separate values; otherwise (app.request in
 * tests) the Fetch Headers are used. Deleting removes from both.
 */
export function headerAccess(c: ApiserverContext): HeaderAccess {
  const raw = c.env?.rawHeaders;
  const headers = c.req.raw.headers;
  return {
    values: (name) => {
      const lower = name.toLowerCase();
      if (raw) return raw.get(lower) ?? [];
      const value = headers.get(lower);
      return value === null ? [] : [value];
    },
    names: () => (raw ? [...raw.keys()] : [...headers.keys()]),
    delete: (name) => {
      raw?.delete(name.toLowerCase());
      headers.delete(name);
    },
  };
}

export type { ConnectionInfo };
