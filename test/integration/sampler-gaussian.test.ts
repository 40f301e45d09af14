/**
 * THE GAUSSIAN TEST: every sampler, driven through onnxruntime-node by a model whose output is the
 * exact noise prediction for a known data distribution, must reproduce that distribution.
 *
 * Data: x0 ~ N(μ = 0.5, s² = 0.8²) elementwise (test/fixtures/gaussian/params.json). The models
 * (built by tools/fixtures/make_gaussian_model.py, committed) take `sample` [B,C,H,W] and
 * `timestep_ratio` [B] = r, map r to ᾱ through the *unshifted* clamped cosine (a = √ᾱ, b = √(1−ᾱ)),
 * and output `out_sample`:
 *   model.onnx        E[ε | x_t] = b·(x_t − a·μ)/(a²s² + b²)      (an exact diffusion model)
 *   consistency.onnx  the exact consistency model (probability-flow ODE endpoint) as an ε prediction
 * The samplers pass r for the shifted schedule, so the test also checks the shift/r contract.
 *
 * Tolerances (64 batch items × 4×16×16 = 65,536 values, one seed per item; the runs are
 * deterministic, the sampling error of the statistics is ≈0.003 on the mean and ≈0.3% on the std):
 * - ddpm, euler_ancestral at 50 steps, ddim, euler at 20 steps with model.onnx: |mean − μ| ≤ 0.03
 *   and |std/s − 1| ≤ 10%; dpmpp_2m (second order) at 20 steps: ±3%. With the exact posterior-mean
 *   model, first-order samplers lose some variance at finite step counts; measured: ddpm/euler_a 50
 *   steps −5.0% (shift 1) / −7.7% (shift 2); ddim/euler 20 steps −6.1% / −8.8% (the latter is the
 *   exact discretisation error: DDIM is linear here, its gain gives −8.80%); dpmpp_2m −0.0% / −0.9%.
 *   The reference ddpm converges (below), so the deficit is step size, not a wrong formula.
 * - lcm at 4 and 8 steps with consistency.onnx: |mean − μ| ≤ 0.03, |std/s − 1| ≤ 3%. LCM is a
 *   sampler for consistency-distilled models; with a plain ε-model it returns posterior means
 *   (blurry: std −35…−45% here), which is what it should do, so it is checked against its own model.
 * - ddpm at 1000 steps (16 items): |mean − μ| ≤ 0.03, |std/s − 1| ≤ 2% (the reference converges).
 * - Deliberately broken samplers must FAIL the 10% check: a and b swapped in the DDIM update; the
 *   model given t instead of r at shift 2; DDPM that forgets to take σ out of the ε coefficient.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { sample, type SamplerImpl, type SamplerName, type Predict } from "../../server/diffusion/samplers.ts";
import { decideGuidance } from "../../server/diffusion/guidance.ts";
import { alphaBar, timestepRatio } from "../../server/diffusion/schedule.ts";
import { stats } from "../unit/diffusion/helpers.ts";

const fixtures = fileURLToPath(new URL("../fixtures/gaussian/", import.meta.url));
const params = JSON.parse(readFileSync(fixtures + "params.json", "utf8")) as { mu: number; sd: number };
const MU = params.mu, SD = params.sd;
const MEAN_TOL = 0.03;

let eps: ort.InferenceSession;
let consistency: ort.InferenceSession;
before(async () => {
  eps = await ort.InferenceSession.create(fixtures + "model.onnx");
  consistency = await ort.InferenceSession.create(fixtures + "consistency.onnx");
});

function onnxPredict(session: () => ort.InferenceSession, shape: number[], useT = false): Predict {
  return async (x, r, withUncond, ctx) => {
    assert.equal(withUncond, false);
    const B = shape[0];
    const ratio = new Float32Array(B).fill(useT ? ctx.t : r);
    const out = await session().run({
      sample: new ort.Tensor("float32", x, shape),
      timestep_ratio: new ort.Tensor("float32", ratio, [B]),
    });
    return { cond: out.out_sample.data as Float32Array };
  };
}

async function run(opts: { sampler: SamplerName | SamplerImpl; steps: number; shift: number; batch?: number; model?: "eps" | "consistency"; useT?: boolean }) {
  const B = opts.batch ?? 64;
  const shape = [B, 4, 16, 16];
  const n = shape.reduce((p, d) => p * d, 1);
  const seeds = Array.from({ length: B }, (_, i) => BigInt(1000 + i));
  const res = await sample({
    x: new Float32Array(n), shape, sampler: opts.sampler, steps: opts.steps, shift: opts.shift, seed: seeds, guidance: decideGuidance(1),
    predict: onnxPredict(() => (opts.model === "consistency" ? consistency : eps), shape, opts.useT),
  });
  const st = stats(res.samples);
  return { ...st, dMean: st.mean - MU, dStd: st.std / SD - 1 };
}

function within(r: { dMean: number; dStd: number }, stdTol: number): boolean {
  return Math.abs(r.dMean) <= MEAN_TOL && Math.abs(r.dStd) <= stdTol;
}
const show = (r: { mean: number; std: number; dStd: number }) =>
  `mean ${r.mean.toFixed(4)} (μ ${MU}), std ${r.std.toFixed(4)} (s ${SD}, ${(100 * r.dStd).toFixed(1)}%)`;

test("gaussian fixture: the ONNX model computes E[ε|x_t] with ᾱ from the unshifted cosine of r", async () => {
  const x = new Float32Array([0.1, -1, 2, 0.5, 0.3, 0.2, -0.4, 1.5]);
  for (const r of [0, timestepRatio(0.3, 2), 0.5, 0.99, 1]) {
    const out = await eps.run({ sample: new ort.Tensor("float32", x, [2, 1, 2, 2]), timestep_ratio: new ort.Tensor("float32", new Float32Array([r, r]), [2]) });
    const y = out.out_sample.data as Float32Array;
    const ab = alphaBar(Math.fround(r)), a = Math.sqrt(ab), b = Math.sqrt(1 - ab);
    for (let k = 0; k < x.length; k++) {
      const want = (b * (x[k] - a * MU)) / (ab * SD * SD + b * b);
      assert.ok(Math.abs(y[k] - want) < 1e-4 * (1 + Math.abs(want)), `r ${r} k ${k}: ${y[k]} vs ${want}`);
    }
  }
});

const CASES: [SamplerName, number, number][] = [["ddpm", 50, 0.1], ["euler_ancestral", 50, 0.1], ["ddim", 20, 0.1], ["euler", 20, 0.1], ["dpmpp_2m", 20, 0.03]];
for (const shift of [1, 2]) {
  for (const [sampler, steps, stdTol] of CASES) {
    test(`gaussian: ${sampler} (${steps} steps, shift ${shift}) reproduces N(${MU}, ${SD}²): mean ±${MEAN_TOL}, std ±${stdTol * 100}%`, async (t) => {
      const r = await run({ sampler, steps, shift });
      t.diagnostic(show(r));
      assert.ok(within(r, stdTol), show(r));
    });
  }
  for (const steps of [4, 8]) {
    test(`gaussian: lcm (${steps} steps, shift ${shift}) with the exact consistency model reproduces N(${MU}, ${SD}²): mean ±${MEAN_TOL}, std ±3%`, async (t) => {
      const r = await run({ sampler: "lcm", steps, shift, model: "consistency" });
      t.diagnostic(show(r));
      assert.ok(within(r, 0.03), show(r));
    });
  }
  test(`gaussian: the reference ddpm converges: 1000 steps at shift ${shift} give mean ±${MEAN_TOL}, std ±2%`, async (t) => {
    const r = await run({ sampler: "ddpm", steps: 1000, shift, batch: 16 });
    t.diagnostic(show(r));
    assert.ok(within(r, 0.02), show(r));
  });
}

// Deliberately broken samplers: the same check must fail, or the test proves nothing.
const swappedDdim: SamplerImpl = {
  name: "broken: ddim with a and b swapped",
  deterministic: true,
  step: ({ x0, eps: e, next }) => x0.map((v, k) => next.b * v + next.a * e[k]),
};
const ddpmNoSigmaOut: SamplerImpl = {
  name: "broken: ddpm keeping b' (not √(b'²−σ²)) on ε̂",
  deterministic: false,
  step: ({ x0, eps: e, cur, next, noise }) => {
    const sig = (next.b / cur.b) * Math.sqrt(Math.max(0, 1 - (cur.a * cur.a) / (next.a * next.a)));
    const z = noise();
    return x0.map((v, k) => next.a * v + next.b * e[k] + sig * z[k]);
  },
};

for (const shift of [1, 2]) {
  test(`gaussian: a broken sampler (ddim with a and b swapped, shift ${shift}) FAILS the check`, async (t) => {
    const r = await run({ sampler: swappedDdim, steps: 20, shift });
    t.diagnostic(show(r));
    assert.ok(!within(r, 0.1), show(r));
  });
  test(`gaussian: a broken sampler (ddpm without σ taken out of the ε coefficient, shift ${shift}) FAILS the check`, async (t) => {
    const r = await run({ sampler: ddpmNoSigmaOut, steps: 50, shift });
    t.diagnostic(show(r));
    assert.ok(!within(r, 0.1), show(r));
  });
}
for (const sampler of ["ddpm", "ddim"] as const) {
  test(`gaussian: ${sampler} whose model is given t instead of r (shift 2) FAILS the check`, async (t) => {
    const r = await run({ sampler, steps: sampler === "ddpm" ? 50 : 20, shift: 2, useT: true });
    t.diagnostic(show(r));
    assert.ok(!within(r, 0.1), show(r));
  });
}
