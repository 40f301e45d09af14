// Masks: made from an image channel or a value, thresholded, inverted, grown, feathered; images
// composited through them or given them as alpha; and a latent's noise mask (masked sampling).
import { resizePlanes } from "./cascade.ts";
import { imageSize } from "./image-tensor.ts";
import { asMask, blurMask, featherMaskEdges, growMask, maskPlane } from "./mask-ops.ts";
import type { Latent, NodeDef, Tensor } from "./schema.ts";

const CATEGORY = "mask";
const CHANNELS = ["red", "green", "blue", "alpha"] as const;

function asImage(value: unknown, input: string): Tensor {
  const t = value as Tensor;
  if (!t?.data || t.shape?.length !== 4) throw new Error(`input "${input}" needs an image`);
  return t;
}

export const ImageToMask: NodeDef = {
  type: "ImageToMask",
  displayName: "Image Channel to Mask",
  category: CATEGORY,
  description: "One channel of an image as a mask (alpha is 1 where an image has none).",
  inputs: [{ name: "image", type: "IMAGE" }, { name: "channel", type: "COMBO", default: "red", options: [...CHANNELS] }],
  outputs: [{ name: "mask", type: "MASK" }],
  execute({ image, channel }) {
    const img = asImage(image, "image");
    const { batch, channels, height, width } = imageSize(img);
    const c = CHANNELS.indexOf(channel as (typeof CHANNELS)[number]);
    if (c < 0) throw new Error(`input "channel": "${String(channel)}" is not one of ${CHANNELS.join(", ")}`);
    const plane = height * width, data = new Float32Array(batch * plane);
    for (let b = 0; b < batch; b++) {
      if (c >= channels) data.fill(1, b * plane, (b + 1) * plane);
      else data.set(img.data.subarray((b * channels + c) * plane, (b * channels + c + 1) * plane), b * plane);
    }
    return { mask: { data, shape: [batch, 1, height, width] } satisfies Tensor };
  },
};

export const MaskToImage: NodeDef = {
  type: "MaskToImage",
  displayName: "Mask to Image",
  category: CATEGORY,
  description: "A mask as a gray image (white where the mask is 1).",
  inputs: [{ name: "mask", type: "MASK" }],
  outputs: [{ name: "image", type: "IMAGE" }],
  execute({ mask }) {
    const m = asMask(mask, "mask");
    const [B, , H, W] = m.shape, plane = H * W, data = new Float32Array(B * 3 * plane);
    for (let b = 0; b < B; b++) for (let c = 0; c < 3; c++) data.set(m.data.subarray(b * plane, (b + 1) * plane), (b * 3 + c) * plane);
    return { image: { data, shape: [B, 3, H, W] } satisfies Tensor };
  },
};

export const SolidMask: NodeDef = {
  type: "SolidMask",
  displayName: "Solid Mask",
  category: CATEGORY,
  description: "A mask of one value.",
  inputs: [
    { name: "value", type: "FLOAT", default: 1, min: 0, max: 1, step: 0.01 },
    { name: "width", type: "INT", default: 512, min: 1, max: 8192 },
    { name: "height", type: "INT", default: 512, min: 1, max: 8192 },
  ],
  outputs: [{ name: "mask", type: "MASK" }],
  execute({ value, width, height }) {
    const w = width as number, h = height as number;
    return { mask: { data: new Float32Array(w * h).fill(value as number), shape: [1, 1, h, w] } satisfies Tensor };
  },
};

export const ThresholdMask: NodeDef = {
  type: "ThresholdMask",
  displayName: "Threshold Mask",
  category: CATEGORY,
  description: "1 where the mask is above the value, else 0.",
  inputs: [{ name: "mask", type: "MASK" }, { name: "value", type: "FLOAT", default: 0.5, min: 0, max: 1, step: 0.01 }],
  outputs: [{ name: "mask", type: "MASK" }],
  execute({ mask, value }) {
    const m = asMask(mask, "mask"), v = value as number;
    return { mask: { data: m.data.map((x) => (x > v ? 1 : 0)), shape: [...m.shape] } satisfies Tensor };
  },
};

export const InvertMask: NodeDef = {
  type: "InvertMask",
  displayName: "Invert Mask",
  category: CATEGORY,
  description: "1 − mask: inpainting's mask inverted paints around the kept area instead (outpainting).",
  inputs: [{ name: "mask", type: "MASK" }],
  outputs: [{ name: "mask", type: "MASK" }],
  execute({ mask }) {
    const m = asMask(mask, "mask");
    return { mask: { data: m.data.map((x) => 1 - x), shape: [...m.shape] } satisfies Tensor };
  },
};

export const GrowMask: NodeDef = {
  type: "GrowMask",
  displayName: "Grow Mask",
  category: CATEGORY,
  description: "Grows the mask by some pixels (shrinks it when negative), then optionally softens its edge (feather, in pixels).",
  inputs: [
    { name: "mask", type: "MASK" },
    { name: "expand", type: "INT", default: 0, min: -512, max: 512 },
    { name: "tapered_corners", type: "BOOLEAN", default: true },
    { name: "feather", type: "INT", default: 0, min: 0, max: 256, description: "blur radius of the edge, in pixels" },
  ],
  outputs: [{ name: "mask", type: "MASK" }],
  execute({ mask, expand, tapered_corners, feather }) {
    return { mask: blurMask(growMask(asMask(mask, "mask"), expand as number, tapered_corners as boolean), (feather as number | undefined) ?? 0) };
  },
};

export const FeatherMask: NodeDef = {
  type: "FeatherMask",
  displayName: "Feather Mask Edges",
  category: CATEGORY,
  description: "Fades the mask to 0 over the given number of pixels at each border of the image.",
  inputs: [
    { name: "mask", type: "MASK" },
    { name: "left", type: "INT", default: 0, min: 0, max: 8192 },
    { name: "top", type: "INT", default: 0, min: 0, max: 8192 },
    { name: "right", type: "INT", default: 0, min: 0, max: 8192 },
    { name: "bottom", type: "INT", default: 0, min: 0, max: 8192 },
  ],
  outputs: [{ name: "mask", type: "MASK" }],
  execute({ mask, left, top, right, bottom }) {
    return { mask: featherMaskEdges(asMask(mask, "mask"), left as number, top as number, right as number, bottom as number) };
  },
};

export const ImageCompositeMasked: NodeDef = {
  type: "ImageCompositeMasked",
  displayName: "Composite Image through Mask",
  category: CATEGORY,
  description: "Pastes source over destination at (x, y), through the mask where one is given (1 = source). Keeps an inpainted image's unmasked area exactly the original.",
  inputs: [
    { name: "destination", type: "IMAGE" },
    { name: "source", type: "IMAGE" },
    { name: "x", type: "INT", default: 0, min: -8192, max: 8192 },
    { name: "y", type: "INT", default: 0, min: -8192, max: 8192 },
    { name: "resize_source", type: "BOOLEAN", default: false },
    { name: "mask", type: "MASK", optional: true },
  ],
  outputs: [{ name: "image", type: "IMAGE" }],
  execute({ destination, source, x, y, resize_source, mask }) {
    const dst = asImage(destination, "destination");
    let src = asImage(source, "source");
    const { batch, channels, height: H, width: W } = imageSize(dst);
    if (resize_source) src = resizePlanes(src, H, W);
    const [SB, SC, SH, SW] = src.shape;
    if (SB !== 1 && SB !== batch) throw new Error(`input "source" has batch ${SB}, the destination has ${batch}`);
    let m = mask === undefined || mask === null ? undefined : asMask(mask, "mask");
    if (m && (m.shape[2] !== SH || m.shape[3] !== SW)) m = resizePlanes(m, SH, SW);
    const out = Float32Array.from(dst.data);
    const ox = x as number, oy = y as number;
    for (let b = 0; b < batch; b++) {
      const sb = SB === 1 ? 0 : b;
      const mp = m ? maskPlane(m, b) : undefined;
      for (let c = 0; c < channels; c++) {
        const sc = Math.min(c, SC - 1);
        for (let yy = 0; yy < SH; yy++) {
          const ty = yy + oy;
          if (ty < 0 || ty >= H) continue;
          for (let xx = 0; xx < SW; xx++) {
            const tx = xx + ox;
            if (tx < 0 || tx >= W) continue;
            const a = mp ? mp[yy * SW + xx] : 1;
            const di = ((b * channels + c) * H + ty) * W + tx;
            out[di] = out[di] * (1 - a) + src.data[((sb * SC + sc) * SH + yy) * SW + xx] * a;
          }
        }
      }
    }
    return { image: { data: out, shape: [...dst.shape] } satisfies Tensor };
  },
};

export const JoinImageWithAlpha: NodeDef = {
  type: "JoinImageWithAlpha",
  displayName: "Join Image with Alpha",
  category: CATEGORY,
  description: "An RGBA image: the mask becomes transparency (alpha = 1 − mask, as a loaded image's mask comes from its alpha).",
  inputs: [{ name: "image", type: "IMAGE" }, { name: "alpha", type: "MASK" }],
  outputs: [{ name: "image", type: "IMAGE" }],
  execute({ image, alpha }) {
    const img = asImage(image, "image");
    const { batch, height: H, width: W } = imageSize(img);
    let m = asMask(alpha, "alpha");
    if (m.shape[2] !== H || m.shape[3] !== W) m = resizePlanes(m, H, W);
    const plane = H * W, data = new Float32Array(batch * 4 * plane);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < 3; c++) data.set(img.data.subarray((b * img.shape[1] + c) * plane, (b * img.shape[1] + c + 1) * plane), (b * 4 + c) * plane);
      const mp = maskPlane(m, b);
      for (let p = 0; p < plane; p++) data[(b * 4 + 3) * plane + p] = 1 - mp[p];
    }
    return { image: { data, shape: [batch, 4, H, W] } satisfies Tensor };
  },
};

export const SetLatentNoiseMask: NodeDef = {
  type: "SetLatentNoiseMask",
  displayName: "Set Latent Noise Mask",
  category: CATEGORY,
  description: "Marks where a sampler may change the latent (1 = repaint): elsewhere each step keeps the latent as given, noised to the step's level, and the result keeps it exactly.",
  inputs: [{ name: "latent", type: "LATENT" }, { name: "mask", type: "MASK" }],
  outputs: [{ name: "latent", type: "LATENT" }],
  execute({ latent, mask }) {
    const l = latent as Latent;
    if (!l?.samples?.data) throw new Error(`input "latent" needs a latent`);
    return { latent: { ...l, noiseMask: asMask(mask, "mask") } satisfies Latent };
  },
};

export const maskNodes: NodeDef[] = [ImageToMask, MaskToImage, SolidMask, ThresholdMask, InvertMask, GrowMask, FeatherMask, ImageCompositeMasked, JoinImageWithAlpha, SetLatentNoiseMask];
