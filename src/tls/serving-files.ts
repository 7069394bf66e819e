// A serving certificate from files (a mounted Secret: the operator's, or one
// cert-manager renews) is served anew when the files change, without a
// restart. A pair that does not parse or does not match is refused, and the
// one in use is kept.
import type { Logger } from "../observability/log.ts";
import { checkCertificatePair } from "./certificates.ts";
import { pollFiles } from "./file-poller.ts";
import type { CertificatePair } from "./self-signed.ts";

export interface ServingFilesOptions {
  certFile: string;
  keyFile: string;
  /** The pair read at startup and served now. */
  initial: CertificatePair;
  intervalMs: number;
  serve: (pair: CertificatePair) => void;
  logger: Logger;
}

/** Returns the function that stops watching. */
export function followServingFiles(options: ServingFilesOptions): () => void {
  const files = [options.certFile, options.keyFile];
  return pollFiles({
    paths: files,
    intervalMs: options.intervalMs,
    initial: [options.initial.cert, options.initial.key],
    onChange: ([cert, key]) => {
      try {
        options.serve(checkCertificatePair({ cert: cert!, key: key! }, files.join(" / ")));
        options.logger.info("reloaded the serving certificate", { files });
      } catch (e) {
        options.logger.error("ignoring an invalid serving certificate; keeping the previous one", { error: e });
      }
    },
    onError: (e) => options.logger.warn("cannot re-read the serving certificate", { error: e }),
  });
}
