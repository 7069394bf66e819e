import { randomInt } from "node:crypto";

// utilrand.String's alphabet: lowercase alphanumerics without vowels and look-alikes,
// so generated names never spell words.
const ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

export function randomSuffix(length = 5): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** names.SimpleNameGenerator: generateName prefix (cut to fit 63 chars) + 5 random chars. */
export function generateName(prefix: string): string {
  return `${prefix.slice(0, 58)}${randomSuffix()}`;
}
