// /healthz, /livez and /readyz in kube-apiserver's format: "ok", or with
// ?verbose (or on failure) one [+]/[-] line per check. Readiness reflects
// observed progress (caches synced, authentication settings loaded, not
// shutting down), so that traffic arrives only when requests can succeed.
import { Hono } from "hono";
import type { ApiserverEnv } from "./env.ts";

export interface HealthCheck {
  name: string;
  /** undefined when healthy, else why not. */
  check(): string | undefined;
}

export interface HealthChecks {
  liveness: HealthCheck[];
  readiness: HealthCheck[];
}

export const ping: HealthCheck = { name: "ping", check: () => undefined };

export function healthRoutes(checks: HealthChecks): Hono<ApiserverEnv> {
  const routes = new Hono<ApiserverEnv>();
  const endpoints: Array<[string, HealthCheck[]]> = [
    ["healthz", checks.liveness],
    ["livez", checks.liveness],
    ["readyz", checks.readiness],
  ];
  for (const [endpoint, list] of endpoints) {
    const all = [ping, ...list];
    const report = (selected: HealthCheck[], verbose: boolean) => {
      const results = selected.map((h) => ({ name: h.name, problem: h.check() }));
      const failed = results.some((r) => r.problem !== undefined);
      if (!failed && !verbose) return { ok: true, text: "ok" };
      const lines = results.map((r) => (r.problem === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.problem}`));
      lines.push(failed ? `${endpoint} check failed` : `${endpoint} check passed`);
      return { ok: !failed, text: `${lines.join("\n")}\n` };
    };
    routes.get(`/${endpoint}`, (c) => {
      const { ok, text } = report(all, c.req.query("verbose") !== undefined);
      return c.text(text, ok ? 200 : 500);
    });
    routes.get(`/${endpoint}/:check`, (c) => {
      const check = all.find((h) => h.name === c.req.param("check"));
      if (!check) return c.text(`no ${endpoint} check named ${JSON.stringify(c.req.param("check"))}\n`, 404);
      const { ok, text } = report([check], c.req.query("verbose") !== undefined);
      return c.text(text, ok ? 200 : 500);
    });
  }
  return routes;
}
