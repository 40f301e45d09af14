// Pre- and post-processing around the models: image normalisation before the CLIP vision encoder,
// clamping decoded images to [0,1]. Pure functions over FloatTensors. (Stage A's tiles: tiling.ts.)
import type { FloatTensor } from "./tensors.ts";

/** CLIP's image normalisation (the vision encoder of the public export expects it). */
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** CLIP mean/std normalisation of images [B,3,H,W] in [0,1], into a new tensor. */
export function clipNormalize(image: FloatTensor): FloatTensor {
  const [B, , H, W] = image.shape;
  const norm = new Float32Array(image.data.length);
  const plane = H * W;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < 3; c++) {
      const off = (b * 3 + c) * plane;
      for (let i = 0; i < plane; i++) norm[off + i] = (image.data[off + i] - CLIP_MEAN[c]) / CLIP_STD[c];
    }
  }
  return { data: norm, shape: image.shape };
}

/** Clamp to [0,1] in place (NaN stays NaN). */
export function clamp01(t: FloatTensor): FloatTensor {
  const d = t.data;
  // Written only where out of range (NaN stays NaN): most of a decoded image is in range already.
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < 0) d[i] = 0;
    else if (v > 1) d[i] = 1;
  }
  return t;
}

