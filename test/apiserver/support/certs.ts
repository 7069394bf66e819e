// Certificates made on the spot with the openssl CLI (test code may shell
// out; the product never does), in a dm-test temp directory.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "../../support/tempdir.ts";

export interface Issued {
  name: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
  x509: X509Certificate;
}

export interface LeafOptions {
  cn: string;
  organizations?: string[];
  usage?: "clientAuth" | "serverAuth";
  /** DNS names / IPs for a server certificate. */
  altNames?: string[];
}

function openssl(args: string[], cwd: string): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd, stderr: "pipe", stdout: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
}

export class CertFactory {
  private readonly dir: TempDir;
  private serial = 1;

  constructor() {
    this.dir = makeTempDir("certs");
  }

  get path(): string {
    return this.dir.path;
  }

  remove(): void {
    this.dir.remove();
  }

  private load(name: string): Issued {
    const certPath = join(this.dir.path, `${name}.crt`);
    const keyPath = join(this.dir.path, `${name}.key`);
    const cert = readFileSync(certPath, "utf8");
    return { name, certPath, keyPath, cert, key: readFileSync(keyPath, "utf8"), x509: new X509Certificate(cert) };
  }

  /** A self-signed root CA. */
  rootCA(name: string): Issued {
    openssl(
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.crt`, "-subj", `/CN=${name}`, "-days", "3", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
      this.dir.path,
    );
    return this.load(name);
  }

  private sign(name: string, issuer: Issued, subject: string, extensions: string): Issued {
    writeFileSync(join(this.dir.path, `${name}.ext`), extensions);
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], this.dir.path);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", issuer.certPath, "-CAkey", issuer.keyPath, "-set_serial", String(this.serial++), "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`], this.dir.path);
    return this.load(name);
  }

  intermediateCA(name: string, issuer: Issued): Issued {
    return this.sign(name, issuer, `/CN=${name}`, "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
  }

  leaf(name: string, issuer: Issued, options: LeafOptions): Issued {
    const subject = `/CN=${options.cn}${(options.organizations ?? []).map((o) => `/O=${o}`).join("")}`;
    const usage = options.usage ?? "clientAuth";
    const alt = options.altNames?.length ? `subjectAltName=${options.altNames.map((n) => (/^[0-9.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",")}\n` : "";
    return this.sign(name, issuer, subject, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\n${alt}`);
  }
}
