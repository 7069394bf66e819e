// Front-proxy certificate verification and request-header identity, as a
// pure function over certificates made with openssl for this test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { removeRequestHeaders, userFromRequestHeaders, verifyFrontProxyCertificate, type HeaderAccess, type RequestHeaderConfig } from "../../src/apiserver/auth/front-proxy.ts";
import { parseCertificateBundle, requestHeaderConfigFromConfigMap } from "../../src/apiserver/auth/request-header-config.ts";
import { CertFactory, type Issued } from "./support/certs.ts";

let certs: CertFactory;
let frontProxyCA: Issued;
let otherCA: Issued;
let intermediate: Issued;
let proxyClient: Issued;
let otherClient: Issued;
let viaIntermediate: Issued;
let serverOnly: Issued;

beforeAll(() => {
  certs = new CertFactory();
  frontProxyCA = certs.rootCA("front-proxy-ca");
  otherCA = certs.rootCA("other-ca");
  intermediate = certs.intermediateCA("front-proxy-intermediate", frontProxyCA);
  proxyClient = certs.leaf("proxy-client", frontProxyCA, { cn: "front-proxy-client" });
  otherClient = certs.leaf("other-client", otherCA, { cn: "front-proxy-client" });
  viaIntermediate = certs.leaf("via-intermediate", intermediate, { cn: "front-proxy-client" });
  serverOnly = certs.leaf("server-only", frontProxyCA, { cn: "front-proxy-client", usage: "serverAuth" });
});
afterAll(() => certs?.remove());

const now = () => new Date();
const config = (allowedNames: string[] = []) => ({ clientCA: [frontProxyCA.x509], allowedNames });

describe("verifyFrontProxyCertificate", () => {
  test("a client certificate from the requestheader CA with an allowed name passes", () => {
    expect(verifyFrontProxyCertificate([proxyClient.x509], config(["front-proxy-client"]), now())).toEqual({ ok: true, commonName: "front-proxy-client" });
  });

  test("any name passes when requestheader-allowed-names is empty", () => {
    expect(verifyFrontProxyCertificate([proxyClient.x509], config([]), now())).toEqual({ ok: true, commonName: "front-proxy-client" });
  });

  test("a certificate from another CA is refused, even with the right name", () => {
    const verdict = verifyFrontProxyCertificate([otherClient.x509], config(["front-proxy-client"]), now());
    expect(verdict).toEqual({ ok: false, reason: 'client certificate "front-proxy-client" is not signed by the requestheader client CA (x509: certificate signed by unknown authority)' });
  });

  test("a common name outside requestheader-allowed-names is refused", () => {
    const verdict = verifyFrontProxyCertificate([proxyClient.x509], config(["aggregator"]), now());
    expect(verdict).toEqual({ ok: false, reason: 'client certificate common name "front-proxy-client" is not one of the requestheader-allowed-names [aggregator]' });
  });

  test("an intermediate presented by the client completes the chain", () => {
    expect(verifyFrontProxyCertificate([viaIntermediate.x509, intermediate.x509], config(), now())).toEqual({ ok: true, commonName: "front-proxy-client" });
    expect(verifyFrontProxyCertificate([viaIntermediate.x509], config(), now()).ok).toBe(false);
  });

  test("a leaf presented as an intermediate cannot sign anything", () => {
    const forged = certs.leaf("signed-by-leaf", proxyClient, { cn: "front-proxy-client" });
    expect(verifyFrontProxyCertificate([forged.x509, proxyClient.x509], config(), now()).ok).toBe(false);
  });

  test("expired and not-yet-valid certificates are refused", () => {
    const later = new Date(Date.now() + 10 * 86400_000);
    const expired = verifyFrontProxyCertificate([proxyClient.x509], config(), later);
    expect(expired.ok).toBe(false);
    expect(!expired.ok && expired.reason).toMatch(/^certificate "front-proxy-client" expired at /);
    const before = verifyFrontProxyCertificate([proxyClient.x509], config(), new Date(Date.now() - 10 * 86400_000));
    expect(!before.ok && before.reason).toMatch(/is not valid before/);
  });

  test("a certificate only for server authentication is refused", () => {
    const verdict = verifyFrontProxyCertificate([serverOnly.x509], config(), now());
    expect(verdict).toEqual({ ok: false, reason: 'client certificate "front-proxy-client" is not allowed for client authentication (extended key usage)' });
  });

  test("no certificate", () => {
    expect(verifyFrontProxyCertificate([], config(), now())).toEqual({ ok: false, reason: "no client certificate was presented" });
  });

  test("a CA bundle may hold several CAs", () => {
    const bundle = parseCertificateBundle(otherCA.cert + frontProxyCA.cert, "test bundle");
    expect(bundle.map((c) => c.subject)).toEqual(["CN=other-ca", "CN=front-proxy-ca"]);
    expect(verifyFrontProxyCertificate([proxyClient.x509], { clientCA: bundle, allowedNames: [] }, now()).ok).toBe(true);
  });
});

/** Headers as the TLS server passes them: repeated headers stay separate. */
function rawHeaders(entries: Array<[string, string]>): HeaderAccess & { map: Map<string, string[]> } {
  const map = new Map<string, string[]>();
  for (const [name, value] of entries) map.set(name.toLowerCase(), [...(map.get(name.toLowerCase()) ?? []), value]);
  return { map, values: (n) => map.get(n.toLowerCase()) ?? [], names: () => [...map.keys()], delete: (n) => void map.delete(n.toLowerCase()) };
}

const HEADERS: RequestHeaderConfig = {
  clientCA: [],
  allowedNames: [],
  usernameHeaders: ["X-Remote-User", "X-Other-User"],
  uidHeaders: ["X-Remote-Uid"],
  groupHeaders: ["X-Remote-Group", "X-Other-Group"],
  extraHeaderPrefixes: ["X-Remote-Extra-"],
};

describe("userFromRequestHeaders", () => {
  test("first non-empty user header, every group value, extras lower-cased and unescaped", () => {
    const headers = rawHeaders([
      ["X-Remote-User", ""],
      ["X-Other-User", "alice"],
      ["X-Remote-Uid", "1234"],
      ["X-Remote-Group", "devs, ops"],
      ["X-Remote-Group", "system:authenticated"],
      ["X-Other-Group", "extra-group"],
      ["X-Remote-Group", ""],
      ["X-Remote-Extra-Scopes", "a"],
      ["X-Remote-Extra-Scopes", "b"],
      ["X-Remote-Extra-Example.com%2fTeam", "x"],
      ["X-Remote-Extra-Bad%zz", "y"],
    ]);
    expect(userFromRequestHeaders(headers, HEADERS)).toEqual({
      username: "alice",
      uid: "1234",
      groups: ["devs, ops", "system:authenticated", "extra-group"],
      extra: { scopes: ["a", "b"], "example.com/team": ["x"], "bad%zz": ["y"] },
    });
  });

  test("no username header: no user", () => {
    expect(userFromRequestHeaders(rawHeaders([["X-Remote-Group", "g"]]), HEADERS)).toBeUndefined();
  });

  test("identity headers are removed, other headers stay", () => {
    const headers = rawHeaders([
      ["X-Remote-User", "alice"],
      ["X-Other-User", "bob"],
      ["X-Remote-Group", "g"],
      ["X-Remote-Extra-Foo", "1"],
      ["X-Remote-Uid", "1"],
      ["Content-Type", "application/json"],
    ]);
    removeRequestHeaders(headers, HEADERS);
    expect([...headers.map.keys()]).toEqual(["content-type"]);
  });

  test("without loaded settings the default identity headers are still removed", () => {
    const headers = rawHeaders([
      ["X-Remote-User", "mallory"],
      ["X-Remote-Group", "system:masters"],
      ["X-Remote-Extra-A", "1"],
      ["Accept", "*/*"],
    ]);
    removeRequestHeaders(headers, undefined);
    expect([...headers.map.keys()]).toEqual(["accept"]);
  });
});

describe("requestHeaderConfigFromConfigMap", () => {
  test("reads kube-apiserver's keys (lists as JSON arrays)", () => {
    const parsed = requestHeaderConfigFromConfigMap({
      "client-ca-file": "ignored",
      "requestheader-client-ca-file": frontProxyCA.cert,
      "requestheader-allowed-names": '["front-proxy-client"]',
      "requestheader-username-headers": '["X-Remote-User"]',
      "requestheader-group-headers": '["X-Remote-Group"]',
      "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
    });
    expect(parsed?.clientCA.map((c) => c.subject)).toEqual(["CN=front-proxy-ca"]);
    expect(parsed?.clientCA[0]).toBeInstanceOf(X509Certificate);
    expect({ ...parsed, clientCA: undefined }).toEqual({
      clientCA: undefined,
      allowedNames: ["front-proxy-client"],
      usernameHeaders: ["X-Remote-User"],
      uidHeaders: [],
      groupHeaders: ["X-Remote-Group"],
      extraHeaderPrefixes: ["X-Remote-Extra-"],
    });
  });

  test("without requestheader-client-ca-file front-proxy authentication is off", () => {
    expect(requestHeaderConfigFromConfigMap({ "client-ca-file": "x" })).toBeUndefined();
    expect(requestHeaderConfigFromConfigMap(undefined)).toBeUndefined();
  });

  test("malformed values name the key", () => {
    expect(() => requestHeaderConfigFromConfigMap({ "requestheader-client-ca-file": "not a pem" })).toThrow(
      "kube-system/extension-apiserver-authentication key requestheader-client-ca-file holds no PEM certificate",
    );
    expect(() => requestHeaderConfigFromConfigMap({ "requestheader-client-ca-file": frontProxyCA.cert, "requestheader-allowed-names": "front-proxy-client" })).toThrow(
      "key requestheader-allowed-names is not a JSON array",
    );
  });
});
