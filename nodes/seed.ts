// Seeds as workflows hold them: unsigned 64-bit integers, as a number up to 2^53−1 or a decimal
// string beyond (JSON has no 64-bit integers). Parsed exactly, with errors that say what was wrong.

/** A seed: an unsigned 64-bit integer as bigint, safe-integer number, or decimal string. */
export type Seed = bigint | number | string;

/** Largest seed: seeds are unsigned 64-bit and travel as decimal strings beyond 2^53. */
export const MAX_SEED = (1n << 64n) - 1n;

/**
 * Parse a seed exactly. Accepts a bigint in [0, 2^64−1], a number that is a safe integer ≥ 0
 * (numbers above 2^53−1 cannot be exact in JavaScript: pass a string or bigint), or a string of
 * decimal digits (no sign, no spaces, no exponent) whose value is ≤ 2^64−1.
 */
export function parseSeed(seed: Seed): bigint {
  if (typeof seed === "bigint") {
    if (seed < 0n || seed > MAX_SEED) throw new RangeError(`seed ${seed} is outside 0 … 2^64−1 (${MAX_SEED})`);
    return seed;
  }
  if (typeof seed === "number") {
    if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    if (!Number.isSafeInteger(seed))
      throw new RangeError(`seed ${seed} is above 2^53−1 and not exact as a JavaScript number; pass it as a decimal string or bigint`);
    return BigInt(seed);
  }
  if (typeof seed === "string") {
    if (!/^[0-9]+$/.test(seed)) throw new RangeError(`seed string must be decimal digits only, got ${JSON.stringify(seed)}`);
    const v = BigInt(seed);
    if (v > MAX_SEED) throw new RangeError(`seed ${seed} is above 2^64−1 (${MAX_SEED})`);
    return v;
  }
  throw new TypeError(`seed must be a bigint, number or decimal string, got ${typeof seed}`);
}

/** The seed after `seed`, wrapping from 2^64−1 to 0, as a workflow holds it (a number while exact). */
export function nextSeed(seed: Seed): number | string {
  const next = (parseSeed(seed) + 1n) & MAX_SEED;
  return next <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(next) : next.toString();
}
