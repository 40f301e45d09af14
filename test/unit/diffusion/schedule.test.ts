import { test } from "node:test";
import assert from "node:assert/strict";
import {
  alphaBar, logSNR, signalScale, noiseScale, sigmaOf, timestepRatio, schedulePoint, timeGrid, COSINE_M, LOG_SNR_LIMIT,
} from "../../../server/diffusion/schedule.ts";

test("schedule: r at shift 2 matches CASCADE.md's table (t 0.8, 0.6, 0.4, 0.2 → r 0.8975, 0.7785, 0.6179, 0.3715)", () => {
  const table: [number, string][] = [[0.8, "0.8975"], [0.6, "0.7785"], [0.4, "0.6179"], [0.2, "0.3715"]];
  for (const [t, r] of table) assert.equal(timestepRatio(t, 2).toFixed(4), r, `t=${t}`);
});

test("schedule: at shift 1, r equals t away from the ᾱ clamp (|r − t| < 1e-12 for t in [0.02, 0.98])", () => {
  for (let t = 0.02; t <= 0.98; t += 0.01) assert.ok(Math.abs(timestepRatio(t, 1) - t) < 1e-12, `t=${t}: r=${timestepRatio(t, 1)}`);
});

test("schedule: a(t, shift) = √ᾱ_unshifted(r(t, shift)), the contract a model relies on (shifts 0.5, 1, 2, 3)", () => {
  for (const shift of [0.5, 1, 2, 3]) {
    for (let t = 0; t <= 1.0000001; t += 0.05) {
      const a = signalScale(t, shift);
      assert.ok(Math.abs(a - Math.sqrt(alphaBar(timestepRatio(t, shift)))) < 1e-9, `shift ${shift} t ${t}`);
    }
  }
});

test("schedule: ᾱ is the clamped cosine, a² + b² = 1, σ = b/a, λ is shifted by −2 ln k and clamped to ±9.2102", () => {
  assert.equal(alphaBar(0), 0.9999);
  assert.equal(alphaBar(1), 1e-4);
  const t = 0.37;
  const expected = Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2 / COSINE_M;
  assert.ok(Math.abs(alphaBar(t) - expected) < 1e-15);
  assert.ok(Math.abs(logSNR(t, 2) - (Math.log(expected / (1 - expected)) - 2 * Math.log(2))) < 1e-12);
  assert.equal(logSNR(1, 2), -LOG_SNR_LIMIT);
  assert.equal(logSNR(0, 0.5), LOG_SNR_LIMIT);
  for (const shift of [1, 2]) {
    for (const tt of [0, 0.1, 0.5, 0.9, 1]) {
      const a = signalScale(tt, shift), b = noiseScale(tt, shift);
      assert.ok(Math.abs(a * a + b * b - 1) < 1e-12);
      assert.ok(Math.abs(sigmaOf(tt, shift) - b / a) < 1e-9 * (b / a));
      const p = schedulePoint(tt, shift);
      assert.deepEqual([p.a, p.b, p.r], [a, b, timestepRatio(tt, shift)]);
    }
  }
  assert.throws(() => logSNR(0.5, 0), /shift/);
  assert.throws(() => alphaBar(Number.NaN), /finite/);
});

test("schedule: timeGrid is linspace(t_start, 0, N+1), ends at exactly 0, and rejects bad arguments", () => {
  assert.deepEqual(timeGrid(4), [1, 0.75, 0.5, 0.25, 0]);
  const g = timeGrid(20, 0.6);
  assert.equal(g.length, 21);
  assert.equal(g[0], 0.6);
  assert.equal(g[20], 0);
  for (let i = 0; i <= 20; i++) assert.ok(Math.abs(g[i] - 0.6 * (1 - i / 20)) < 1e-15);
  assert.throws(() => timeGrid(0), /steps/);
  assert.throws(() => timeGrid(2.5), /steps/);
  assert.throws(() => timeGrid(4, 1.2), /denoise/);
});
