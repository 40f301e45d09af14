/**
 * Cheap latent previews: a linear map from latent channels to RGB (../shared/CASCADE.md, "Cheap
 * previews"), no model. preview = clamp(x0ᵀ·F (+ bias), −1, 1) mapped to 0..255.
 */

/**
 * Stage B (4 channels) latent→RGB factors, rows = channels, columns = R, G, B. They apply to Stage B's
 * sampling-space latent (the one Stage A multiplies by 0.43 before decoding).
 */
export const STAGE_B_PREVIEW_FACTORS: readonly (readonly [number, number, number])[] = [
  [0.1121, 0.2006, 0.1023],
  [-0.2093, -0.0222, -0.0195],
  [-0.3087, -0.1535, 0.0366],
  [0.029, -0.1574, -0.4078],
];

export type PreviewFactors = readonly (readonly number[])[];

export interface RgbImage {
  /** RGB bytes, HWC (row-major, 3 per pixel) */
  data: Uint8Array;
  width: number;
  height: number;
}

function toByte(v: number): number {
  const c = v < -1 ? -1 : v > 1 ? 1 : v;
  return Math.round((c + 1) * 127.5);
}

/**
 * Latent [C, h, w] (or [1, C, h, w]: the first batch item of a larger batch is used when given
 * [B, C, h, w]) → RGB bytes HWC of size h×w. factors: C rows of 3; bias: 3 values (optional).
 * A NaN channel value maps to 128 (mid grey).
 */
export function latentToRgb(latent: Float32Array, shape: readonly number[], factors: PreviewFactors, bias?: readonly number[]): Uint8Array {
  let C: number, h: number, w: number;
  if (shape.length === 3) [C, h, w] = shape;
  else if (shape.length === 4) [, C, h, w] = shape;
  else throw new RangeError(`latentToRgb needs a [C,h,w] or [B,C,h,w] shape, got [${shape.join(",")}]`);
  if (factors.length !== C || factors.some((row) => row.length !== 3)) {
    throw new RangeError(`latentToRgb: factors must be ${C}×3 for ${C} channels, got ${factors.length}×${factors[0]?.length ?? 0}`);
  }
  if (bias !== undefined && bias.length !== 3) throw new RangeError(`latentToRgb: bias must have 3 values, got ${bias.length}`);
  const plane = h * w;
  if (latent.length < C * plane) throw new RangeError(`latentToRgb: latent has ${latent.length} values, shape needs ${C * plane}`);
  const out = new Uint8Array(plane * 3);
  const b0 = bias?.[0] ?? 0, b1 = bias?.[1] ?? 0, b2 = bias?.[2] ?? 0;
  for (let p = 0; p < plane; p++) {
    let r = b0, g = b1, bl = b2;
    for (let c = 0; c < C; c++) {
      const v = latent[c * plane + p];
      const f = factors[c];
      r += v * f[0];
      g += v * f[1];
      bl += v * f[2];
    }
    out[3 * p] = Number.isNaN(r) ? 128 : toByte(r);
    out[3 * p + 1] = Number.isNaN(g) ? 128 : toByte(g);
    out[3 * p + 2] = Number.isNaN(bl) ? 128 : toByte(bl);
  }
  return out;
}

/**
 * Resize an RGB (or any `channels`-interleaved) byte image. "nearest" picks the source pixel whose
 * area holds the target pixel's centre; "bilinear" interpolates between pixel centres (edges clamped).
 */
export function resizeRgb(
  src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number,
  mode: "nearest" | "bilinear" = "bilinear", channels = 3,
): Uint8Array {
  for (const [v, what] of [[width, "width"], [height, "height"], [outWidth, "outWidth"], [outHeight, "outHeight"], [channels, "channels"]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`resizeRgb: ${what} must be a positive integer, got ${v}`);
  }
  if (src.length !== width * height * channels) throw new RangeError(`resizeRgb: ${src.length} bytes for ${width}×${height}×${channels}`);
  const out = new Uint8Array(outWidth * outHeight * channels);
  const sx = width / outWidth, sy = height / outHeight;
  if (mode === "nearest") {
    for (let y = 0; y < outHeight; y++) {
      const yy = Math.min(height - 1, Math.floor((y + 0.5) * sy));
      for (let x = 0; x < outWidth; x++) {
        const xx = Math.min(width - 1, Math.floor((x + 0.5) * sx));
        const si = (yy * width + xx) * channels, di = (y * outWidth + x) * channels;
        for (let c = 0; c < channels; c++) out[di + c] = src[si + c];
      }
    }
    return out;
  }
  for (let y = 0; y < outHeight; y++) {
    const fy = Math.min(height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy), y1 = Math.min(height - 1, y0 + 1), wy = fy - y0;
    for (let x = 0; x < outWidth; x++) {
      const fx = Math.min(width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx), x1 = Math.min(width - 1, x0 + 1), wx = fx - x0;
      const i00 = (y0 * width + x0) * channels, i01 = (y0 * width + x1) * channels;
      const i10 = (y1 * width + x0) * channels, i11 = (y1 * width + x1) * channels;
      const di = (y * outWidth + x) * channels;
      for (let c = 0; c < channels; c++) {
        const top = src[i00 + c] + (src[i01 + c] - src[i00 + c]) * wx;
        const bot = src[i10 + c] + (src[i11 + c] - src[i10 + c]) * wx;
        out[di + c] = Math.round(top + (bot - top) * wy);
      }
    }
  }
  return out;
}

/** latentToRgb then resize so the longer side is `maxSide` (aspect kept); returns the image with its size. */
export function latentPreview(
  latent: Float32Array, shape: readonly number[], factors: PreviewFactors,
  opts: { bias?: readonly number[]; maxSide?: number; mode?: "nearest" | "bilinear" } = {},
): RgbImage {
  const h = shape[shape.length - 2], w = shape[shape.length - 1];
  const rgb = latentToRgb(latent, shape, factors, opts.bias);
  const maxSide = opts.maxSide;
  if (!maxSide || Math.max(w, h) === maxSide) return { data: rgb, width: w, height: h };
  const scale = maxSide / Math.max(w, h);
  const W = Math.max(1, Math.round(w * scale)), H = Math.max(1, Math.round(h * scale));
  return { data: resizeRgb(rgb, w, h, W, H, opts.mode ?? (scale >= 1 ? "nearest" : "bilinear")), width: W, height: H };
}

