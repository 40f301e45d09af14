/**
 * Seeded Gaussian noise, bit-identical for the same seed on every machine and device.
 *
 * Generator: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
 * a counter-based PRNG. Key = the 64-bit seed (low word, high word); counter = (block index low,
 * block index high, stream low, stream high). Everything is done with 32-bit integer arithmetic
 * (Math.imul plus an exact 16-bit split for the high product word); BigInt is used only to parse
 * seeds. Each Philox block gives four uint32 words u0..u3 → two Box–Muller pairs computed in float64:
 *   U = (u + 0.5) / 2^32 ∈ (0, 1);  ρ = √(−2 ln U_a);  z0 = ρ cos(2π U_b),  z1 = ρ sin(2π U_b)
 * and rounded to float32. Element i of a stream comes from block ⌊i/4⌋, so any prefix of a longer
 * draw equals a shorter draw, and streams are independent of each other's lengths.
 * V8 computes Math.log/cos/sin with its own portable fdlibm port, so results do not depend on the CPU.
 *
 * Streams: stream 0 is the main stream (the initial noise of a sampler); samplers use stream
 * 1 + i for the fresh noise of step i (see samplers.ts), so step i's noise never depends on the size
 * of any other step's draw.
 */

/** A seed: an unsigned 64-bit integer as bigint, safe-integer number, or decimal string. */
export type Seed = bigint | number | string;

export const MAX_SEED = (1n << 64n) - 1n;

/** A parsed seed as two unsigned 32-bit halves. */
export interface SeedWords {
  lo: number;
  hi: number;
}

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

/** The seed's canonical decimal string (what workflows and image metadata should store). */
export function seedToString(seed: Seed): string {
  return parseSeed(seed).toString(10);
}

/** The last seed split, remembered: a sampler draws every step's noise from the same seed. */
let lastSeed: { seed: Seed; words: SeedWords } | undefined;

export function seedWords(seed: Seed): SeedWords {
  if (lastSeed?.seed === seed) return lastSeed.words;
  const v = parseSeed(seed);
  const words = { lo: Number(v & 0xffffffffn), hi: Number(v >> 32n) };
  lastSeed = { seed, words };
  return words;
}

/** High 32 bits of the unsigned 64-bit product a·b of two uint32 (exact, no BigInt). */
export function mulhi32(a: number, b: number): number {
  const aL = a & 0xffff, aH = a >>> 16;
  const bL = b & 0xffff, bH = b >>> 16;
  const lh = aL * bH, hl = aH * bL;
  // Every partial sum stays below 2^32, so the carries are plain integer shifts.
  const mid = (((aL * bL) >>> 16) + (lh & 0xffff) + (hl & 0xffff)) >>> 16;
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + mid) >>> 0;
}

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;

/** Philox4x32-10 of counter (c0..c3) under key (k0, k1); writes four uint32 into out. */
export function philox4x32(
  c0: number, c1: number, c2: number, c3: number, k0: number, k1: number,
  out: Uint32Array | number[] = new Uint32Array(4),
): Uint32Array | number[] {
  c0 >>>= 0; c1 >>>= 0; c2 >>>= 0; c3 >>>= 0; k0 >>>= 0; k1 >>>= 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX_M0, c0);
    const lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, c2);
    const lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
  return out;
}

const TWO_POW_32 = 4294967296;
const TWO_PI = 2 * Math.PI;

function checkStream(stream: number): void {
  if (!Number.isSafeInteger(stream) || stream < 0) throw new RangeError(`stream index must be a non-negative safe integer, got ${stream}`);
}

/**
 * Fill `out` with standard normal float32 values of (seed, stream), starting at element `offset` of
 * that stream (so fills of consecutive ranges compose).
 */
export function fillGaussian(out: Float32Array, seed: Seed, stream = 0, offset = 0): Float32Array {
  checkStream(stream);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  const { lo: k0, hi: k1 } = seedWords(seed);
  const s0 = stream % TWO_POW_32 >>> 0;
  const s1 = Math.floor(stream / TWO_POW_32) >>> 0;
  const w = new Uint32Array(4);
  const z = new Float64Array(4);
  const n = out.length;
  let i = 0;
  let block = Math.floor(offset / 4);
  let skip = offset - block * 4;
  while (i < n) {
    philox4x32(block % TWO_POW_32, Math.floor(block / TWO_POW_32), s0, s1, k0, k1, w);
    const u0 = (w[0] + 0.5) / TWO_POW_32;
    const u1 = (w[1] + 0.5) / TWO_POW_32;
    const u2 = (w[2] + 0.5) / TWO_POW_32;
    const u3 = (w[3] + 0.5) / TWO_POW_32;
    const r0 = Math.sqrt(-2 * Math.log(u0));
    const r1 = Math.sqrt(-2 * Math.log(u2));
    z[0] = r0 * Math.cos(TWO_PI * u1);
    z[1] = r0 * Math.sin(TWO_PI * u1);
    z[2] = r1 * Math.cos(TWO_PI * u3);
    z[3] = r1 * Math.sin(TWO_PI * u3);
    for (let j = skip; j < 4 && i < n; j++) out[i++] = z[j];
    skip = 0;
    block++;
  }
  return out;
}

/** `length` standard normal float32 values from the main stream (0) of `seed`, or from `stream`. */
export function gaussianNoise(seed: Seed, length: number, stream = 0): Float32Array {
  return fillGaussian(noiseArray(length), seed, stream);
}

function noiseArray(length: number): Float32Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
  return new Float32Array(length);
}

/** The sub-stream a sampler uses for the fresh noise of step `step` (0-based, absolute in the grid). */
export function stepStream(step: number): number {
  return 1 + step;
}

/**
 * Noise for a batch: with one seed the whole tensor is one draw of that seed's stream; with one seed
 * per batch item, item j gets the first `length/B` values of seeds[j]'s stream, so a batch item can
 * be reproduced alone from its own seed.
 */
export function batchNoise(seed: Seed | readonly Seed[], length: number, stream = 0): Float32Array {
  return fillBatchNoise(noiseArray(length), seed, stream);
}

/** batchNoise written into `out` (its length is the draw's). */
export function fillBatchNoise(out: Float32Array, seed: Seed | readonly Seed[], stream = 0): Float32Array {
  if (!Array.isArray(seed)) return fillGaussian(out, seed as Seed, stream);
  const seeds = seed as readonly Seed[];
  if (seeds.length === 0) throw new RangeError("seed list is empty");
  if (out.length % seeds.length !== 0) throw new RangeError(`tensor length ${out.length} is not divisible by ${seeds.length} seeds`);
  const per = out.length / seeds.length;
  for (let j = 0; j < seeds.length; j++) fillGaussian(out.subarray(j * per, (j + 1) * per), seeds[j], stream);
  return out;
}

/**
 * Where a sampler gets its per-step noise. `draw` must return exactly batchNoise(seed, length,
 * stream); the values need only stay valid until the source's next `prefetch` (a source may reuse
 * their memory: a sampler uses a step's noise within that step). A source that computes noise on
 * another thread can be told ahead: `prefetch` announces draws the sampler will make, `wake`
 * starts the work announced so far (one wake for many draws), and `forget` drops what was
 * announced and not drawn (the sampler stopped early).
 */
export interface NoiseSource {
  draw(seed: Seed | readonly Seed[], length: number, stream: number): Float32Array;
  prefetch?(seed: Seed | readonly Seed[], length: number, stream: number): void;
  wake?(): void;
  forget?(): void;
}

/** Draws noise on the calling thread, when asked. */
export const INLINE_NOISE: NoiseSource = { draw: batchNoise };
