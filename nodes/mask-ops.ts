// Pure mask arithmetic on [B, 1, H, W] tensors (values in [0, 1]).
import type { Tensor } from "./schema.ts";

/** Grows (expand > 0) or shrinks (expand < 0) every mask by |expand| pixels: max (min) over a 3×3
 * square per pixel, or a 3×3 cross with tapered corners (ComfyUI's GrowMask). */
export function growMask(mask: Tensor, expand: number, tapered: boolean): Tensor {
  const [B, , H, W] = mask.shape;
  let cur = Float32Array.from(mask.data);
  const grow = expand > 0;
  for (let it = 0; it < Math.abs(expand); it++) {
    const next = new Float32Array(cur.length);
    for (let b = 0; b < B; b++) {
      const o = b * H * W;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        let v = cur[o + y * W + x];
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
          if (tapered && dy !== 0 && dx !== 0) continue;
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const n = cur[o + yy * W + xx];
          v = grow ? Math.max(v, n) : Math.min(v, n);
        }
        next[o + y * W + x] = v;
      }
    }
    cur = next;
  }
  return { data: cur, shape: [...mask.shape] };
}

/** ComfyUI's FeatherMask: the mask fades to 0 linearly over the given number of pixels at each border. */
export function featherMaskEdges(mask: Tensor, left: number, top: number, right: number, bottom: number): Tensor {
  const [B, , H, W] = mask.shape;
  const out = Float32Array.from(mask.data);
  for (let b = 0; b < B; b++) {
    const o = b * H * W;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      let f = 1;
      if (x < left) f *= (x + 1) / left;
      if (W - 1 - x < right) f *= (W - x) / right;
      if (y < top) f *= (y + 1) / top;
      if (H - 1 - y < bottom) f *= (H - y) / bottom;
      out[o + y * W + x] *= f;
    }
  }
  return { data: out, shape: [...mask.shape] };
}

/** Softens a mask's edges: a box blur of the given radius, run twice (close to a Gaussian). */
export function blurMask(mask: Tensor, radius: number): Tensor {
  if (radius <= 0) return mask;
  const [B, , H, W] = mask.shape;
  let cur = Float32Array.from(mask.data);
  const pass = (src: Float32Array, horizontal: boolean) => {
    const dst = new Float32Array(src.length);
    for (let b = 0; b < B; b++) {
      const o = b * H * W;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        let s = 0, n = 0;
        for (let k = -radius; k <= radius; k++) {
          const yy = horizontal ? y : y + k, xx = horizontal ? x + k : x;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          s += src[o + yy * W + xx];
          n++;
        }
        dst[o + y * W + x] = s / n;
      }
    }
    return dst;
  };
  for (let i = 0; i < 2; i++) cur = pass(pass(cur, true), false);
  return { data: cur, shape: [...mask.shape] };
}

/** The mask of batch item b (a batch of 1 serves every item). */
export function maskPlane(mask: Tensor, b: number): Float32Array {
  const [MB, , H, W] = mask.shape;
  const i = MB === 1 ? 0 : b;
  return mask.data.subarray(i * H * W, (i + 1) * H * W);
}

/** Checks a MASK value: [B, 1, H, W] (a [B, H, W] mask as ComfyUI makes is accepted and reshaped). */
export function asMask(value: unknown, input: string): Tensor {
  const t = value as Tensor;
  if (!t?.data || !Array.isArray(t.shape)) throw new Error(`input "${input}" needs a mask`);
  if (t.shape.length === 3) return { data: t.data, shape: [t.shape[0], 1, t.shape[1], t.shape[2]] };
  if (t.shape.length !== 4 || t.shape[1] !== 1) throw new Error(`input "${input}" needs a mask [B, 1, H, W], got [${t.shape.join(", ")}]`);
  return t;
}
