// The development serving certificate, DER-encoded by hand: it must be a
// certificate that OpenSSL and node:crypto accept as what it claims to be.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { selfSignedCertificate } from "../../src/tls/self-signed.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";

let dir: TempDir;
beforeAll(() => (dir = makeTempDir("self-signed")));
afterAll(() => dir?.remove());

const openssl = (...args: string[]) => {
  const result = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, out: result.stdout.toString() + result.stderr.toString() };
};

describe("selfSignedCertificate", () => {
  test("names the hosts, matches its key, and is valid from an hour ago for the given days", () => {
    const now = new Date("2031-03-04T05:06:07Z");
    const pair = selfSignedCertificate(["localhost", "127.0.0.1", "::1", "fd00::1:2", "apiserver.example"], now, 30);
    const cert = new X509Certificate(pair.cert);
    expect(cert.subject).toBe(`CN=localhost@${Math.floor(now.getTime() / 1000)}`);
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:1:2, DNS:apiserver.example");
    expect(new Date(cert.validFrom).toISOString()).toBe("2031-03-04T04:06:07.000Z");
    expect(new Date(cert.validTo).toISOString()).toBe("2031-04-03T05:06:07.000Z");
    expect(cert.checkPrivateKey(createPrivateKey(pair.key))).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.ca).toBe(true);
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
  });

  test("OpenSSL verifies it as its own trust anchor, for TLS servers", () => {
    const pair = selfSignedCertificate(["localhost"]);
    const file = join(dir.path, "serving.crt");
    writeFileSync(file, pair.cert);
    const verified = openssl("verify", "-CAfile", file, "-purpose", "sslserver", file);
    expect(verified).toEqual({ code: 0, out: `${file}: OK\n` });
    const text = openssl("x509", "-in", file, "-noout", "-text").out;
    expect(text).toContain("Signature Algorithm: ecdsa-with-SHA256");
    expect(text).toContain("X509v3 Basic Constraints: critical\n                CA:TRUE");
    expect(text).toContain("X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign");
  });

  test("dates from 2050 on use GeneralizedTime", () => {
    const pair = selfSignedCertificate(["localhost"], new Date("2049-12-01T00:00:00Z"), 60);
    expect(new Date(new X509Certificate(pair.cert).validTo).toISOString()).toBe("2050-01-30T00:00:00.000Z");
  });

  test("each certificate has its own key and serial", () => {
    const a = new X509Certificate(selfSignedCertificate(["localhost"]).cert);
    const b = new X509Certificate(selfSignedCertificate(["localhost"]).cert);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.publicKey.export({ type: "spki", format: "der" }).equals(b.publicKey.export({ type: "spki", format: "der" }))).toBe(false);
  });
});
