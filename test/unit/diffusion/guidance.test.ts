import { test } from "node:test";
import assert from "node:assert/strict";
import { cfgCombine, decideGuidance, rescaleGuidance, guide, noiseLatent, duplicateBatch, splitBatch, meanStd } from "../../../server/diffusion/guidance.ts";
import { sample, SAMPLER_NAMES, type Predict } from "../../../server/diffusion/samplers.ts";
import { gaussianNoise } from "../../../server/diffusion/noise.ts";
import { bits } from "./helpers.ts";

test("guidance: cfgCombine is ε_u + w·(ε_c − ε_u) elementwise", () => {
  const u = new Float32Array([0, 1, -2, 0.5]);
  const c = new Float32Array([1, 1, 2, -0.5]);
  assert.deepEqual(Array.from(cfgCombine(u, c, 4)), [4, 1, 14, -3.5]);
  assert.deepEqual(Array.from(cfgCombine(u, c, 1)), Array.from(c));
  assert.throws(() => cfgCombine(u, new Float32Array(3), 2), /length/);
});

// A toy "model" with per-batch-item conditioning: out = tanh(x·(1 + cond) + r) − 0.1·cond.
function toyModel(x: Float32Array, r: number, conds: number[]): Float32Array {
  const per = x.length / conds.length;
  const out = new Float32Array(x.length);
  for (let j = 0; j < conds.length; j++) {
    for (let k = j * per; k < (j + 1) * per; k++) out[k] = Math.tanh(x[k] * (1 + conds[j]) + r) - 0.1 * conds[j];
  }
  return out;
}

test("guidance: batched CFG (one batch of two, uncond half first) equals two separate model runs, bit for bit", async () => {
  const COND = 0.3, UNCOND = -0.4;
  const shape = [1, 4, 8, 8];
  const n = 256;
  let batchedCalls = 0, separateCalls = 0;
  const batched: Predict = async (x, r, withUncond) => {
    batchedCalls++;
    if (!withUncond) return { cond: toyModel(x, r, [COND]) };
    const y = toyModel(duplicateBatch(x), r, [UNCOND, COND]);
    return splitBatch(y);
  };
  const separate: Predict = async (x, r, withUncond) => {
    separateCalls += withUncond ? 2 : 1;
    return { cond: toyModel(x, r, [COND]), uncond: withUncond ? toyModel(x, r, [UNCOND]) : undefined };
  };
  for (const sampler of SAMPLER_NAMES) {
    for (const cfgRescale of [0, 0.7]) {
      const opts = { x: new Float32Array(n), shape, sampler, steps: 6, shift: 2, seed: 99, guidance: decideGuidance(4, cfgRescale) };
      const one = await sample({ ...opts, predict: batched });
      const two = await sample({ ...opts, predict: separate });
      assert.deepEqual(bits(one.samples), bits(two.samples), `${sampler} rescale ${cfgRescale}`);
    }
  }
  assert.equal(separateCalls, 2 * batchedCalls);
});

test("guidance: rescale ρ = 0 is the identity, ρ = 1 matches std(ε_c), and ρ = 0.7 is ρ·ε̂·std(ε_c)/std(ε̂) + (1−ρ)·ε̂ with std over the whole tensor", () => {
  const c = gaussianNoise(1, 1000);
  const u = gaussianNoise(2, 1000);
  const g = cfgCombine(u, c, 5);
  assert.equal(rescaleGuidance(g, c, 0), g);
  const full = rescaleGuidance(g, c, 1);
  assert.ok(Math.abs(meanStd(full).std - meanStd(c).std) < 1e-5);
  const sc = meanStd(c).std, sg = meanStd(g).std;
  const r7 = rescaleGuidance(g, c, 0.7);
  for (let k = 0; k < g.length; k++) assert.ok(Math.abs(r7[k] - (0.7 * g[k] * (sc / sg) + 0.3 * g[k])) < 1e-5);
  // the std uses the whole tensor, not per batch item or channel
  const c2 = new Float32Array(4).fill(0);
  c2.set([1, -1], 0);
  const g2 = new Float32Array([2, -2, 4, -4]);
  const whole = rescaleGuidance(g2, c2, 1);
  const ratio = meanStd(c2).std / meanStd(g2).std;
  assert.deepEqual(Array.from(whole), Array.from(g2).map((v) => Math.fround(v * ratio)));
  assert.deepEqual(Array.from(rescaleGuidance(new Float32Array(3), new Float32Array(3).fill(1), 0.7)), [0, 0, 0]);
  assert.throws(() => rescaleGuidance(g, c, 1.5), /rescale/);
});

test("guidance: guide applies cfg then rescale, and returns cond itself at cfg = 1", () => {
  const c = gaussianNoise(3, 64), u = gaussianNoise(4, 64);
  assert.equal(guide(c, undefined, 1, 0.7), c);
  assert.deepEqual(bits(guide(c, u, 3, 0.7)), bits(rescaleGuidance(cfgCombine(u, c, 3), c, 0.7)));
  assert.throws(() => guide(c, undefined, 3), /unconditional/);
});

test("guidance: img2img init is x = a·x0 + b·ε", () => {
  const x0 = new Float32Array([1, 2, 3]);
  const e = new Float32Array([0.5, -1, 0]);
  assert.deepEqual(Array.from(noiseLatent(x0, e, 0.6, 0.8)), [1, 2, 3].map((v, k) => Math.fround(0.6 * v + 0.8 * [0.5, -1, 0][k])));
});

test("guidance: duplicateBatch and splitBatch lay out [uncond; cond] halves", () => {
  const x = new Float32Array([1, 2, 3]);
  assert.deepEqual(Array.from(duplicateBatch(x)), [1, 2, 3, 1, 2, 3]);
  const { uncond, cond } = splitBatch(new Float32Array([1, 2, 3, 4, 5, 6]));
  assert.deepEqual([Array.from(uncond), Array.from(cond)], [[1, 2, 3], [4, 5, 6]]);
  assert.throws(() => splitBatch(new Float32Array(3)), /odd/);
});

test("decideGuidance: cfg 1 runs the conditional half alone, any other cfg both halves", () => {
  assert.deepEqual(decideGuidance(1), { scale: 1, rescale: 0, withUncond: false });
  assert.deepEqual(decideGuidance(4, 0.7), { scale: 4, rescale: 0.7, withUncond: true });
  assert.equal(decideGuidance(0).withUncond, true);
});

test("decideGuidance: names a cfg that is not finite and a rescale out of [0, 1]", () => {
  assert.throws(() => decideGuidance(Number.NaN), /cfg must be finite/);
  assert.throws(() => decideGuidance(4, 2), /cfg rescale must be in \[0, 1\], got 2/);
  assert.throws(() => decideGuidance(4, -0.1), /cfg rescale/);
});
