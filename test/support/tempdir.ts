import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerCleanup } from "./cleanup.ts";
import { testName } from "./names.ts";

export interface TempDir {
  path: string;
  /** Deletes the directory now and drops it from the cleanup registry; idempotent. */
  remove(): void;
}

/** A fresh `/tmp/dm-test-<pid>-<kind>-<random>` directory, removed on cleanup. */
export function makeTempDir(kind: string): TempDir {
  const path = join(tmpdir(), testName(kind));
  mkdirSync(path, { mode: 0o755 });
  const deleteTree = () => rmSync(path, { recursive: true, force: true });
  const unregister = registerCleanup(deleteTree, `temp dir ${path}`, { onExit: deleteTree });
  return {
    path,
    remove() {
      deleteTree();
      unregister();
    },
  };
}
