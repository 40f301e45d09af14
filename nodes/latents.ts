// Latent editing at the stage boundary: blend, composite, transform, renoise, masks painted over
// a preview, and branching one Stage C latent into several seeds. Stage B sees the Stage C latent
// only through a resize and a 1×1 projection, so these edits are meaningful there (CASCADE.md).
import sharp from "sharp";
import { gaussianNoise, noiseScale, signalScale } from "../server/diffusion/index.ts";
import { resizePlanes, seedOf } from "./cascade.ts";
import type { Latent, NodeDef, Tensor } from "./schema.ts";
import { estimateBranchSeeds, estimateLatentTransform, estimateMaskFromPreview, sameLatentAs } from "./memory-estimates.ts";

const CATEGORY = "latent";

function latentOf(value: unknown, input: string): Latent {
  const l = value as Latent;
  if (!l?.samples?.data) throw new Error(`input "${input}" needs a latent`);
  return l;
}

/** b resized to a's spatial size (and repeated to its batch), so edits line up cell by cell. */
function aligned(a: Tensor, b: Tensor, what: string): Tensor {
  if (a.shape[1] !== b.shape[1]) throw new Error(`${what} has ${b.shape[1]} channels, the base latent has ${a.shape[1]}: both must be from the same stage`);
  let t = resizePlanes(b, a.shape[2], a.shape[3]);
  if (t.shape[0] !== a.shape[0]) {
    if (t.shape[0] !== 1) throw new Error(`${what} has batch ${t.shape[0]}, the base latent has ${a.shape[0]}`);
    const data = new Float32Array(a.data.length);
    for (let i = 0; i < a.shape[0]; i++) data.set(t.data, i * t.data.length);
    t = { data, shape: [...a.shape] };
  }
  return t;
}

export const LatentBlend: NodeDef = {
  type: "LatentBlend",
  displayName: "Latent Blend",
  category: CATEGORY,
  description: "Mixes two latents of the same stage: a·(1 − factor) + b·factor. b is resized to a's size.",
  inputs: [
    { name: "a", type: "LATENT" },
    { name: "b", type: "LATENT" },
    { name: "factor", type: "FLOAT", default: 0.5, min: 0, max: 1, step: 0.01 },
  ],
  outputs: [{ name: "latent", type: "LATENT" }],
  estimateMemory: sameLatentAs("a"),
  execute({ a, b, factor }) {
    const la = latentOf(a, "a"), lb = latentOf(b, "b");
    if (la.stage !== lb.stage) throw new Error(`cannot blend a Stage ${la.stage.toUpperCase()} latent with a Stage ${lb.stage.toUpperCase()} latent`);
    const tb = aligned(la.samples, lb.samples, "input \"b\"");
    const f = factor as number;
    const data = new Float32Array(la.samples.data.length);
    for (let i = 0; i < data.length; i++) data[i] = la.samples.data[i] * (1 - f) + tb.data[i] * f;
    return { latent: { ...la, samples: { data, shape: [...la.samples.shape] } } satisfies Latent };
  },
};

/**
 * A [h, w] weight map: 1 inside the rectangle (fractions of the latent), with a linear feather on
 * the edges that lie inside the latent (an edge on the border has nothing to blend with).
 */
export function rectangleMask(h: number, w: number, x: number, y: number, rw: number, rh: number, feather: number): Float32Array {
  const m = new Float32Array(h * w);
  const x0 = x * w, x1 = (x + rw) * w, y0 = y * h, y1 = (y + rh) * h;
  const axis = (center: number, lo: number, hi: number, size: number) => {
    const dLo = lo <= 0 ? Infinity : center - lo;
    const dHi = hi >= size ? Infinity : hi - center;
    const d = Math.min(dLo, dHi);
    if (feather <= 0) return d > 0 ? 1 : 0;
    return Math.min(1, Math.max(0, d / (feather * size) + 0.5));
  };
  for (let r = 0; r < h; r++) {
    const wy = axis(r + 0.5, y0, y1, h);
    for (let c = 0; c < w; c++) m[r * w + c] = wy * axis(c + 0.5, x0, x1, w);
  }
  return m;
}

/** Box-blurs a weight map by `radius` cells (feathering a painted mask). */
function blurMask(m: Float32Array, h: number, w: number, radius: number): Float32Array {
  if (radius <= 0) return m;
  const out = new Float32Array(m.length);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      let sum = 0, n = 0;
      for (let dy = -radius; dy <= radius; dy++) for (let dx = -radius; dx <= radius; dx++) {
        const rr = r + dy, cc = c + dx;
        if (rr >= 0 && rr < h && cc >= 0 && cc < w) { sum += m[rr * w + cc]; n++; }
      }
      out[r * w + c] = sum / n;
    }
  }
  return out;
}

export const LatentComposite: NodeDef = {
  type: "LatentComposite",
  displayName: "Latent Composite",
  category: CATEGORY,
  description: "Pastes the overlay onto the base where the mask is set, or inside a rectangle (x, y, width, height as fractions of the latent), with a soft edge (feather, a fraction of the size).",
  inputs: [
    { name: "base", type: "LATENT" },
    { name: "overlay", type: "LATENT" },
    { name: "mask", type: "MASK", optional: true },
    { name: "x", type: "FLOAT", default: 0.5, min: 0, max: 1, step: 0.05 },
    { name: "y", type: "FLOAT", default: 0, min: 0, max: 1, step: 0.05 },
    { name: "width", type: "FLOAT", default: 0.5, min: 0, max: 1, step: 0.05 },
    { name: "height", type: "FLOAT", default: 1, min: 0, max: 1, step: 0.05 },
    { name: "feather", type: "FLOAT", default: 0.1, min: 0, max: 0.5, step: 0.01 },
  ],
  outputs: [{ name: "latent", type: "LATENT" }],
  estimateMemory: sameLatentAs("base"),
  execute({ base, overlay, mask, x, y, width, height, feather }) {
    const lb = latentOf(base, "base"), lo = latentOf(overlay, "overlay");
    if (lb.stage !== lo.stage) throw new Error(`cannot composite a Stage ${lo.stage.toUpperCase()} overlay onto a Stage ${lb.stage.toUpperCase()} base`);
    const [B, C, h, w] = lb.samples.shape;
    const over = aligned(lb.samples, lo.samples, "input \"overlay\"");
    let weights: Float32Array;
    if (mask) {
      const m = mask as Tensor;
      const small = resizePlanes({ data: m.data.subarray(0, m.shape[2] * m.shape[3]), shape: [1, 1, m.shape[2], m.shape[3]] }, h, w);
      weights = blurMask(small.data, h, w, Math.round((feather as number) * Math.max(h, w)));
    } else {
      weights = rectangleMask(h, w, x as number, y as number, width as number, height as number, feather as number);
    }
    const data = new Float32Array(lb.samples.data.length);
    const plane = h * w;
    for (let p = 0; p < B * C; p++) {
      for (let i = 0; i < plane; i++) {
        const k = p * plane + i;
        data[k] = lb.samples.data[k] * (1 - weights[i]) + over.data[k] * weights[i];
      }
    }
    return { latent: { ...lb, samples: { data, shape: [B, C, h, w] } } satisfies Latent };
  },
};

export const LatentTransform: NodeDef = {
  type: "LatentTransform",
  displayName: "Latent Transform",
  category: CATEGORY,
  description: "Flips, shifts (in latent cells, wrapping around), crops (fractions) and rescales a latent: move or mirror the composition before Stage B.",
  inputs: [
    { name: "latent", type: "LATENT" },
    { name: "flip", type: "COMBO", default: "none", options: ["none", "horizontal", "vertical", "both"] },
    { name: "shift_x", type: "INT", default: 0, min: -512, max: 512 },
    { name: "shift_y", type: "INT", default: 0, min: -512, max: 512 },
    { name: "crop_x", type: "FLOAT", default: 0, min: 0, max: 1, step: 0.05 },
    { name: "crop_y", type: "FLOAT", default: 0, min: 0, max: 1, step: 0.05 },
    { name: "crop_width", type: "FLOAT", default: 1, min: 0.05, max: 1, step: 0.05 },
    { name: "crop_height", type: "FLOAT", default: 1, min: 0.05, max: 1, step: 0.05 },
    { name: "scale", type: "FLOAT", default: 1, min: 0.25, max: 4, step: 0.05 },
  ],
  outputs: [{ name: "latent", type: "LATENT" }],
  estimateMemory: estimateLatentTransform,
  execute(inputs) {
    const l = latentOf(inputs.latent, "latent");
    const [B, C, h, w] = l.samples.shape;
    const flip = String(inputs.flip);
    const fx = flip === "horizontal" || flip === "both", fy = flip === "vertical" || flip === "both";
    const sx = inputs.shift_x as number, sy = inputs.shift_y as number;
    const cx0 = Math.min(w - 1, Math.floor((inputs.crop_x as number) * w)), cy0 = Math.min(h - 1, Math.floor((inputs.crop_y as number) * h));
    const cw = Math.max(1, Math.min(w - cx0, Math.round((inputs.crop_width as number) * w))), chh = Math.max(1, Math.min(h - cy0, Math.round((inputs.crop_height as number) * h)));
    const data = new Float32Array(B * C * chh * cw);
    for (let p = 0; p < B * C; p++) {
      for (let r = 0; r < chh; r++) {
        for (let c = 0; c < cw; c++) {
          // Destination cell (r, c) of the crop reads the flipped, shifted source.
          let srcR = cy0 + r, srcC = cx0 + c;
          srcR = (((srcR - sy) % h) + h) % h;
          srcC = (((srcC - sx) % w) + w) % w;
          if (fy) srcR = h - 1 - srcR;
          if (fx) srcC = w - 1 - srcC;
          data[p * chh * cw + r * cw + c] = l.samples.data[p * h * w + srcR * w + srcC];
        }
      }
    }
    let samples: Tensor = { data, shape: [B, C, chh, cw] };
    const scale = inputs.scale as number;
    if (scale !== 1) samples = resizePlanes(samples, Math.max(1, Math.round(chh * scale)), Math.max(1, Math.round(cw * scale)));
    return { latent: { ...l, samples } satisfies Latent };
  },
};

export const LatentRenoise: NodeDef = {
  type: "LatentRenoise",
  displayName: "Latent Renoise",
  category: CATEGORY,
  description: "Adds noise up to t = strength (a variation strength). A CascadeSampler given this latent resamples from t onwards (its denoise and add_noise are then taken from the latent).",
  inputs: [
    { name: "latent", type: "LATENT" },
    { name: "strength", type: "FLOAT", default: 0.5, min: 0, max: 1, step: 0.01 },
    { name: "seed", type: "INT", default: 0, min: 0, seed: true },
    { name: "shift", type: "FLOAT", default: 0, min: 0, max: 10, step: 0.1, description: "0 = the stage's default (C: 2, B: 1); use the sampler's shift" },
  ],
  outputs: [{ name: "latent", type: "LATENT" }],
  estimateMemory: sameLatentAs("latent"),
  execute({ latent, strength, seed, shift }) {
    const l = latentOf(latent, "latent");
    const t = strength as number;
    if (t <= 0) return { latent: l };
    const k = (shift as number) > 0 ? (shift as number) : l.stage === "c" ? 2 : 1;
    const s = seedOf(seed);
    const a = signalScale(t, k), b = noiseScale(t, k);
    const noise = gaussianNoise(s, l.samples.data.length);
    const data = new Float32Array(noise.length);
    for (let i = 0; i < data.length; i++) data[i] = a * l.samples.data[i] + b * noise[i];
    return { latent: { ...l, samples: { data, shape: [...l.samples.shape] }, noisyAt: t, renoiseShift: k } as Latent };
  },
};

export const MaskFromPreview: NodeDef = {
  type: "MaskFromPreview",
  displayName: "Mask From Preview",
  category: CATEGORY,
  description: "A mask painted in the editor over a latent's preview (a gate's preview can be painted on). White = 1. Sized to the latent.",
  inputs: [
    { name: "latent", type: "LATENT" },
    { name: "mask", type: "STRING", default: "", paint: true, description: "painted in the editor (PNG data URL)" },
    { name: "invert", type: "BOOLEAN", default: false },
  ],
  outputs: [{ name: "mask", type: "MASK" }],
  estimateMemory: estimateMaskFromPreview,
  async execute({ latent, mask, invert }) {
    const l = latentOf(latent, "latent");
    const [, , h, w] = l.samples.shape;
    const text = String(mask);
    let data = new Float32Array(h * w);
    if (text) {
      const m = /^data:image\/(png|jpeg|webp);base64,(.+)$/.exec(text);
      if (!m) throw new Error(`input "mask" must be a PNG data URL painted in the editor`);
      let bytes: Buffer;
      try {
        bytes = await sharp(Buffer.from(m[2], "base64")).ensureAlpha().resize(w, h, { fit: "fill" }).raw().toBuffer();
      } catch (err) {
        throw new Error(`input "mask" is not a readable image: ${(err as Error).message}`);
      }
      for (let i = 0; i < h * w; i++) {
        const lum = (bytes[i * 4] + bytes[i * 4 + 1] + bytes[i * 4 + 2]) / (3 * 255);
        data[i] = lum * (bytes[i * 4 + 3] / 255);
      }
    }
    if (invert) data = data.map((v) => 1 - v);
    return { mask: { data, shape: [1, 1, h, w] } satisfies Tensor };
  },
};

export const BranchSeeds: NodeDef = {
  type: "BranchSeeds",
  displayName: "Branch Seeds",
  category: CATEGORY,
  description: "Turns one latent into a batch, one item per seed (a list like \"7, 8, 42\", or `count` seeds from `seed`), so one queue runs Stage B and A for several seeds side by side. Each result keeps its seed.",
  inputs: [
    { name: "latent", type: "LATENT" },
    { name: "seed", type: "INT", default: 0, min: 0, seed: true },
    { name: "count", type: "INT", default: 4, min: 1, max: 32 },
    { name: "seeds", type: "STRING", default: "", description: "optional explicit list, overrides seed and count" },
  ],
  outputs: [{ name: "latent", type: "LATENT" }],
  estimateMemory: estimateBranchSeeds,
  execute({ latent, seed, count, seeds }) {
    const l = latentOf(latent, "latent");
    if (l.samples.shape[0] !== 1) throw new Error(`input "latent" must have batch 1 to branch, got ${l.samples.shape[0]}`);
    let list: bigint[];
    const text = String(seeds).trim();
    if (text) {
      list = text.split(/[\s,]+/).filter(Boolean).map((s) => seedOf(s, "seeds"));
    } else {
      const base = seedOf(seed);
      list = Array.from({ length: count as number }, (_, i) => (base + BigInt(i)) % ((1n << 64n)));
    }
    const n = list.length;
    const size = l.samples.data.length;
    const data = new Float32Array(size * n);
    for (let i = 0; i < n; i++) data.set(l.samples.data, i * size);
    return { latent: { ...l, samples: { data, shape: [n, ...l.samples.shape.slice(1)] }, seeds: list.map(String) } satisfies Latent };
  },
};

export const latentNodes: NodeDef[] = [LatentBlend, LatentComposite, LatentTransform, LatentRenoise, MaskFromPreview, BranchSeeds];
