// Image nodes, computed with sharp: make, load, save, preview, scale and blend images.
import { closeSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { limitedSharp, MAX_IMAGE_PIXELS } from "../server/media/decode.ts";
import { existingFileInside, openNoFollow } from "../server/media/paths.ts";
import { writeFileAtomic } from "../server/media/write.ts";
import { imageSize, parseHexColor, pixelsToPlanes, tensorToPixels } from "./image-tensor.ts";
import { asciiJson, encodePng } from "../server/media/png.ts";
import type { ExecContext, NodeDef, NodeResult, OutputImage, Tensor } from "./schema.ts";
import { estimateEmptyImage, estimateImageBlend, estimateImageScale, estimateImageWrite } from "./memory-estimates.ts";

const CATEGORY = "image";

export const EmptyImage: NodeDef = {
  type: "EmptyImage",
  displayName: "Empty Image",
  category: CATEGORY,
  description: "A batch of images filled with one colour.",
  inputs: [
    { name: "width", type: "INT", default: 512, min: 8, max: 8192, step: 8 },
    { name: "height", type: "INT", default: 512, min: 8, max: 8192, step: 8 },
    { name: "batch", type: "INT", default: 1, min: 1, max: 64 },
    { name: "color", type: "STRING", default: "#000000", color: true },
  ],
  outputs: [{ name: "image", type: "IMAGE" }],
  estimateMemory: estimateEmptyImage,
  execute({ width, height, batch, color }) {
    const [r, g, b] = parseHexColor(color as string).map((v) => v / 255);
    const w = width as number, h = height as number, n = batch as number;
    const data = new Float32Array(n * 3 * w * h);
    const plane = w * h;
    for (let i = 0; i < n; i++) {
      data.fill(r, (i * 3) * plane, (i * 3 + 1) * plane);
      data.fill(g, (i * 3 + 1) * plane, (i * 3 + 2) * plane);
      data.fill(b, (i * 3 + 2) * plane, (i * 3 + 3) * plane);
    }
    return { image: { data, shape: [n, 3, h, w] } satisfies Tensor };
  },
};

/** Example images bundled with the templates; LoadImage finds them when no upload has the name. */
export const EXAMPLES_DIR = join(import.meta.dirname, "..", "templates", "assets");

/** The upload (or bundled example) named `name`; links and names outside the folders are refused. */
function findImage(uploadsDir: string, name: string): string | undefined {
  for (const root of [uploadsDir, EXAMPLES_DIR]) {
    const path = existingFileInside(root, name);
    if (path) return path;
  }
  return undefined;
}

export const LoadImage: NodeDef = {
  type: "LoadImage",
  displayName: "Load Image",
  category: CATEGORY,
  description: "An uploaded image (or one of the bundled examples); its alpha channel becomes a mask, 1 where the image is transparent.",
  inputs: [{ name: "image", type: "STRING", default: "", upload: true, description: "name of an uploaded image" }],
  outputs: [{ name: "image", type: "IMAGE" }, { name: "mask", type: "MASK" }],
  fingerprint({ image }, services) {
    try {
      const path = findImage(services.uploadsDir, String(image));
      if (!path) return "missing";
      const st = statSync(path);
      return `${path}:${st.size}:${st.mtimeMs}`;
    } catch {
      return "missing";
    }
  },
  async execute({ image }, ctx) {
    const name = String(image);
    if (!name) throw new Error("no image chosen: upload one or pick a file");
    const path = findImage(ctx.services.uploadsDir, name);
    if (!path) throw new Error(`image "${name}" not found among the uploads (upload it first)`);
    const fd = openNoFollow(path);
    let bytes: Buffer;
    try {
      bytes = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
    const meta = await sharp(bytes).metadata();
    if ((meta.width ?? 0) * (meta.height ?? 0) > MAX_IMAGE_PIXELS) {
      throw new Error(`image "${name}" is ${meta.width}×${meta.height} pixels; the largest image Sluice decodes is 8192×8192`);
    }
    const { data, info } = await limitedSharp(bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const { width, height } = info;
    const rgb = new Float32Array(3 * width * height);
    pixelsToPlanes(data, width, height, 4, rgb, 0, 3);
    const mask = new Float32Array(width * height);
    for (let p = 0; p < width * height; p++) mask[p] = 1 - data[p * 4 + 3] / 255;
    return {
      image: { data: rgb, shape: [1, 3, height, width] } satisfies Tensor,
      mask: { data: mask, shape: [1, 1, height, width] } satisfies Tensor,
    };
  },
};

/** Encodes every batch item as PNG (with the workflow embedded) into `dir`; names are relative to `root`. */
export async function writeImages(image: Tensor, ctx: ExecContext, root: string, subdir: string, prefix: string, embedWorkflow: boolean): Promise<OutputImage[]> {
  const { batch, height, width } = imageSize(image);
  const dir = join(root, subdir);
  const safePrefix = prefix.replace(/[^\w.-]+/g, "_").slice(0, 64) || "sluice";
  const stamp = `${Date.now().toString(36)}_${ctx.promptId.slice(0, 8)}_${ctx.nodeId}`;
  const images: OutputImage[] = [];
  for (let i = 0; i < batch; i++) {
    const px = tensorToPixels(image, i);
    const png = encodePng(px.data, width, height, px.channels as 3 | 4, embedWorkflow ? { "sluice.workflow": asciiJson(ctx.workflow) } : {});
    const file = `${safePrefix}_${stamp}_${i}.png`;
    writeFileAtomic(join(dir, file), png);
    images.push({ file: subdir ? `${subdir}/${file}` : file, width, height, ...(image.seeds?.[i] ? { seed: image.seeds[i] } : {}) });
  }
  return images;
}

export const SaveImage: NodeDef = {
  type: "SaveImage",
  displayName: "Save Image",
  category: CATEGORY,
  description: "Writes images as PNG files, each carrying the workflow that made it.",
  inputs: [
    { name: "image", type: "IMAGE" },
    { name: "prefix", type: "STRING", default: "sluice" },
  ],
  outputs: [],
  output: true,
  estimateMemory: estimateImageWrite,
  async execute({ image, prefix }, ctx) {
    const images = await writeImages(image as Tensor, ctx, ctx.services.outputsDir, "", String(prefix), true);
    return { ui: { images } satisfies NodeResult };
  },
};

export const PreviewImage: NodeDef = {
  type: "PreviewImage",
  displayName: "Preview Image",
  category: CATEGORY,
  description: "Shows images in the editor without keeping them (temporary files).",
  inputs: [{ name: "image", type: "IMAGE" }],
  outputs: [],
  output: true,
  estimateMemory: estimateImageWrite,
  async execute({ image }, ctx) {
    const images = await writeImages(image as Tensor, ctx, ctx.services.outputsDir, "temp", "preview", false);
    return { ui: { images } satisfies NodeResult };
  },
};

const SCALE_METHODS = { nearest: "nearest", bilinear: "linear", bicubic: "cubic", lanczos: "lanczos3" } as const;

export const ImageScale: NodeDef = {
  type: "ImageScale",
  displayName: "Scale Image",
  category: CATEGORY,
  description: "Resizes images to a width and height.",
  inputs: [
    { name: "image", type: "IMAGE" },
    { name: "width", type: "INT", default: 512, min: 1, max: 8192 },
    { name: "height", type: "INT", default: 512, min: 1, max: 8192 },
    { name: "method", type: "COMBO", default: "bilinear", options: Object.keys(SCALE_METHODS) },
  ],
  outputs: [{ name: "image", type: "IMAGE" }],
  estimateMemory: estimateImageScale,
  async execute({ image, width, height, method }, ctx) {
    const src = image as Tensor;
    const { batch, channels } = imageSize(src);
    const w = width as number, h = height as number;
    const data = new Float32Array(batch * channels * w * h);
    for (let i = 0; i < batch; i++) {
      ctx.signal.throwIfAborted();
      const px = tensorToPixels(src, i);
      const out = await sharp(Buffer.from(px.data.buffer), { raw: { width: px.width, height: px.height, channels: px.channels as 3 } })
        .resize(w, h, { fit: "fill", kernel: SCALE_METHODS[method as keyof typeof SCALE_METHODS] })
        .raw().toBuffer();
      pixelsToPlanes(out, w, h, channels, data, i * channels * w * h);
    }
    return { image: { data, shape: [batch, channels, h, w] } satisfies Tensor };
  },
};

const BLEND_MODES: Record<string, (a: number, b: number) => number> = {
  normal: (_a, b) => b,
  multiply: (a, b) => a * b,
  screen: (a, b) => 1 - (1 - a) * (1 - b),
  overlay: (a, b) => (a < 0.5 ? 2 * a * b : 1 - 2 * (1 - a) * (1 - b)),
  difference: (a, b) => Math.abs(a - b),
};

export const ImageBlend: NodeDef = {
  type: "ImageBlend",
  displayName: "Blend Images",
  category: CATEGORY,
  description: "Mixes image b over image a by a factor, in a blend mode. Sizes must match.",
  inputs: [
    { name: "a", type: "IMAGE" },
    { name: "b", type: "IMAGE" },
    { name: "factor", type: "FLOAT", default: 0.5, min: 0, max: 1, step: 0.01 },
    { name: "mode", type: "COMBO", default: "normal", options: Object.keys(BLEND_MODES) },
  ],
  outputs: [{ name: "image", type: "IMAGE" }],
  estimateMemory: estimateImageBlend,
  execute({ a, b, factor, mode }) {
    const ta = a as Tensor, tb = b as Tensor;
    if (ta.shape.join() !== tb.shape.join()) {
      throw new Error(`images differ in size: a is [${ta.shape.join(", ")}], b is [${tb.shape.join(", ")}]; scale one first`);
    }
    const f = factor as number, blend = BLEND_MODES[mode as string];
    const data = new Float32Array(ta.data.length);
    for (let i = 0; i < data.length; i++) data[i] = ta.data[i] * (1 - f) + blend(ta.data[i], tb.data[i]) * f;
    return { image: { data, shape: [...ta.shape] } satisfies Tensor };
  },
};

export const imageNodes: NodeDef[] = [EmptyImage, LoadImage, SaveImage, PreviewImage, ImageScale, ImageBlend];
