// Time as the apiserver sees it; tests pass their own to drive caches and
// certificate validity without waiting.
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
