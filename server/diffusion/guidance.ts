/**
 * Classifier-free guidance, guidance rescale and img2img noising, as Stable Cascade's release
 * pipeline does them. Pure functions over Float32Array; outputs are fresh arrays unless `out` is given.
 */

/**
 * How a sampler guides, decided once from cfg and rescale: the model runner is sized from it (a
 * batch of 2B with the unconditional half first, or B) and the sampler combines by it.
 */
export interface Guidance {
  /** cfg w; 1 means the conditional prediction alone */
  readonly scale: number;
  /** guidance rescale ρ ∈ [0, 1]; 0 = off */
  readonly rescale: number;
  /** Whether each model run also predicts the unconditional half (w ≠ 1). */
  readonly withUncond: boolean;
}

/** The guidance for cfg `w` and rescale `rho`; a RangeError names a value out of range. */
export function decideGuidance(w: number, rho = 0): Guidance {
  if (!Number.isFinite(w)) throw new RangeError(`cfg must be finite, got ${w}`);
  if (!Number.isFinite(rho) || rho < 0 || rho > 1) throw new RangeError(`cfg rescale must be in [0, 1], got ${rho}`);
  return { scale: w, rescale: rho, withUncond: w !== 1 };
}

function sameLength(x: Float32Array, y: Float32Array, what: string): void {
  if (x.length !== y.length) throw new RangeError(`${what}: length mismatch ${x.length} vs ${y.length}`);
}

/** ε̂ = ε_u + w·(ε_c − ε_u), computed in float64 per element and stored as float32. */
export function cfgCombine(uncond: Float32Array, cond: Float32Array, w: number, out: Float32Array = new Float32Array(cond.length)): Float32Array {
  sameLength(uncond, cond, "cfgCombine");
  for (let i = 0; i < cond.length; i++) out[i] = uncond[i] + w * (cond[i] - uncond[i]);
  return out;
}

/** Mean and population standard deviation over the whole tensor (float64 accumulation). */
export function meanStd(x: Float32Array): { mean: number; std: number } {
  const n = x.length;
  if (n === 0) return { mean: 0, std: 0 };
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i];
  const mean = s / n;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] - mean;
    v += d * d;
  }
  return { mean, std: Math.sqrt(v / n) };
}

/**
 * Guidance rescale: ε̂ ← ρ·ε̂·std(ε_c)/std(ε̂) + (1−ρ)·ε̂, std over the whole tensor. ρ = 0 returns ε̂
 * unchanged (same array). The std ratio is the same whether std uses n or n−1. If std(ε̂) is 0 the
 * ratio is taken as 1 (nothing to rescale).
 */
export function rescaleGuidance(guided: Float32Array, cond: Float32Array, rho: number, out: Float32Array = new Float32Array(guided.length)): Float32Array {
  sameLength(guided, cond, "rescaleGuidance");
  if (!Number.isFinite(rho) || rho < 0 || rho > 1) throw new RangeError(`cfg rescale must be in [0, 1], got ${rho}`);
  if (rho === 0) return guided;
  const sc = meanStd(cond).std;
  const sg = meanStd(guided).std;
  const ratio = sg > 0 ? sc / sg : 1;
  const f = rho * ratio + (1 - rho);
  for (let i = 0; i < guided.length; i++) out[i] = guided[i] * f;
  return out;
}

/**
 * The guided noise prediction of one step: cfg (when w ≠ 1 and an uncond prediction is given)
 * followed by rescale (when ρ > 0). With w = 1 the cond prediction is returned as is.
 */
export function guide(cond: Float32Array, uncond: Float32Array | undefined, w: number, rho = 0): Float32Array {
  if (w === 1 || uncond === undefined) {
    if (w !== 1) throw new Error(`cfg ${w} needs an unconditional prediction`);
    return cond;
  }
  const g = cfgCombine(uncond, cond, w);
  return rho > 0 ? rescaleGuidance(g, cond, rho, g) : g;
}

/** x = a·x0 + b·ε (img2img init at t0: a = a(t0, shift), b = b(t0, shift)). */
export function noiseLatent(x0: Float32Array, eps: Float32Array, a: number, b: number, out: Float32Array = new Float32Array(x0.length)): Float32Array {
  sameLength(x0, eps, "noiseLatent");
  for (let i = 0; i < x0.length; i++) out[i] = a * x0[i] + b * eps[i];
  return out;
}

/** Two copies of x back to back: the model input for one batched uncond+cond run (uncond half first). */
export function duplicateBatch(x: Float32Array): Float32Array {
  const out = new Float32Array(2 * x.length);
  out.set(x, 0);
  out.set(x, x.length);
  return out;
}

/**
 * Split a batched model output [2B, ...] into its halves. The unconditional half comes first
 * (the layout of the public ONNX export's pipeline). Returns views, not copies.
 */
export function splitBatch(y: Float32Array): { uncond: Float32Array; cond: Float32Array } {
  if (y.length % 2 !== 0) throw new RangeError(`batched output length ${y.length} is odd`);
  const h = y.length / 2;
  return { uncond: y.subarray(0, h), cond: y.subarray(h) };
}
