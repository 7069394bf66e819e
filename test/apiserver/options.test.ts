// Startup flags: every problem reported at once, in one error; durations
// and selectors as Kubernetes tools write them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../src/cli/errors.ts";
import { apiserverUsage, DEFAULT_AGENT_TOKEN_FILE, labelSelectorProblems, parseApiserverFlags, parseDuration, validateApiserverOptions } from "../../src/apiserver/options.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";

let dir: TempDir;
let file: string;
beforeAll(() => {
  dir = makeTempDir("apiserver-options");
  file = join(dir.path, "exists.pem");
  writeFileSync(file, "x");
});
afterAll(() => dir?.remove());

const validate = (argv: string[]) => validateApiserverOptions(parseApiserverFlags(argv));

describe("apiserver flags", () => {
  test("defaults", () => {
    expect(validate([])).toEqual({
      securePort: 6443,
      bindAddress: "0.0.0.0",
      agentNamespace: "device-mounter",
      agentSelector: "app.kubernetes.io/name=device-mounter-agent",
      agentPort: 8443,
      agentTokenFile: DEFAULT_AGENT_TOKEN_FILE,
      authenticationTokenCacheTtlMs: 10_000,
      authorizationCacheTtlMs: 10_000,
      maxWaitSeconds: 50,
      maxBodyBytes: 1_048_576,
    });
  });

  test("every flag", () => {
    const options = validate([
      "--secure-port=8444",
      "--bind-address=::",
      `--tls-cert-file=${file}`,
      `--tls-private-key-file=${file}`,
      `--kubeconfig=${file}`,
      "--agent-namespace=dm",
      "--agent-selector=app=agent,tier in (node, edge),!legacy",
      "--agent-port=9443",
      `--agent-ca-file=${file}`,
      "--agent-server-name=device-mounter-agent",
      `--agent-token-file=${file}`,
      `--requestheader-client-ca-file=${file}`,
      "--requestheader-allowed-names=front-proxy-client,aggregator",
      "--requestheader-username-headers=X-Remote-User",
      "--requestheader-group-headers=X-Remote-Group,X-Groups",
      "--requestheader-extra-headers-prefix=X-Remote-Extra-",
      "--authentication-token-cache-ttl=1m30s",
      "--authorization-cache-ttl=500ms",
      "--max-wait-seconds=60",
      "--max-body-bytes=4096",
    ]);
    expect(options).toEqual({
      securePort: 8444,
      bindAddress: "::",
      tlsCertFile: file,
      tlsPrivateKeyFile: file,
      kubeconfig: file,
      agentNamespace: "dm",
      agentSelector: "app=agent,tier in (node, edge),!legacy",
      agentPort: 9443,
      agentCaFile: file,
      agentServerName: "device-mounter-agent",
      agentTokenFile: file,
      requestHeader: {
        clientCAFile: file,
        allowedNames: ["front-proxy-client", "aggregator"],
        usernameHeaders: ["X-Remote-User"],
        uidHeaders: ["x-remote-uid"],
        groupHeaders: ["X-Remote-Group", "X-Groups"],
        extraHeaderPrefixes: ["X-Remote-Extra-"],
      },
      authenticationTokenCacheTtlMs: 90_000,
      authorizationCacheTtlMs: 500,
      maxWaitSeconds: 60,
      maxBodyBytes: 4096,
    });
  });

  test("all problems are reported together in one error", () => {
    let error: unknown;
    try {
      validate([
        "--secure-port=70000",
        "--bind-address=localhost",
        "--tls-cert-file=/nonexistent/cert.pem",
        "--agent-namespace=Device_Mounter",
        "--agent-selector=",
        "--agent-port=0",
        "--requestheader-allowed-names=x",
        "--authorization-cache-ttl=ten",
        "--max-wait-seconds=-5",
        "--max-body-bytes=10",
      ]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      [
        "invalid flags:",
        '  - --secure-port "70000" must be a whole number from 0 to 65535',
        '  - --bind-address "localhost" is not an IP address',
        '  - --tls-cert-file "/nonexistent/cert.pem" does not exist',
        "  - --tls-cert-file and --tls-private-key-file go together: give both or neither",
        `  - --agent-namespace "Device_Mounter" must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name' or '123-abc')`,
        "  - --agent-selector must not be empty: it would select every pod in the namespace as an agent",
        '  - --agent-port "0" must be a whole number from 1 to 65535',
        "  - --requestheader-* flags apply only together with --requestheader-client-ca-file (without it all front-proxy settings come from kube-system/extension-apiserver-authentication)",
        '  - --authorization-cache-ttl "ten" is not a duration such as 10s, 1m or 500ms',
        '  - --max-wait-seconds "-5" must be a whole number from 1 to 86400',
        '  - --max-body-bytes "10" must be a whole number from 1024 to 67108864',
      ].join("\n"),
    );
  });

  test("the self-managed serving certificate: both flags, and not with --tls-cert-file", () => {
    expect(validate(["--apiservice=v1alpha1.device-mounter.io", "--serving-cert-secret=dm-serving"]).selfManagedCertificate).toEqual({
      apiServiceName: "v1alpha1.device-mounter.io",
      secretName: "dm-serving",
    });
    expect(() => validate(["--apiservice=v1alpha1.device-mounter.io"])).toThrow("--apiservice and --serving-cert-secret go together: give both or neither");
    expect(() => validate(["--apiservice=v1alpha1.device-mounter.io", "--serving-cert-secret=dm", `--tls-cert-file=${file}`, `--tls-private-key-file=${file}`])).toThrow(
      "--serving-cert-secret and --tls-cert-file exclude each other: the certificate comes from one of them",
    );
    expect(() => validate(["--apiservice=v1alpha1.device-mounter.io", "--serving-cert-secret=Not_A_Name"])).toThrow('--serving-cert-secret "Not_A_Name" ');
  });

  test("unknown flags and arguments are usage errors", () => {
    expect(() => parseApiserverFlags(["--secure-prot=1"])).toThrow(UsageError);
    expect(() => parseApiserverFlags(["serve"])).toThrow("unexpected arguments: serve (see --help)");
  });

  test("--help lists every flag with its default", () => {
    const usage = apiserverUsage();
    for (const flag of ["--secure-port", "--bind-address", "--tls-cert-file", "--tls-private-key-file", "--kubeconfig", "--agent-namespace", "--agent-selector", "--agent-port", "--requestheader-client-ca-file", "--authorization-cache-ttl", "--max-wait-seconds", "--max-body-bytes"]) {
      expect(usage).toContain(`  ${flag} `);
    }
    expect(usage).toContain('(default "6443")');
    expect(parseApiserverFlags(["-h"]).help).toBe(true);
  });
});

describe("parseDuration", () => {
  test.each([
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["2h", 7_200_000],
    ["0", 0],
    ["1.5", 1500],
    ["0.5s", 500],
  ])("%p = %p ms", (text, ms) => expect(parseDuration(text)).toBe(ms));
  test.each(["", "s", "10x", "-1s", "1m 30s", "ten"])("%p is not a duration", (text) => expect(parseDuration(text)).toBeUndefined());
});

describe("labelSelectorProblems", () => {
  test.each(["app=agent", "app==agent", "app!=agent", "app", "!app", "app in (a, b)", "tier notin (x),app=y", "example.com/app=v"])("%p is valid", (selector) => expect(labelSelectorProblems(selector)).toEqual([]));
  test("problems name the requirement", () => {
    expect(labelSelectorProblems("app=agent,=x,app in a")).toEqual([
      'requirement "=x" is not key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)',
      'requirement "app in a" is not key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)',
    ]);
    expect(labelSelectorProblems("app=has space")[0]).toContain("is not key, !key");
    expect(labelSelectorProblems("App_/x=y")[0]).toStartWith('key "App_/x" prefix part must consist of lower case');
  });
});
