// Decoding images with limits: a small file can describe a huge image (a 16000² PNG decodes to
// about a gigabyte of pixels), so the size is checked from the header before any pixel is decoded,
// and sharp is told the same limit.
import sharp, { type Metadata, type Sharp } from "sharp";

/** Largest image (in pixels) Sluice decodes: the largest the image nodes accept, 8192 × 8192. */
export const MAX_IMAGE_PIXELS = 8192 * 8192;

/** An image whose header promises more pixels than MAX_IMAGE_PIXELS, or one that does not decode. */
export class ImageRefused extends Error {
  constructor(message: string, readonly tooLarge: boolean) {
    super(message);
    this.name = "ImageRefused";
  }
}

/** A sharp pipeline over `input` that refuses images larger than MAX_IMAGE_PIXELS. */
export function limitedSharp(input: Buffer): Sharp {
  return sharp(input, { limitInputPixels: MAX_IMAGE_PIXELS });
}

export interface CheckedImage { format: string; width: number; height: number }

/** Reads the header, refuses an oversized image, then decodes every pixel to prove the file is whole. */
export async function checkImage(input: Buffer, label: string): Promise<CheckedImage> {
  let meta: Metadata;
  try {
    meta = await sharp(input).metadata();
  } catch (err) {
    throw new ImageRefused(`${label} is not an image that can be decoded (${(err as Error).message})`, false);
  }
  const { format, width, height } = meta;
  if (!format || !width || !height) throw new ImageRefused(`${label} is not an image that can be decoded (no size in its header)`, false);
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageRefused(`${label} is ${width}×${height} pixels; the largest image Sluice decodes has ${MAX_IMAGE_PIXELS.toLocaleString("en")} pixels (8192×8192)`, true);
  }
  try {
    await limitedSharp(input).stats();
  } catch (err) {
    throw new ImageRefused(`${label} is not an image that can be decoded (${(err as Error).message})`, false);
  }
  return { format, width, height };
}
