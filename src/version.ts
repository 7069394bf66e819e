// Build identity, injected by build.ts at compile time; "dev" when run from source.
export const VERSION = process.env.DEVICE_MOUNTER_VERSION ?? "dev";
export const COMMIT = process.env.DEVICE_MOUNTER_COMMIT ?? "unknown";
