/**
 * The Stable Cascade noise schedule, as the release defines it.
 *
 * Conventions: t ∈ [0, 1], t = 1 is pure noise. x_t = a(t)·x0 + b(t)·ε with a² + b² = 1.
 * A shift k scales the signal-to-noise ratio by 1/k² (λ ← λ − 2 ln k). The model is never given
 * t itself but r(t, k): the t at which the *unshifted* cosine has the same ᾱ, so that
 * ᾱ_unshifted(r(t, k)) = a(t, k)² (up to float rounding).
 * Pure functions of numbers; no I/O.
 */

/** The cosine schedule's offset s. */
export const COSINE_S = 0.008;
/** m = cos²((s/(1+s))·π/2), the normaliser that makes ᾱ(0) = 1 before clamping. */
export const COSINE_M = Math.cos((COSINE_S / (1 + COSINE_S)) * (Math.PI / 2)) ** 2;
/** ᾱ is clamped to [ALPHA_BAR_MIN, ALPHA_BAR_MAX]. */
export const ALPHA_BAR_MIN = 1e-4;
export const ALPHA_BAR_MAX = 0.9999;
/** |λ| is clamped to this after the shift: ln(0.9999/0.0001) rounded as in CASCADE.md. */
export const LOG_SNR_LIMIT = 9.2102;

const HALF_PI = Math.PI / 2;

function checkT(t: number): void {
  if (!Number.isFinite(t)) throw new RangeError(`t must be a finite number, got ${t}`);
}
function checkShift(shift: number): void {
  if (!Number.isFinite(shift) || shift <= 0) throw new RangeError(`shift must be a positive finite number, got ${shift}`);
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** ᾱ(t) = clamp(cos²(((t+s)/(1+s))·π/2) / m, 1e-4, 0.9999) — the unshifted cosine. */
export function alphaBar(t: number): number {
  checkT(t);
  const c = Math.cos(((t + COSINE_S) / (1 + COSINE_S)) * HALF_PI);
  const v = (c * c) / COSINE_M;
  return Math.min(ALPHA_BAR_MAX, Math.max(ALPHA_BAR_MIN, v));
}

/** λ(t, k) = clamp(ln(ᾱ/(1−ᾱ)) − 2 ln k, −9.2102, 9.2102). */
export function logSNR(t: number, shift = 1): number {
  checkShift(shift);
  const ab = alphaBar(t);
  let l = Math.log(ab / (1 - ab));
  if (shift !== 1) l -= 2 * Math.log(shift);
  return Math.min(LOG_SNR_LIMIT, Math.max(-LOG_SNR_LIMIT, l));
}

/** Signal scale a = √sigmoid(λ). */
export function signalScale(t: number, shift = 1): number {
  return Math.sqrt(sigmoid(logSNR(t, shift)));
}

/** Noise scale b = √sigmoid(−λ). */
export function noiseScale(t: number, shift = 1): number {
  return Math.sqrt(sigmoid(-logSNR(t, shift)));
}

/** σ = b/a, the noise level in the "sigma" (variance-exploding) view; x_σ = x/a. */
export function sigmaOf(t: number, shift = 1): number {
  const l = logSNR(t, shift);
  return Math.exp(-l / 2);
}

/**
 * r(t, k): the model's `timestep_ratio`. The shifted t mapped back through the unshifted cosine:
 * r = acos(√(sigmoid(λ)·m)) / (π/2) · (1+s) − s.
 */
export function timestepRatio(t: number, shift = 1): number {
  const v = sigmoid(logSNR(t, shift)) * COSINE_M;
  return (Math.acos(Math.sqrt(Math.min(1, v))) / HALF_PI) * (1 + COSINE_S) - COSINE_S;
}

/** Everything a sampler step needs at one t. */
export interface SchedulePoint {
  t: number;
  a: number;
  b: number;
  /** σ = b/a */
  sigma: number;
  /** λ = ln(a²/b²) */
  logSNR: number;
  /** the model's timestep_ratio */
  r: number;
}

export function schedulePoint(t: number, shift = 1): SchedulePoint {
  const l = logSNR(t, shift);
  const aa = Math.sqrt(sigmoid(l));
  const bb = Math.sqrt(sigmoid(-l));
  const v = sigmoid(l) * COSINE_M;
  const rr = (Math.acos(Math.sqrt(Math.min(1, v))) / HALF_PI) * (1 + COSINE_S) - COSINE_S;
  return { t, a: aa, b: bb, sigma: Math.exp(-l / 2), logSNR: l, r: rr };
}

/**
 * The sampler's time grid: t_i = linspace(tStart, 0, steps + 1), i = 0..steps. t_steps is exactly 0.
 * Computed as tStart·(steps − i)/steps so that a window [k, N) sees the very same numbers as a full run.
 */
export function timeGrid(steps: number, tStart = 1): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be an integer ≥ 1, got ${steps}`);
  if (!Number.isFinite(tStart) || tStart < 0 || tStart > 1) throw new RangeError(`t_start (denoise) must be in [0, 1], got ${tStart}`);
  const out: number[] = new Array(steps + 1);
  for (let i = 0; i <= steps; i++) out[i] = (tStart * (steps - i)) / steps;
  return out;
}
