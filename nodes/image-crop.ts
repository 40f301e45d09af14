// Cropping an image, and padding one for outpainting (with the mask of the new area).
import { imageSize } from "./image-tensor.ts";
import type { NodeDef, Tensor } from "./schema.ts";

const CATEGORY = "image";

export const ImageCrop: NodeDef = {
  type: "ImageCrop",
  displayName: "Crop Image",
  category: CATEGORY,
  description: "A width × height window of the image at (x, y), clipped to the image.",
  inputs: [
    { name: "image", type: "IMAGE" },
    { name: "width", type: "INT", default: 512, min: 1, max: 8192 },
    { name: "height", type: "INT", default: 512, min: 1, max: 8192 },
    { name: "x", type: "INT", default: 0, min: 0, max: 8192 },
    { name: "y", type: "INT", default: 0, min: 0, max: 8192 },
  ],
  outputs: [{ name: "image", type: "IMAGE" }],
  execute({ image, width, height, x, y }) {
    const img = image as Tensor;
    const { batch, channels: C, height: H, width: W } = imageSize(img);
    const x0 = Math.min(x as number, W - 1), y0 = Math.min(y as number, H - 1);
    const w = Math.min(width as number, W - x0), h = Math.min(height as number, H - y0);
    const data = new Float32Array(batch * C * h * w);
    for (let p = 0; p < batch * C; p++) {
      for (let r = 0; r < h; r++) data.set(img.data.subarray(p * H * W + (y0 + r) * W + x0, p * H * W + (y0 + r) * W + x0 + w), (p * h + r) * w);
    }
    return { image: { data, shape: [batch, C, h, w] } satisfies Tensor };
  },
};

export const ImagePadForOutpaint: NodeDef = {
  type: "ImagePadForOutpaint",
  displayName: "Pad Image for Outpainting",
  category: CATEGORY,
  description: "Adds borders (mid gray) around the image and a mask that is 1 on them; feathering fades the mask into the image over that many pixels on the padded sides.",
  inputs: [
    { name: "image", type: "IMAGE" },
    { name: "left", type: "INT", default: 0, min: 0, max: 8192, step: 8 },
    { name: "top", type: "INT", default: 0, min: 0, max: 8192, step: 8 },
    { name: "right", type: "INT", default: 0, min: 0, max: 8192, step: 8 },
    { name: "bottom", type: "INT", default: 0, min: 0, max: 8192, step: 8 },
    { name: "feathering", type: "INT", default: 0, min: 0, max: 8192 },
  ],
  outputs: [{ name: "image", type: "IMAGE" }, { name: "mask", type: "MASK" }],
  execute({ image, left, top, right, bottom, feathering }) {
    const img = image as Tensor;
    const { batch, channels: C, height: H, width: W } = imageSize(img);
    const l = left as number, t = top as number, r = right as number, b = bottom as number, f = feathering as number;
    const OH = H + t + b, OW = W + l + r;
    const data = new Float32Array(batch * C * OH * OW).fill(0.5);
    for (let p = 0; p < batch * C; p++) {
      for (let y = 0; y < H; y++) data.set(img.data.subarray(p * H * W + y * W, p * H * W + (y + 1) * W), (p * OH + y + t) * OW + l);
    }
    const mask = new Float32Array(OH * OW).fill(1);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let v = 0;
        if (f > 0) {
          // distance to the nearest padded side, as ComfyUI feathers: ((f − d) / f)²
          const d = Math.min(l ? x : Infinity, r ? W - 1 - x : Infinity, t ? y : Infinity, b ? H - 1 - y : Infinity);
          if (d < f) v = ((f - d) / f) ** 2;
        }
        mask[(y + t) * OW + x + l] = v;
      }
    }
    return { image: { data, shape: [batch, C, OH, OW] } satisfies Tensor, mask: { data: mask, shape: [1, 1, OH, OW] } satisfies Tensor };
  },
};

export const imageCropNodes: NodeDef[] = [ImageCrop, ImagePadForOutpaint];
