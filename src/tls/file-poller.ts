// Notices when files change by re-reading them on an interval. Polling (and
// not inotify) because Kubernetes updates mounted Secrets and ConfigMaps by
// swapping a symlinked directory, which file watches miss.
import { readFile } from "node:fs/promises";

/** How often mounted certificate and token files are re-read. */
export const FILE_RELOAD_INTERVAL_MS = 10_000;

export interface FilePollerOptions {
  paths: readonly string[];
  intervalMs: number;
  /** The contents of all files, in the order of paths, whenever any of them changed. */
  onChange: (contents: string[]) => void;
  onError: (error: Error) => void;
  /** The contents already in use, so that the first poll does not report them again. */
  initial?: readonly string[];
}

export function pollFiles(options: FilePollerOptions): () => void {
  let previous = options.initial ? JSON.stringify(options.initial) : undefined;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const contents = await Promise.all(options.paths.map((p) => readFile(p, "utf8")));
      const key = JSON.stringify(contents);
      if (key !== previous) {
        previous = key;
        options.onChange(contents);
      }
    } catch (e) {
      options.onError(e as Error);
    } finally {
      busy = false;
    }
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
