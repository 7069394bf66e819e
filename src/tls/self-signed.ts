// A self-signed serving certificate for development, when no
// --tls-cert-file is given, and the CA and serving certificates of the
// apiserver's self-managed Secret. Neither Bun nor node:crypto can create X.509
// certificates (they only parse them), and the product never shells out to
// openssl, so the certificate is DER-encoded here and signed with an ECDSA
// P-256 key from node:crypto.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";

const tlv = (tag: number, content: Uint8Array): Uint8Array => {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), content]);
};
const seq = (...parts: Uint8Array[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Uint8Array[]) => tlv(0x31, Buffer.concat(parts));
const explicit = (n: number, content: Uint8Array) => tlv(0xa0 + n, content);
const octets = (content: Uint8Array) => tlv(0x04, content);
const bits = (content: Uint8Array, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, "utf8"));

function integer(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out = [a * 40 + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Uint8Array {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  const [head = "", tail = ""] = ip.split("::");
  const groups = (s: string) => (s ? s.split(":") : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = [...groups(head), ...Array<string>(ip.includes("::") ? missing : 0).fill("0"), ...groups(tail)];
  return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";

export interface CertificatePair {
  cert: string;
  key: string;
}

const pem = (label: string, der: Uint8Array) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;

/** The DER of a certificate's subject Name: the issuer Name of what it signs. */
function subjectOf(certificatePem: string): Uint8Array {
  const der = Buffer.from(certificatePem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  // One TLV at `offset`: its tag, where its content starts and where it ends.
  const read = (offset: number) => {
    const first = der[offset + 1] ?? 0;
    const lengthBytes = first & 0x80 ? first & 0x7f : 0;
    let length = lengthBytes ? 0 : first;
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + (der[offset + 2 + i] ?? 0);
    const start = offset + 2 + lengthBytes;
    return { offset, tag: der[offset], start, end: start + length };
  };
  const tbs = read(read(0).start);
  // tbsCertificate: [0] version, serialNumber, signature, issuer, validity, subject, ...
  let field = read(tbs.start);
  if (field.tag !== 0xa0) throw new Error("the issuer certificate is not an X.509 v3 certificate");
  for (let i = 0; i < 5; i++) field = read(field.end);
  return der.subarray(field.offset, field.end);
}

/** Subject and authority key identifiers: SHA-1 of the DER public key (RFC 7093 allows any such hash). */
const keyId = (publicKey: KeyObject): Uint8Array => createHash("sha1").update(publicKey.export({ type: "spki", format: "der" })).digest();

export interface IssueOptions {
  /** DNS names or IP addresses (subjectAltName); none for a CA. */
  hosts: readonly string[];
  commonName: string;
  /** A CA certificate (keyCertSign) instead of a server certificate. */
  isCA: boolean;
  /** Signs the certificate; without it the certificate signs itself. */
  issuer?: CertificatePair;
  now?: Date;
  validDays: number;
}

/**
 * An ECDSA P-256 certificate valid from an hour ago for `validDays`: a CA, a
 * server certificate signed by `issuer`, or (neither) a self-signed server
 * certificate that is also its own CA, so a client can trust it directly.
 */
export function issueCertificate(options: IssueOptions): CertificatePair {
  const now = options.now ?? new Date();
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const subject = seq(set(seq(oid("2.5.4.3"), utf8(options.commonName))));
  const issuerName = options.issuer ? subjectOf(options.issuer.cert) : subject;
  const signingKey = options.issuer ? createPrivateKey(options.issuer.key) : privateKey;
  const algorithm = seq(oid(ECDSA_WITH_SHA256));
  const selfSignedServer = !options.issuer && !options.isCA;
  const canSign = options.isCA || selfSignedServer;
  const altNames = options.hosts.map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, "ascii"))));
  const extensions = seq(
    seq(oid("2.5.29.19"), bool(true), octets(canSign ? seq(bool(true)) : seq())),
    // digitalSignature (bit 0), and keyCertSign (bit 5) for a certificate that signs.
    seq(oid("2.5.29.15"), bool(true), octets(canSign ? bits(Buffer.from([0x84]), 2) : bits(Buffer.from([0x80]), 7))),
    ...(options.isCA ? [] : [seq(oid("2.5.29.37"), octets(seq(oid("1.3.6.1.5.5.7.3.1"))))]),
    ...(altNames.length ? [seq(oid("2.5.29.17"), octets(seq(...altNames)))] : []),
    seq(oid("2.5.29.14"), octets(octets(keyId(publicKey)))),
    ...(options.issuer ? [seq(oid("2.5.29.35"), octets(seq(tlv(0x80, keyId(createPublicKey(options.issuer.cert))))))] : []),
  );
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(Buffer.concat([Buffer.from([0x01]), randomBytes(15)])),
    algorithm,
    issuerName,
    seq(time(new Date(now.getTime() - 3600_000)), time(new Date(now.getTime() + options.validDays * 86400_000))),
    subject,
    publicKey.export({ type: "spki", format: "der" }),
    explicit(3, extensions),
  );
  const signature = sign("sha256", tbs, { key: signingKey, dsaEncoding: "der" });
  return { cert: pem("CERTIFICATE", seq(tbs, algorithm, bits(signature))), key: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

/**
 * A certificate for `hosts` (DNS names or IP addresses; the first is the
 * common name), valid from an hour ago for `validDays`. It is its own CA, so
 * a client can trust it directly.
 */
export function selfSignedCertificate(hosts: readonly string[], now: Date = new Date(), validDays = 365): CertificatePair {
  return issueCertificate({ hosts, commonName: `${hosts[0] ?? "localhost"}@${Math.floor(now.getTime() / 1000)}`, isCA: false, now, validDays });
}
