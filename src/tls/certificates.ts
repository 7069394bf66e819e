// The serving certificate and key: read from files and checked to belong
// together, so that a half-written rotation is refused instead of served.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CertificatePair } from "./self-signed.ts";

export function checkCertificatePair(pair: CertificatePair, source: string): CertificatePair {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pair.cert);
  } catch (e) {
    throw new Error(`${source}: the certificate cannot be parsed: ${(e as Error).message}`);
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(pair.key));
  } catch (e) {
    throw new Error(`${source}: the private key cannot be parsed: ${(e as Error).message}`);
  }
  if (!matches) throw new Error(`${source}: the private key does not belong to the certificate`);
  return pair;
}

export function readCertificatePair(certFile: string, keyFile: string): CertificatePair {
  const source = `--tls-cert-file ${certFile} / --tls-private-key-file ${keyFile}`;
  let pair: CertificatePair;
  try {
    pair = { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return checkCertificatePair(pair, source);
}
