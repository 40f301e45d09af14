// Nodes that steer Stage C beside the prompt: ControlNets (loaded from a pack, applied to a
// conditioning for part of the schedule) and the Canny filter that makes their control images;
// and nodes that shape the graph rather than compute pixels: notes for people, reroutes for links.
import type { CascadeRuntime, ControlFilter, Pack } from "../server/runtime/index.ts";
import { resizePlanes } from "./cascade.ts";
import { cannyPlane, lumaPlane } from "./canny.ts";
import { imageSize } from "./image-tensor.ts";
import { asMask, maskPlane } from "./mask-ops.ts";
import type { Conditioning, ControlApplication, NodeDef, Tensor } from "./schema.ts";

const CATEGORY = "control";

export const Note: NodeDef = {
  type: "Note",
  displayName: "Note",
  category: "utility",
  description: "A note for people reading the workflow. Never runs.",
  inputs: [{ name: "text", type: "STRING", default: "", multiline: true }],
  outputs: [],
  execute() {
    return {};
  },
};

/**
 * A pass-through that tidies long links: any type in, the same type out (the editor types it by
 * its link). The engine removes it before validation, re-pointing its consumers at its source;
 * run directly, it hands its input on.
 */
export const Reroute: NodeDef = {
  type: "Reroute",
  displayName: "Reroute",
  category: "utility",
  description: "Passes its input on unchanged; takes the type of the link into it.",
  inputs: [{ name: "input", type: "*" }],
  outputs: [{ name: "output", type: "*" }],
  execute(inputs) {
    return { output: inputs.input };
  },
};

/** A pack's ControlNet, by name; cheap to cache (the session lives in the runtime). */
export class ControlNetHandle {
  readonly cacheBytes = 64;
  constructor(readonly pack: Pack, readonly name: string, readonly filter: ControlFilter, readonly channels: number) {}
  describe(): string { return `${this.filter} ControlNet "${this.name}" of pack "${this.pack.name}"`; }
}

/**
 * The pack's ControlNet a name means: its own name, else the filter a file name says
 * ("canny.safetensors", "inpainting.safetensors", "super_resolution.safetensors").
 */
export function resolveControlNetName(pack: Pack, name: string): string {
  const nets = pack.manifest.controlnets;
  if (nets[name]) return name;
  const lower = name.toLowerCase();
  const filter = lower.includes("canny") ? "canny" : lower.includes("inpaint") ? "inpaint" : lower.includes("super") || lower.includes("_sr") ? "super_resolution" : undefined;
  const found = filter && Object.entries(nets).find(([, e]) => e.filter === filter);
  if (found) return found[0];
  const known = Object.entries(nets).map(([n, e]) => `${n} (${e.filter})`).join(", ") || "none";
  throw new Error(`input "name": pack "${pack.name}" has no ControlNet "${name}"${filter ? ` nor any ${filter} ControlNet` : ""} (it has: ${known})`);
}

export const LoadControlNet: NodeDef = {
  type: "LoadControlNet",
  displayName: "Load ControlNet",
  category: CATEGORY,
  description: "A ControlNet of a pack (its controlnet/ folder): by name, or by a file name that says its filter (canny, inpainting, super_resolution).",
  inputs: [
    { name: "pack", type: "COMBO", default: "tiny", options: [] },
    { name: "name", type: "STRING", default: "canny", description: "the ControlNet's name in the pack, or a file name naming its filter" },
  ],
  outputs: [{ name: "control_net", type: "CONTROL_NET" }],
  dynamicOptions: { pack: (services) => services.listOptions?.("packs") ?? [] },
  async execute({ pack, name }, ctx) {
    if (!ctx.services.runtime) throw new Error("this host has no cascade runtime (ONNX Runtime did not start)");
    const loaded = await (ctx.services.runtime as CascadeRuntime).pack(String(pack));
    const resolved = resolveControlNetName(loaded, String(name));
    const entry = loaded.manifest.controlnets[resolved];
    return { control_net: new ControlNetHandle(loaded, resolved, entry.filter, entry.channels) };
  },
};

/** The super-resolution ControlNet's block size: its control is the picture at a quarter of the size. */
const SUPER_RESOLUTION_FACTOR = 4;

/**
 * A control image at the size Stage C runs (H × W pixels). The super-resolution ControlNet's is the
 * picture at a quarter of that size blown up 4× nearest (tools/tiny/filters.py): pixel (y, x) takes
 * the picture's pixel nearest to the target grid's (4⌊y/4⌋, 4⌊x/4⌋). A picture at the target size
 * is filtered as in training; one at a quarter of it is blown up. Other filters resize bilinearly.
 */
export function controlImageAt(filter: ControlFilter, image: Tensor, H: number, W: number): Tensor {
  if (filter !== "super_resolution") return resizePlanes(image, H, W);
  const [B, C, h, w] = image.shape;
  const f = SUPER_RESOLUTION_FACTOR;
  const data = new Float32Array(B * C * H * W);
  for (let p = 0; p < B * C; p++) {
    for (let y = 0; y < H; y++) {
      const sy = Math.min(h - 1, Math.floor((f * Math.floor(y / f) * h) / H));
      for (let x = 0; x < W; x++) {
        const sx = Math.min(w - 1, Math.floor((f * Math.floor(x / f) * w) / W));
        data[(p * H + y) * W + x] = image.data[(p * h + sy) * w + sx];
      }
    }
  }
  return { data, shape: [B, C, H, W] };
}

/** The control image a ControlNet of this filter takes, from the node's image (and mask). */
export function controlImage(filter: ControlFilter, image: Tensor, mask: Tensor | undefined): Tensor {
  const { batch, channels, height: H, width: W } = imageSize(image);
  const plane = H * W;
  if (filter === "canny") {
    // an edge map: its first channel (a Canny image repeats the edges on every channel)
    const data = new Float32Array(batch * plane);
    for (let b = 0; b < batch; b++) data.set(image.data.subarray(b * channels * plane, b * channels * plane + plane), b * plane);
    return { data, shape: [batch, 1, H, W] };
  }
  if (filter === "super_resolution") {
    if (channels < 3) throw new Error(`input "image": a super-resolution ControlNet needs an RGB image, got ${channels} channel(s)`);
    const data = new Float32Array(batch * 3 * plane);
    for (let b = 0; b < batch; b++) data.set(image.data.subarray(b * channels * plane, b * channels * plane + 3 * plane), b * 3 * plane);
    return { data, shape: [batch, 3, H, W] };
  }
  // inpaint: the picture with the masked area set to 1, then the mask (1 = to paint)
  if (channels < 3) throw new Error(`input "image": an inpainting ControlNet needs an RGB image, got ${channels} channel(s)`);
  let m = mask;
  if (!m && channels === 4) {
    const data = new Float32Array(batch * plane);
    for (let b = 0; b < batch; b++) for (let p = 0; p < plane; p++) data[b * plane + p] = 1 - image.data[(b * 4 + 3) * plane + p];
    m = { data, shape: [batch, 1, H, W] };
  }
  if (!m) throw new Error(`an inpainting ControlNet needs a mask: connect input "mask", or give an image with alpha (Join Image with Alpha)`);
  if (m.shape[2] !== H || m.shape[3] !== W) m = resizePlanes(m, H, W);
  const data = new Float32Array(batch * 4 * plane);
  for (let b = 0; b < batch; b++) {
    const mp = maskPlane(m, b);
    for (let c = 0; c < 3; c++) {
      const src = (b * channels + c) * plane, dst = (b * 4 + c) * plane;
      for (let p = 0; p < plane; p++) data[dst + p] = image.data[src + p] * (1 - mp[p]) + mp[p];
    }
    data.set(mp, (b * 4 + 3) * plane);
  }
  return { data, shape: [batch, 4, H, W] };
}

export const ControlNetApply: NodeDef = {
  type: "ControlNetApply",
  displayName: "Apply ControlNet",
  category: CATEGORY,
  description: "Applies a ControlNet to both conditionings, for Stage C samplers: its features, times strength, join Stage C's blocks while the schedule is between start and end (0 = pure noise, 1 = clean). Canny takes an edge image; inpainting an image plus a mask (1 = to paint; inverted for outpainting) or an RGBA image.",
  inputs: [
    { name: "positive", type: "CONDITIONING" },
    { name: "negative", type: "CONDITIONING" },
    { name: "control_net", type: "CONTROL_NET" },
    { name: "image", type: "IMAGE" },
    { name: "strength", type: "FLOAT", default: 1, min: 0, max: 10, step: 0.01 },
    { name: "start", type: "FLOAT", default: 0, min: 0, max: 1, step: 0.01 },
    { name: "end", type: "FLOAT", default: 1, min: 0, max: 1, step: 0.01 },
    { name: "mask", type: "MASK", optional: true, description: "inpainting: where to paint" },
  ],
  outputs: [{ name: "positive", type: "CONDITIONING" }, { name: "negative", type: "CONDITIONING" }],
  execute({ positive, negative, control_net, image, strength, start, end, mask }) {
    if (!(control_net instanceof ControlNetHandle)) throw new Error(`input "control_net" needs a ControlNet from Load ControlNet`);
    const s = start as number, e = end as number;
    if (e < s) throw new Error(`input "end" (${e}) is before "start" (${s})`);
    const pos = positive as Conditioning, neg = negative as Conditioning;
    if ((strength as number) === 0) return { positive: pos, negative: neg };
    const m = mask === undefined || mask === null ? undefined : asMask(mask, "mask");
    const app: ControlApplication = { net: control_net, image: controlImage(control_net.filter, image as Tensor, m), strength: strength as number, start: s, end: e };
    return {
      positive: { ...pos, control: [...(pos.control ?? []), app] } satisfies Conditioning,
      negative: { ...neg, control: [...(neg.control ?? []), app] } satisfies Conditioning,
    };
  },
};

export const Canny: NodeDef = {
  type: "Canny",
  displayName: "Canny Edges",
  category: CATEGORY,
  description: "Edges of an image (Canny), white on black: the control image of a canny ControlNet. Thresholds apply to the gradient of [0, 1] images; the tiny pack was trained at 0.1 / 0.2.",
  inputs: [
    { name: "image", type: "IMAGE" },
    { name: "low_threshold", type: "FLOAT", default: 0.1, min: 0.01, max: 0.99, step: 0.01 },
    { name: "high_threshold", type: "FLOAT", default: 0.2, min: 0.01, max: 0.99, step: 0.01 },
  ],
  outputs: [{ name: "image", type: "IMAGE" }],
  execute({ image, low_threshold, high_threshold }) {
    const img = image as Tensor;
    const { batch, channels, height: H, width: W } = imageSize(img);
    if (channels < 3) throw new Error(`input "image" needs an RGB image, got ${channels} channel(s)`);
    const plane = H * W, data = new Float32Array(batch * 3 * plane);
    for (let b = 0; b < batch; b++) {
      const edges = cannyPlane(lumaPlane(img.data, b, channels, H, W), H, W, low_threshold as number, high_threshold as number);
      for (let c = 0; c < 3; c++) data.set(edges, (b * 3 + c) * plane);
    }
    return { image: { data, shape: [batch, 3, H, W] } satisfies Tensor };
  },
};

export const controlNodes: NodeDef[] = [Note, Reroute, LoadControlNet, ControlNetApply, Canny];
