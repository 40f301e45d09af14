import { test } from "node:test";
import assert from "node:assert/strict";
import { sample, SAMPLER_NAMES, SAMPLERS, type SampleOptions, type SamplerName } from "../../../server/diffusion/samplers.ts";
import { schedulePoint, timestepRatio } from "../../../server/diffusion/schedule.ts";
import { gaussianNoise } from "../../../server/diffusion/noise.ts";
import { cfgCombine, decideGuidance } from "../../../server/diffusion/guidance.ts";
import { bits, gaussianPredict } from "./helpers.ts";

const shape = [2, 4, 8, 8];
const n = 2 * 4 * 8 * 8;
const base = (sampler: SamplerName, extra: Partial<SampleOptions> = {}): SampleOptions => ({
  x: new Float32Array(n), shape, sampler, steps: 10, shift: 2, seed: 1234n, guidance: decideGuidance(3, 0.7),
  predict: gaussianPredict(), ...extra,
});

test("samplers: splitting the window [0,k) with returnLeftoverNoise then [k,N) with addNoise=false equals one full run, bit for bit (all samplers; dpmpp_2m carries its history)", async () => {
  for (const sampler of SAMPLER_NAMES) {
    for (const k of [1, 4, 9]) {
      const full = await sample(base(sampler));
      const first = await sample(base(sampler, { endStep: k, returnLeftoverNoise: true }));
      assert.equal(first.noisyAt, (10 - k) / 10, `${sampler}: noisyAt is t_k`);
      assert.equal(first.stepsRun, k);
      const second = await sample(base(sampler, { x: first.samples, startStep: k, addNoise: false, history: first.history }));
      assert.equal(second.stepsRun, 10 - k);
      assert.equal(second.noisyAt, 0);
      assert.deepEqual(bits(second.samples), bits(full.samples), `${sampler} split at ${k}`);
    }
  }
});

test("samplers: dpmpp_2m without the carried history restarts first-order at the seam (close to the full run, not equal)", async () => {
  const full = await sample(base("dpmpp_2m"));
  const first = await sample(base("dpmpp_2m", { endStep: 5, returnLeftoverNoise: true }));
  const second = await sample(base("dpmpp_2m", { x: first.samples, startStep: 5, addNoise: false }));
  let maxd = 0;
  for (let k = 0; k < n; k++) maxd = Math.max(maxd, Math.abs(second.samples[k] - full.samples[k]));
  assert.ok(maxd > 0 && maxd < 0.1, `max diff ${maxd}`);
});

test("samplers: buffers a run reuses step after step never reach the caller: the input, a result and its history keep their values through later runs", async () => {
  for (const sampler of SAMPLER_NAMES) {
    const x = new Float32Array(n).fill(0.25);
    const first = await sample(base(sampler, { x, endStep: 6, returnLeftoverNoise: true }));
    assert.notEqual(first.samples, first.history!.x0, `${sampler}: the result and its history's x0 are two arrays`);
    const kept = { samples: bits(first.samples), x0: bits(first.history!.x0) };
    await sample(base(sampler, { x, seed: 99n }));
    await sample(base(sampler, { x: first.samples, startStep: 6, addNoise: false, history: first.history }));
    assert.ok(x.every((v) => v === 0.25), `${sampler}: input untouched`);
    assert.deepEqual(bits(first.samples), kept.samples, `${sampler}: result kept`);
    assert.deepEqual(bits(first.history!.x0), kept.x0, `${sampler}: history kept`);
  }
});

test("samplers: same seed gives identical samples, a different seed different ones", async () => {
  for (const sampler of SAMPLER_NAMES) {
    const a1 = await sample(base(sampler));
    const a2 = await sample(base(sampler));
    const b1 = await sample(base(sampler, { seed: "1235" }));
    assert.deepEqual(bits(a1.samples), bits(a2.samples), sampler);
    assert.notDeepEqual(bits(a1.samples), bits(b1.samples), sampler);
  }
});

test("samplers: finishRequested stops after the step where it turns true and returns that step's x0", async () => {
  for (const sampler of SAMPLER_NAMES) {
    let calls = 0;
    const x0s: Float32Array[] = [];
    const res = await sample(base(sampler, {
      predict: async (x, r, w, c) => { calls++; return gaussianPredict()(x, r, w, c); },
      onStep: (info) => x0s.push(info.x0),
      finishRequested: () => calls >= 3,
    }));
    assert.equal(calls, 3, sampler);
    assert.equal(res.stepsRun, 3);
    assert.equal(res.noisyAt, 0);
    assert.equal(res.samples, x0s[2]);
  }
});

test("samplers: an abort throws an Error named AbortError before the next model call (within one step)", async () => {
  for (const sampler of SAMPLER_NAMES) {
    const ac = new AbortController();
    let calls = 0;
    const run = sample(base(sampler, {
      signal: ac.signal,
      predict: async (x, r, w, c) => { calls++; if (calls === 4) ac.abort(); return gaussianPredict()(x, r, w, c); },
    }));
    await assert.rejects(run, (e: Error) => e.name === "AbortError" && e instanceof Error);
    assert.equal(calls, 4, sampler);
    const ac2 = new AbortController();
    ac2.abort();
    let called = false;
    await assert.rejects(sample(base(sampler, { signal: ac2.signal, predict: async () => { called = true; return { cond: new Float32Array(n) }; } })), { name: "AbortError" });
    assert.equal(called, false);
  }
});

test("samplers: cfg = 1 asks the model for cond only; cfg ≠ 1 for cond and uncond; the model gets r(t_i) of the shifted grid", async () => {
  const calls: { r: number; withUncond: boolean }[] = [];
  await sample(base("ddim", { guidance: decideGuidance(1), steps: 4, predict: gaussianPredict(0.5, -0.2, 0.8, calls) }));
  assert.deepEqual(calls.map((c) => c.withUncond), [false, false, false, false]);
  assert.deepEqual(calls.map((c) => c.r), [1, 0.75, 0.5, 0.25].map((t) => timestepRatio(t, 2)));
  calls.length = 0;
  await sample(base("ddim", { guidance: decideGuidance(4), steps: 4, denoise: 0.6, predict: gaussianPredict(0.5, -0.2, 0.8, calls) }));
  assert.deepEqual(calls.map((c) => c.withUncond), [true, true, true, true]);
  assert.ok(Math.abs(calls[0].r - timestepRatio(0.6, 2)) < 1e-15);
});

test("samplers: addNoise noises x to a(t_s)·x + b(t_s)·ε of the seed's main stream; addNoise=false passes x through", async () => {
  const init = new Float32Array(n).map((_, k) => Math.sin(k));
  let seen: Float32Array | undefined;
  const probe: SampleOptions["predict"] = async (x, r, w, c) => { seen ??= Float32Array.from(x); return gaussianPredict()(x, r, w, c); };
  await sample(base("ddim", { x: init, denoise: 0.7, steps: 5, startStep: 2, predict: probe }));
  const t = 0.7 * (5 - 2) / 5;
  const p = schedulePoint(t, 2);
  const eps = gaussianNoise(1234n, n);
  for (let k = 0; k < n; k++) assert.equal(seen![k], Math.fround(p.a * init[k] + p.b * eps[k]));
  seen = undefined;
  await sample(base("ddim", { x: init, addNoise: false, predict: probe }));
  assert.deepEqual(bits(seen!), bits(init));
});

test("samplers: onStep reports step/total within the window, t, the model's input x and its x0", async () => {
  const infos: { step: number; total: number; index: number; t: number }[] = [];
  await sample(base("euler", { startStep: 3, endStep: 7, onStep: ({ step, total, index, t, x, x0 }) => {
    assert.equal(x.length, n);
    assert.equal(x0.length, n);
    infos.push({ step, total, index, t });
  } }));
  assert.deepEqual(infos.map((i) => [i.step, i.total, i.index]), [[1, 4, 3], [2, 4, 4], [3, 4, 5], [4, 4, 6]]);
  assert.ok(Math.abs(infos[0].t - 0.7) < 1e-15);
});

test("samplers: a window ending early without returnLeftoverNoise returns its last x0 (noisyAt 0)", async () => {
  let lastX0: Float32Array | undefined;
  const res = await sample(base("ddpm", { endStep: 6, onStep: (i) => (lastX0 = i.x0) }));
  assert.equal(res.noisyAt, 0);
  assert.equal(res.samples, lastX0);
});

test("samplers: euler is DDIM and euler_ancestral is DDPM in the (a, b) view (equal up to float32 rounding)", async () => {
  const pairs: [SamplerName, SamplerName][] = [["euler", "ddim"], ["euler_ancestral", "ddpm"]];
  for (const [p, q] of pairs) {
    const x = await sample(base(p));
    const y = await sample(base(q));
    for (let k = 0; k < n; k++) assert.ok(Math.abs(x.samples[k] - y.samples[k]) < 1e-4, `${p} vs ${q} at ${k}`);
  }
});

test("samplers: denoise 0 returns the input unchanged without calling the model", async () => {
  const init = new Float32Array(n).fill(0.25);
  const res = await sample(base("ddpm", { x: init, denoise: 0, predict: async () => { throw new Error("called"); } }));
  assert.deepEqual(bits(res.samples), bits(init));
  assert.equal(res.stepsRun, 0);
});

test("samplers: bad options are rejected with errors that name them", async () => {
  await assert.rejects(sample(base("ddim", { shape: [1, 4, 8, 8] })), /shape/);
  await assert.rejects(sample(base("ddim", { startStep: 5, endStep: 5 })), /window/);
  await assert.rejects(sample(base("ddim", { steps: 0 })), /steps/);
  await assert.rejects(sample(base("ddim", { denoise: 1.5 })), /denoise/);
  await assert.rejects(sample(base("nope" as SamplerName)), /unknown sampler/);
  await assert.rejects(sample(base("ddim", { seed: [1, 2, 3] })), /seeds/);
  await assert.rejects(sample(base("ddim", { predict: async () => ({ cond: new Float32Array(3) }) })), /Float32Array of 512/);
  await assert.rejects(sample(base("ddim", { guidance: decideGuidance(2), predict: async () => ({ cond: new Float32Array(n) }) })), /unconditional/);
  await assert.rejects(sample(base("ddim", { predict: async () => ({ cond: new Float32Array(n).fill(Number.NaN), uncond: new Float32Array(n) }) })), /non-finite/);
  assert.deepEqual(Object.keys(SAMPLERS).sort(), [...SAMPLER_NAMES].sort());
});

test("samplers: guidance without rescale hands the update exactly cfgCombine's ε̂ and the x0 it implies", async () => {
  const seen: { eps: Float32Array; x0: Float32Array; x: Float32Array; a: number; b: number }[] = [];
  const spy = { ...SAMPLERS.ddim, step: (ctx: Parameters<typeof SAMPLERS.ddim.step>[0]) => {
    seen.push({ eps: ctx.eps.slice(), x0: ctx.x0.slice(), x: ctx.x.slice(), a: ctx.cur.a, b: ctx.cur.b });
    return SAMPLERS.ddim.step(ctx);
  } };
  const preds: { cond: Float32Array; uncond: Float32Array }[] = [];
  const predict = gaussianPredict();
  await sample(base("ddim", { sampler: spy, guidance: decideGuidance(4.5, 0), predict: async (...a) => { const p = await predict(...a); preds.push({ cond: p.cond.slice(), uncond: p.uncond!.slice() }); return p; } }));
  assert.equal(seen.length, 9);
  seen.forEach((s, i) => {
    const eps = cfgCombine(preds[i].uncond, preds[i].cond, 4.5);
    assert.deepEqual(bits(s.eps), bits(eps), `ε̂ at step ${i}`);
    assert.deepEqual(bits(s.x0), bits(s.x.map((v, k) => (v - s.b * eps[k]) / s.a)), `x0 at step ${i}`);
  });
});
