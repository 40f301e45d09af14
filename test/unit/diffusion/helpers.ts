import { alphaBar } from "../../../server/diffusion/schedule.ts";
import type { Predict } from "../../../server/diffusion/samplers.ts";

/** E[ε | x_t] for x0 ~ N(mu, sd²), given r (unshifted t), as the Gaussian ONNX fixture computes it. */
export function gaussianEps(x: Float32Array, r: number, mu: number, sd: number): Float32Array {
  const ab = alphaBar(r);
  const a = Math.sqrt(ab), b = Math.sqrt(1 - ab);
  const out = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) out[k] = (b * (x[k] - a * mu)) / (a * a * sd * sd + b * b);
  return out;
}

/** A predictor whose cond / uncond halves are exact Gaussian models with different means. */
export function gaussianPredict(muCond = 0.5, muUncond = -0.2, sd = 0.8, calls: { r: number; withUncond: boolean }[] = []): Predict {
  return async (x, r, withUncond) => {
    calls.push({ r, withUncond });
    return withUncond ? { cond: gaussianEps(x, r, muCond, sd), uncond: gaussianEps(x, r, muUncond, sd) } : { cond: gaussianEps(x, r, muCond, sd) };
  };
}

export const bits = (f: Float32Array) => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));

export function stats(x: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  let q = 0;
  for (const v of x) q += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(q / x.length) };
}
