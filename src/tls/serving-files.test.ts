// followServingFiles on real files and real certificates, polled fast.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { CertFactory, type Issued } from "../../test/apiserver/support/certs.ts";
import { jsonLogger } from "../observability/log.ts";
import type { CertificatePair } from "./self-signed.ts";
import { followServingFiles } from "./serving-files.ts";

describe("followServingFiles", () => {
  let certs: CertFactory;
  let ca: Issued;
  beforeAll(() => {
    certs = new CertFactory();
    ca = certs.rootCA("serving-files-ca");
  });
  afterAll(() => certs?.remove());

  /** Follows a fresh pair's files; `next()` resolves with what happens after the files change. */
  function follow() {
    const first = certs.leaf(`serving-${Math.random().toString(36).slice(2, 8)}`, ca, { cn: "first", usage: "serverAuth", altNames: ["localhost"] });
    const served: CertificatePair[] = [];
    const logs: Array<{ level: string; msg: string }> = [];
    const stop = followServingFiles({
      certFile: first.certPath,
      keyFile: first.keyPath,
      initial: { cert: first.cert, key: first.key },
      intervalMs: 20,
      serve: (pair) => served.push(pair),
      logger: jsonLogger((line) => logs.push(JSON.parse(line))),
    });
    const until = async (what: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!what()) {
        if (Date.now() > deadline) throw new Error("nothing happened within 5 s");
        await Bun.sleep(20);
      }
    };
    return { first, served, logs, stop, until };
  }

  test("the pair in use is not served again; a renewed pair is, once", async () => {
    const f = follow();
    try {
      await Bun.sleep(100);
      expect(f.served).toEqual([]);
      const renewed = certs.leaf(`${f.first.name}-renewed`, ca, { cn: "renewed", usage: "serverAuth", altNames: ["localhost"] });
      writeFileSync(f.first.keyPath, renewed.key);
      writeFileSync(f.first.certPath, renewed.cert);
      await f.until(() => f.served.length > 0);
      await Bun.sleep(100);
      expect(f.served).toEqual([{ cert: renewed.cert, key: renewed.key }]);
      expect(f.logs.map((l) => l.msg)).toContain("reloaded the serving certificate");
    } finally {
      f.stop();
    }
  });

  test("a key that does not match the certificate is refused, logged as an error, and nothing is served", async () => {
    const f = follow();
    try {
      const other = certs.leaf(`${f.first.name}-other`, ca, { cn: "other", usage: "serverAuth", altNames: ["localhost"] });
      writeFileSync(f.first.keyPath, other.key);
      await f.until(() => f.logs.some((l) => l.level === "error"));
      expect(f.logs.find((l) => l.level === "error")?.msg).toBe("ignoring an invalid serving certificate; keeping the previous one");
      expect(f.served).toEqual([]);
    } finally {
      f.stop();
    }
  });

  test("files that cannot be read are a warning, and reading goes on", async () => {
    const f = follow();
    try {
      rmSync(f.first.certPath);
      await f.until(() => f.logs.some((l) => l.msg === "cannot re-read the serving certificate"));
      writeFileSync(f.first.certPath, f.first.cert);
      writeFileSync(f.first.keyPath, f.first.key);
      const renewed = certs.leaf(`${f.first.name}-back`, ca, { cn: "back", usage: "serverAuth", altNames: ["localhost"] });
      writeFileSync(f.first.keyPath, renewed.key);
      writeFileSync(f.first.certPath, renewed.cert);
      await f.until(() => f.served.length > 0);
      expect(f.served.at(-1)).toEqual({ cert: renewed.cert, key: renewed.key });
    } finally {
      f.stop();
    }
  });
});
