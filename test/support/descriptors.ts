// Descriptor leak checks. Compared as sets, not counts: the runtime may close
// one of its own descriptors while the code under test runs.
import { readdirSync } from "node:fs";

export const openDescriptors = (): Set<string> => new Set(readdirSync("/proc/self/fd"));

/** Descriptors open now that were not open in `before`. */
export const descriptorsOpenedSince = (before: Set<string>): string[] => [...openDescriptors()].filter((fd) => !before.has(fd));
