/**
 * Cheap latent previews: a linear map from latent channels to RGB, no model. preview = clamp(x0ᵀ·F (+ bias), −1, 1) mapped to 0..255.
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
export function latentToRgb(latent: Float32Array, shape: readonly number[], factors: PreviewFactors, bias?: readonly number[]): Uint8Array<ArrayBuffer> {
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


/**
 * Paints colours into a latent through its preview map: where the RGBA paint (h×w, one pixel per
 * latent cell) has alpha a, each batch item's cell moves so its preview becomes
 * (1 − a)·current + a·paint. The move is the smallest one that does it: Δz = F (FᵀF)⁻¹ Δrgb, so
 * channels the preview ignores stay as they are. Works in the preview's unclamped [−1, 1] space.
 */
export function paintLatent(
  latent: Float32Array, shape: readonly number[], factors: PreviewFactors, bias: readonly number[] | undefined,
  paint: Uint8Array,
): Float32Array {
  if (shape.length !== 4) throw new RangeError(`paintLatent needs a [B,C,h,w] shape, got [${shape.join(",")}]`);
  const [B, C, h, w] = shape;
  const plane = h * w;
  if (factors.length !== C) throw new RangeError(`paintLatent: factors must be ${C}×3 for ${C} channels, got ${factors.length}`);
  if (paint.length !== plane * 4) throw new RangeError(`paintLatent: paint must be ${w}×${h} RGBA (${plane * 4} bytes), got ${paint.length}`);
  // Gram matrix G = FᵀF (3×3) and its inverse; a rank-deficient F cannot be painted through.
  const G = [0, 1, 2].map((i) => [0, 1, 2].map((j) => factors.reduce((s, f) => s + f[i] * f[j], 0)));
  const inv = invert3(G);
  if (!inv) throw new RangeError("this latent's preview map cannot show every colour (its factors have rank below 3), so it cannot be painted");
  // P = F·G⁻¹ (C×3): the latent move per unit of preview colour.
  const P = factors.map((f) => [0, 1, 2].map((j) => f[0] * inv[0][j] + f[1] * inv[1][j] + f[2] * inv[2][j]));
  const out = latent.slice();
  for (let b = 0; b < B; b++) {
    const base = b * C * plane;
    for (let p = 0; p < plane; p++) {
      const a = paint[4 * p + 3] / 255;
      if (a === 0) continue;
      const rgb = [bias?.[0] ?? 0, bias?.[1] ?? 0, bias?.[2] ?? 0];
      for (let c = 0; c < C; c++) for (let k = 0; k < 3; k++) rgb[k] += latent[base + c * plane + p] * factors[c][k];
      const d = [0, 1, 2].map((k) => a * (paint[4 * p + k] / 127.5 - 1 - rgb[k]));
      for (let c = 0; c < C; c++) out[base + c * plane + p] += P[c][0] * d[0] + P[c][1] * d[1] + P[c][2] * d[2];
    }
  }
  return out;
}

function invert3(m: number[][]): number[][] | undefined {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h, Bc = -(d * i - f * g), Cc = d * h - e * g;
  const det = a * A + b * Bc + c * Cc;
  const scale = Math.max(...m.flat().map(Math.abs));
  if (!(Math.abs(det) > 1e-9 * scale ** 3)) return undefined;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [Bc / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [Cc / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}
