import { test } from "node:test";
import assert from "node:assert/strict";
import {
  gaussianNoise, fillGaussian, batchNoise, parseSeed, seedToString, philox4x32, mulhi32, stepStream, MAX_SEED,
} from "../../../server/diffusion/noise.ts";

const bits = (f: Float32Array) => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length)).map((v) => "0x" + v.toString(16).padStart(8, "0"));
const hex = (w: ArrayLike<number>) => Array.from(w).map((v) => v.toString(16).padStart(8, "0")).join(" ");

test("noise: Philox4x32-10 matches the Random123 known-answer vectors", () => {
  assert.equal(hex(philox4x32(0, 0, 0, 0, 0, 0)), "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  const f = 0xffffffff;
  assert.equal(hex(philox4x32(f, f, f, f, f, f)), "408f276d 41c83b0e a20bc7c6 6d5451fd");
  assert.equal(hex(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)), "d16cfe09 94fdcceb 5001e420 24126ea1");
});

test("noise: mulhi32 equals the exact high word of the 64-bit product", () => {
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  const edge = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
  const pairs: [number, number][] = [];
  for (const p of edge) for (const q of edge) pairs.push([p, q]);
  for (let i = 0; i < 20000; i++) pairs.push([next(), next()]);
  for (const [p, q] of pairs) assert.equal(mulhi32(p, q), Number((BigInt(p) * BigInt(q)) >> 32n), `${p}·${q}`);
});

// Goldens: float32 bit patterns, also produced independently by tools/fixtures/noise_reference.py.
test("noise: fixed seeds give the golden first values (bit-exact float32)", () => {
  assert.deepEqual(bits(gaussianNoise(42, 8)),
    ["0xbf785e5c", "0x3e46ace8", "0xbf9e28d2", "0x3ff6433b", "0xbd95e030", "0x3e0e7a0f", "0xbf8da733", "0x3ea742fd"]);
  assert.deepEqual(bits(gaussianNoise(42, 8, 3)),
    ["0xc018d15e", "0x3f595c02", "0xbf283173", "0xbeee7980", "0x3f5a5033", "0x3f41b3ba", "0x3bf43819", "0x3f68258a"]);
  assert.deepEqual(bits(gaussianNoise("18446744073709551615", 8)),
    ["0x3f8c9ec9", "0x3f21de8f", "0x3f255714", "0x3f3ac13d", "0xbf174864", "0x40038e29", "0xbf33358c", "0xbf3265e8"]);
});

test("noise: mean ≈ 0 (±0.005) and std ≈ 1 (±0.005) over 1e6 values; no non-finite values", () => {
  const z = gaussianNoise(20260101, 1_000_000);
  let s = 0;
  for (const v of z) {
    assert.ok(Number.isFinite(v));
    s += v;
  }
  const m = s / z.length;
  let q = 0;
  for (const v of z) q += (v - m) * (v - m);
  const sd = Math.sqrt(q / z.length);
  assert.ok(Math.abs(m) < 0.005, `mean ${m}`);
  assert.ok(Math.abs(sd - 1) < 0.005, `std ${sd}`);
});

test("noise: seed 2^64−1 works and differs from 2^64−2", () => {
  const top = gaussianNoise(MAX_SEED, 64);
  const below = gaussianNoise(MAX_SEED - 1n, 64);
  assert.equal(top.length, 64);
  assert.notDeepEqual(bits(top), bits(below));
  assert.deepEqual(bits(top), bits(gaussianNoise("18446744073709551615", 64)));
});

test("noise: string, bigint and number of the same value give identical noise", () => {
  for (const v of [0, 1, 42, 4294967295, 4294967296, Number.MAX_SAFE_INTEGER]) {
    const n = bits(gaussianNoise(v, 33));
    assert.deepEqual(bits(gaussianNoise(BigInt(v), 33)), n);
    assert.deepEqual(bits(gaussianNoise(String(v), 33)), n);
  }
  assert.equal(seedToString(7n), "7");
});

test("noise: bad seeds are rejected with a clear error", () => {
  assert.throws(() => parseSeed(-1), /non-negative integer/);
  assert.throws(() => parseSeed(1.5), /non-negative integer/);
  assert.throws(() => parseSeed(Number.NaN), /non-negative integer/);
  assert.throws(() => parseSeed(2 ** 60), /not exact.*string or bigint/);
  assert.throws(() => parseSeed(-1n), /outside/);
  assert.throws(() => parseSeed(1n << 64n), /outside/);
  assert.throws(() => parseSeed("18446744073709551616"), /above 2\^64/);
  for (const s of ["", "-1", "1e3", " 1", "0x10", "abc", "1.0"]) assert.throws(() => parseSeed(s), /decimal digits/, s);
  assert.throws(() => parseSeed(null as unknown as string), /bigint, number or decimal string/);
});

test("noise: a draw is a prefix of any longer draw, fills at an offset compose, and streams are independent", () => {
  const long = gaussianNoise(9, 103);
  assert.deepEqual(bits(gaussianNoise(9, 10)), bits(long.subarray(0, 10)));
  const part = fillGaussian(new Float32Array(50), 9, 0, 53);
  assert.deepEqual(bits(part), bits(long.subarray(53)));
  const s1 = gaussianNoise(9, 16, stepStream(0));
  assert.notDeepEqual(bits(s1), bits(long.subarray(0, 16)));
  assert.notDeepEqual(bits(s1), bits(gaussianNoise(9, 16, stepStream(1))));
  assert.deepEqual(bits(gaussianNoise(9, 16, stepStream(1))), bits(gaussianNoise(9, 1000, stepStream(1)).subarray(0, 16)));
});

test("noise: per-item batch seeds give item j the noise of seeds[j] alone", () => {
  const seeds = ["5", 6n, 7];
  const z = batchNoise(seeds, 3 * 20, 2);
  for (let j = 0; j < 3; j++) assert.deepEqual(bits(z.subarray(j * 20, j * 20 + 20)), bits(gaussianNoise(seeds[j], 20, 2)));
  assert.deepEqual(bits(batchNoise(5, 40)), bits(gaussianNoise(5, 40)));
  assert.throws(() => batchNoise([1, 2, 3], 40), /divisible/);
});
