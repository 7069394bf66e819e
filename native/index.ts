// Loads the device_mounter N-API addon. Callers import the binding and its
// types from here only.
import { join } from "node:path";
import type { NativeBinding, NativeError } from "./native.d.ts";

export type * from "./native.d.ts";

/** Every function the addon must export; a stale build that lacks one is refused. */
const BINDING_FUNCTIONS: Record<keyof NativeBinding, true> = {
  nsMknod: true,
  nsStat: true,
  nsUnlink: true,
  nsChmod: true,
  nsChown: true,
  nsBatch: true,
  bpfProgQuery: true,
  bpfProgGetFdById: true,
  bpfProgInfo: true,
  bpfProgLoad: true,
  bpfProgAttach: true,
  bpfProgDetach: true,
  close: true,
  getxattr: true,
  setxattr: true,
  removexattr: true,
  lockDirectory: true,
};

interface Candidate {
  /** Where it is looked for, as the error message says it. */
  where: string;
  load: () => unknown;
}

function candidates(): Candidate[] {
  const list: Candidate[] = [];
  const override = process.env.DEVICE_MOUNTER_NATIVE;
  if (override) list.push({ where: `DEVICE_MOUNTER_NATIVE=${override}`, load: () => require(override) });
  // A literal specifier: `bun build --compile` embeds only addons whose
  // require() it can see statically (and fails when the file is missing).
  list.push({
    where: join(import.meta.dir, "build/Release/device_mounter.node"),
    load: () => require("./build/Release/device_mounter.node"),
  });
  // Computed, so that the bundler neither embeds nor demands a Debug build;
  // it only exists next to the sources during development.
  const debugBuild = join(import.meta.dir, "build/Debug/device_mounter.node");
  list.push({ where: debugBuild, load: () => require(debugBuild) });
  return list;
}

function asBinding(loaded: unknown): NativeBinding {
  const missing = Object.keys(BINDING_FUNCTIONS).filter(
    (name) => typeof (loaded as Record<string, unknown> | null)?.[name] !== "function",
  );
  if (missing.length > 0) throw new Error(`the addon lacks ${missing.join(", ")} (stale build?)`);
  return loaded as NativeBinding;
}

let cached: NativeBinding | undefined;

/**
 * The addon, loaded on first use from the first of: $DEVICE_MOUNTER_NATIVE,
 * ./build/Release, ./build/Debug. Throws an Error naming every place tried
 * and why each failed.
 */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const failures: string[] = [];
  for (const candidate of candidates()) {
    try {
      cached = asBinding(candidate.load());
      return cached;
    } catch (error) {
      // First line only: require() appends its "Require stack" on further lines.
      const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
      failures.push(`  ${candidate.where}: ${reason}`);
    }
  }
  throw new Error(`cannot load the device_mounter native addon; tried:\n${failures.join("\n")}`);
}

/** True for the errno errors the addon throws (not for its TypeError/RangeError argument checks). */
export function isNativeError(error: unknown): error is NativeError {
  if (!(error instanceof Error)) return false;
  const fields = error as Partial<Record<"code" | "errno" | "syscall", unknown>>;
  return typeof fields.code === "string" && typeof fields.errno === "number" && typeof fields.syscall === "string";
}
