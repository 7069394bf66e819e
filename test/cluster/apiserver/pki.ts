// The cluster PKI, made with the openssl CLI (test infrastructure may shell out): a cluster
// CA that signs the serving and client certificates, and a separate front-proxy CA for the
// aggregator's client certificate, as kubeadm lays them out.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface ClusterPki {
  ca: KeyPair;
  serving: KeyPair;
  frontProxyCa: KeyPair;
  frontProxyClient: KeyPair;
  /** Issues a client certificate from the cluster CA: CN = user, O = groups. */
  issueClientCertificate(username: string, groups: string[]): KeyPair;
}

function openssl(args: string[], cwd: string): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    throw new Error(`openssl ${args.join(" ")} failed in ${cwd} (exit ${result.exitCode}): ${result.stderr.toString()}`);
  }
}

function subjectOf(commonName: string, organizations: string[]): string {
  const escape = (v: string) => v.replace(/[/\\=+,]/g, (c) => `\\${c}`);
  return `/CN=${escape(commonName)}${organizations.map((o) => `/O=${escape(o)}`).join("")}`;
}

class Issuer {
  private serial = 1;

  constructor(private readonly dir: string) {}

  newCa(name: string, commonName: string): KeyPair {
    openssl(
      [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "3650", "-subj", subjectOf(commonName, []),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
      ],
      this.dir,
    );
    return this.read(name);
  }

  sign(ca: KeyPair, name: string, subject: string, extensions: string[]): KeyPair {
    const caName = `ca-${this.serial}`;
    writeFileSync(join(this.dir, `${caName}.crt`), ca.certPem);
    writeFileSync(join(this.dir, `${caName}.key`), ca.keyPem);
    writeFileSync(join(this.dir, `${name}.ext`), `${extensions.join("\n")}\n`);
    openssl(
      ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject],
      this.dir,
    );
    openssl(
      [
        "x509", "-req", "-in", `${name}.csr`, "-CA", `${caName}.crt`, "-CAkey", `${caName}.key`,
        "-set_serial", String(1000 + this.serial++), "-days", "3650", "-out", `${name}.crt`, "-extfile", `${name}.ext`,
      ],
      this.dir,
    );
    return this.read(name);
  }

  private read(name: string): KeyPair {
    return {
      certPem: readFileSync(join(this.dir, `${name}.crt`), "utf8"),
      keyPem: readFileSync(join(this.dir, `${name}.key`), "utf8"),
    };
  }
}

const CLIENT_EXTENSIONS = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=clientAuth"];

/** Creates the PKI in a temporary directory that is removed again before returning. */
export function createClusterPki(): ClusterPki {
  const dir = mkdtempSync(join(tmpdir(), "dm-test-apiserver-pki-"));
  try {
    const issuer = new Issuer(dir);
    const ca = issuer.newCa("ca", "kubernetes");
    const serving = issuer.sign(ca, "apiserver", subjectOf("kube-apiserver", []), [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
    ]);
    const frontProxyCa = issuer.newCa("front-proxy-ca", "front-proxy-ca");
    const frontProxyClient = issuer.sign(frontProxyCa, "front-proxy-client", subjectOf("front-proxy-client", []), CLIENT_EXTENSIONS);
    return {
      ca,
      serving,
      frontProxyCa,
      frontProxyClient,
      issueClientCertificate(username, groups) {
        const clientDir = mkdtempSync(join(tmpdir(), "dm-test-apiserver-client-"));
        try {
          return new Issuer(clientDir).sign(ca, "client", subjectOf(username, groups), CLIENT_EXTENSIONS);
        } finally {
          rmSync(clientDir, { recursive: true, force: true });
        }
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
