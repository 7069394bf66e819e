// A few thousand malformed requests from a seeded generator: the server
// answers every one with a 4xx (or a success), never a 5xx, never a crash,
// and keeps serving afterwards. The seed is printed on failure to replay it.
import { expect, test } from "bun:test";
import { ALICE_TOKEN, GPU_BODY, jsonPut, MOUNT_URL, testApp } from "./support/fakes.ts";

const SEED = Number(process.env.DM_FUZZ_SEED ?? 20240601);
const REQUESTS = 3000;

/** mulberry32: small, fast, reproducible. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => next() < p;
  const printable = (max: number) => Array.from({ length: int(max + 1) }, () => String.fromCharCode(32 + int(95))).join("");
  const unicode = (max: number) => Array.from({ length: int(max + 1) }, () => String.fromCodePoint(pick([int(0x80), 0x80 + int(0x780), 0x4e00 + int(0x5000), 0x1f600 + int(0x50)]))).join("");
  return { next, int, pick, chance, printable, unicode };
}

type Rng = ReturnType<typeof prng>;

const SEGMENTS = (r: Rng) => r.pick(["team", "trainer", "", "Team", "a".repeat(300), "%zz", "%E0%A4%A", encodeURIComponent(r.unicode(8)), encodeURIComponent(r.printable(12)), "..", "-x-", "x.y"]);

function randomValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 4 ? 6 : 9)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1]);
    case 3: return r.printable(20);
    case 4: return r.unicode(10);
    case 5: return r.pick(["1", "0", "-1", "1Gi", "500m", "1e3", "abc", "", "1e99999", ".", "+"]);
    case 6: return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(["resources", "labels", "annotations", "patches", "op", "path", "value", "from", "__proto__", "constructor", r.printable(8)]), randomValue(r, depth + 1)]));
    default: return r.pick(['{"op":"add","path":"/a","value":1}', '{"op":"move","path":"/a"}', "{", "[]", '{"op":"test","path":"~3"}']);
  }
}

/** A valid mount body with parts replaced by random values. */
function mutatedBody(r: Rng): unknown {
  const body: Record<string, unknown> = {
    resources: { "nvidia.com/gpu": "1", "volcano.sh/vgpu-memory": "2000" },
    annotations: { "device-mounter.io/expansion": "true" },
    labels: { app: "slave-pod" },
    patches: ['{"op":"replace","path":"/spec/schedulerName","value":"volcano"}'],
  };
  for (let i = r.int(4); i >= 0; i--) {
    const field = r.pick(Object.keys(body).concat(["extra"]));
    if (r.chance(0.5) && typeof body[field] === "object" && body[field] !== null && !Array.isArray(body[field])) (body[field] as Record<string, unknown>)[r.printable(10)] = randomValue(r);
    else if (r.chance(0.3) && Array.isArray(body[field])) (body[field] as unknown[]).push(randomValue(r));
    else body[field] = randomValue(r);
  }
  return body;
}

function randomBody(r: Rng): string | Uint8Array {
  switch (r.int(8)) {
    case 0: return JSON.stringify(GPU_BODY);
    case 1: return r.printable(200);
    case 2: return new Uint8Array(Array.from({ length: r.int(300) }, () => r.int(256)));
    case 3: return "[".repeat(2000) + "]".repeat(2000);
    case 4: return JSON.stringify({ ...GPU_BODY, annotations: { a: "x".repeat(70_000) } });
    case 5: return JSON.stringify(randomValue(r));
    default: return JSON.stringify(mutatedBody(r));
  }
}

function randomQuery(r: Rng): string {
  const params: string[] = r.chance(0.7) ? ["device_type=NVIDIA_GPU"] : [];
  for (let i = r.int(4); i > 0; i--) {
    const name = r.pick(["device_type", "container", "wait_second", "force", "timeout", r.printable(6), "device_type"]);
    const value = r.pick(["NVIDIA_GPU", "", "0", "10", "300", "301", "-1", "1.5", "true", "TRUE", "1", "yes", "99999999999999999999", "main", "Main", "%zz", r.printable(10), r.unicode(5)]);
    params.push(`${encodeURIComponent(name)}=${r.chance(0.9) ? encodeURIComponent(value) : value.replace(/[#\s]/g, "")}`);
  }
  return params.length ? `?${params.join("&")}` : "";
}

function randomRequest(r: Rng): [string, RequestInit] {
  const subresource = r.pick(["mount", "unmount", "mount", "unmount", "Mount", "mount/", "x"]);
  const path = r.pick([
    () => `/apis/device-mounter.io/v1alpha1/namespaces/${SEGMENTS(r)}/pods/${SEGMENTS(r)}/${subresource}`,
    () => `/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/${subresource}`,
    () => `/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/${subresource}`,
    () => `/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/mount`,
    () => r.pick(["/apis", "/apis/device-mounter.io", "/apis/device-mounter.io/v1alpha1", "/openapi/v2", "/openapi/v3", "/openapi/v3/apis/device-mounter.io/v1alpha1", "/healthz", "/livez", "/readyz/ping", "/metrics"]),
    () => `/${encodeURIComponent(r.printable(20))}/${SEGMENTS(r)}`,
    () => `//apis///device-mounter.io/${SEGMENTS(r)}`,
  ])();
  const method = r.pick(["PUT", "PUT", "PUT", "GET", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"]);
  const headers: Record<string, string> = {};
  if (r.chance(0.9)) headers.authorization = r.chance(0.8) ? `Bearer ${ALICE_TOKEN}` : r.pick(["Bearer", "Basic abc", `bearer ${r.printable(20)}`, r.printable(30)]);
  if (r.chance(0.9)) headers["content-type"] = r.chance(0.8) ? "application/json" : r.pick(["application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "", r.printable(15)]);
  if (r.chance(0.1)) headers["x-remote-user"] = r.pick(["system:admin", r.printable(10)]);
  if (r.chance(0.2)) headers["x-remote-group"] = r.pick(["system:masters", r.printable(10)]);
  if (r.chance(0.2)) headers.accept = r.pick(["application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "*/*;q=abc", r.printable(30)]);
  if (r.chance(0.2)) headers["x-request-id"] = r.printable(40);
  if (r.chance(0.1)) headers["if-none-match"] = r.printable(20);
  const init: RequestInit = { method, headers };
  if (method !== "GET" && method !== "HEAD" && r.chance(0.9)) init.body = randomBody(r);
  return [`${path}${randomQuery(r)}`, init];
}

test(`${REQUESTS} malformed requests: no 5xx, no crash, still serving (seed ${SEED})`, async () => {
  const r = prng(SEED);
  const t = testApp();
  const codes = new Map<number, number>();
  for (let i = 0; i < REQUESTS; i++) {
    const [url, init] = randomRequest(r);
    const response = await t.app.request(url, init);
    const text = await response.text();
    codes.set(response.status, (codes.get(response.status) ?? 0) + 1);
    if (response.status >= 500) throw new Error(`request #${i} (seed ${SEED}) ${init.method} ${url} → ${response.status}: ${text}`);
    if (response.status >= 400 && init.method !== "HEAD") {
      expect(response.headers.get("content-type")).toStartWith("application/json");
      expect(JSON.parse(text).kind).toBe("Status");
    }
  }
  expect(t.logs.filter((l) => l.level === "error")).toEqual([]);
  // The mix reached the interesting places: validation, bodies, auth, success.
  for (const code of [200, 400, 401, 404, 405, 413, 415, 422]) expect(codes.get(code) ?? 0).toBeGreaterThan(0);
  const after = await t.app.request(`${MOUNT_URL}?device_type=NVIDIA_GPU`, jsonPut(GPU_BODY));
  expect(after.status).toBe(200);
}, 60_000);

test("malformed bytes on the TLS connection: the server answers or closes, and keeps serving", async () => {
  const { connect } = await import("node:tls");
  const { startSecureServer } = await import("../../src/http/https-server.ts");
  const { selfSignedCertificate } = await import("../../src/tls/self-signed.ts");
  const { jsonLogger } = await import("../../src/observability/log.ts");
  const { httpsCall } = await import("./support/https-client.ts");
  const r = prng(SEED + 1);
  const t = testApp();
  const serverLogs: Array<Record<string, unknown>> = [];
  const certificate = selfSignedCertificate(["localhost", "127.0.0.1"]);
  const server = await startSecureServer({ fetch: (q, c) => t.app.fetch(q, c), host: "127.0.0.1", port: 0, certificate, logger: jsonLogger((l) => serverLogs.push(JSON.parse(l))), requestClientCertificates: true, component: "apiserver" });
  const raw = (bytes: Uint8Array | string) =>
    new Promise<string>((resolve) => {
      let received = "";
      const socket = connect({ host: "127.0.0.1", port: server.port, ca: certificate.cert, servername: "localhost" }, () => socket.end(bytes));
      socket.setTimeout(2000, () => socket.destroy());
      socket.on("data", (d) => (received += d.toString("latin1")));
      socket.on("close", () => resolve(received));
      socket.on("error", () => undefined);
    });
  try {
    const shapes = [
      () => new Uint8Array(Array.from({ length: r.int(500) }, () => r.int(256))),
      () => `${r.pick(["PUT", "GET", "BREW", ""])} ${r.pick(["/", "*", "http://x/y", "/apis/" + r.printable(30), "%%%"])} HTTP/${r.pick(["1.1", "1.0", "2.0", "9"])}\r\n${r.printable(40)}\r\n\r\n`,
      () => `PUT ${MOUNT_URL}?device_type=X HTTP/1.1\r\nHost: ${r.printable(10)}\r\nContent-Length: ${r.pick(["-1", "abc", "99999999999", "5"])}\r\nAuthorization: Bearer ${ALICE_TOKEN}\r\nContent-Type: application/json\r\n\r\n{"res`,
      () => `GET /apis HTTP/1.1\r\nHost: x\r\n${"X-Long: ".concat("a".repeat(100_000))}\r\n\r\n`,
      () => `PUT ${MOUNT_URL}?device_type=X HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer ${ALICE_TOKEN}\r\nContent-Type: application/json\r\n\r\nzz\r\n${r.printable(20)}\r\n0\r\n\r\n`,
      () => `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Remote-User: ${r.printable(10)}\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\n\r\n`,
    ];
    for (let i = 0; i < 150; i++) {
      const answer = await raw(r.pick(shapes)());
      const code = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      if (code && Number(code) >= 500) throw new Error(`raw request #${i} (seed ${SEED + 1}) got ${answer.slice(0, 300)}`);
    }
    const after = await httpsCall({ port: server.port, path: `${MOUNT_URL}?device_type=NVIDIA_GPU`, method: "PUT", headers: [["authorization", `Bearer ${ALICE_TOKEN}`], ["content-type", "application/json"]], body: JSON.stringify(GPU_BODY), ca: certificate.cert });
    expect(after.status).toBe(200);
    expect(serverLogs.filter((l) => l.level === "error")).toEqual([]);
  } finally {
    await server.shutdown(1000);
  }
}, 60_000);
