// Seeds as workflows hold them (nodes/seed.ts), and the noise generator's reading of the same seeds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_SEED, nextSeed, parseSeed, type Seed } from "../../nodes/seed.ts";
import { parseSeed as generatorParseSeed } from "../../server/diffusion/noise.ts";

const seeds: unknown[] = [0, 7, Number.MAX_SAFE_INTEGER, 2 ** 53, -1, 1.5, "18446744073709551615", "18446744073709551616", "12a", " 1", "", 5n, -5n, MAX_SEED + 1n, null, true];

test("the vocabulary and the noise generator accept and reject the same seeds, with the same message", () => {
  const outcome = (parse: (s: Seed) => bigint, seed: unknown) => {
    try { return parse(seed as Seed); } catch (err) { return (err as Error).message; }
  };
  for (const seed of seeds) assert.deepEqual(outcome(parseSeed, seed), outcome(generatorParseSeed, seed), String(seed));
});

test("nextSeed moves to the next seed and wraps after 2^64−1", () => {
  assert.equal(nextSeed(41), 42);
  assert.equal(nextSeed(Number.MAX_SAFE_INTEGER), "9007199254740992");
  assert.equal(nextSeed(MAX_SEED.toString()), 0);
  assert.throws(() => nextSeed("x"), /decimal digits/);
});
