// Images between nodes are float32 tensors [B, 3, H, W] in [0, 1] (channels first, as the ONNX
// models take them); masks are [B, 1, H, W]. These convert to and from interleaved bytes.
import type { Tensor } from "./schema.ts";

export function imageSize(image: Tensor): { batch: number; channels: number; height: number; width: number } {
  if (image.shape.length !== 4) throw new Error(`expected an image tensor [B, C, H, W], got [${image.shape.join(", ")}]`);
  const [batch, channels, height, width] = image.shape;
  return { batch, channels, height, width };
}

/** One batch item as interleaved 8-bit pixels (HWC). */
export function tensorToPixels(image: Tensor, index = 0): { data: Uint8Array; width: number; height: number; channels: number } {
  const { channels, height, width } = imageSize(image);
  const plane = width * height;
  const base = index * channels * plane;
  const src = image.data;
  const data = new Uint8Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    const from = base + c * plane;
    for (let p = 0, o = c; p < plane; p++, o += channels) {
      const v = src[from + p];
      // Clamped to [0, 1] and rounded half up; NaN gives 0 (both comparisons fail, NaN | 0 is 0).
      // Inside (0, 1), (v·255 + 0.5) | 0 is Math.round(v·255) for every float32 v (checked
      // exhaustively), and cheaper.
      data[o] = v <= 0 ? 0 : v >= 1 ? 255 : (v * 255 + 0.5) | 0;
    }
  }
  return { data, width, height, channels };
}

/** Interleaved 8-bit pixels (HWC) as channel planes of floats in [0, 1], appended at `offset`. */
export function pixelsToPlanes(pixels: Uint8Array, width: number, height: number, channels: number, out: Float32Array, offset: number, take = channels): void {
  const plane = width * height;
  for (let c = 0; c < take; c++) {
    for (let p = 0; p < plane; p++) out[offset + c * plane + p] = pixels[p * channels + c] / 255;
  }
}

export function parseHexColor(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) throw new Error(`"${hex}" is not a colour of the form #rrggbb`);
  const n = parseInt(m[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
