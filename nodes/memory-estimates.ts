// Memory estimates of the node families (NodeDef.estimateMemory): shapes propagated from literal
// inputs, and the peak working memory of each run from the pack's memory profile. Pure: no
// model is loaded and no file read; unknown shapes stay unknown rather than guessed.
import { diffusionCallBytes, promptChunks } from "../server/runtime/memory-profile.ts";
import { decodedSpan } from "../server/runtime/tiling.ts";
import type { MemoryArgs, MemoryEstimate, ShapeOrigin, StaticValue } from "./schema.ts";

const F32 = 4;
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const num = (v: unknown) => (typeof v === "number" ? v : Number(v));

type Of<K extends StaticValue["kind"]> = Extract<StaticValue, { kind: K }>;
function linked<K extends StaticValue["kind"]>(args: MemoryArgs, input: string, kind: K): Of<K> | undefined {
  const v = args.linked[input];
  return v?.kind === kind ? (v as Of<K>) : undefined;
}

const unknownInput = (input: string): MemoryEstimate => ({ what: `the size of input "${input}" is not known before running` });
const origin = (args: MemoryArgs, inputs: string[]): ShapeOrigin => ({ node: args.nodeId, inputs });

export function estimateLoadPack(args: MemoryArgs): MemoryEstimate {
  const pack = String(args.inputs.pack);
  if (!args.pack(pack)) return { what: `pack "${pack}" not found` };
  const model = (stage: string): StaticValue => ({ kind: "model", pack, stage });
  return {
    outputs: {
      stage_c: model("stageC"), stage_b: model("stageB"), stage_a: model("stageA"), text_encoder: model("textEncoder"),
      effnet: model("effnet"), clip_vision: model("clipVision"), previewer: model("previewer"),
    },
    bytes: 0,
  };
}

export function estimateTextEncode(args: MemoryArgs): MemoryEstimate {
  const chunks = promptChunks(String(args.inputs.text ?? ""));
  const out: MemoryEstimate = { outputs: { conditioning: { kind: "conditioning", chunks } } };
  const model = linked(args, "text_encoder", "model");
  const info = model && args.pack(model.pack);
  if (!model || !info) return { ...out, ...unknownInput("text_encoder") };
  return { ...out, bytes: chunks * info.profile.textEncoder.chunkBytes, model: { pack: model.pack, stage: "textEncoder" }, what: `the text encoder on ${chunks} chunk${chunks === 1 ? "" : "s"} of 77 tokens` };
}

export function estimateStageBConditioning(args: MemoryArgs): MemoryEstimate {
  const cond = linked(args, "conditioning", "conditioning");
  const latent = linked(args, "stage_c", "latent");
  return { outputs: { conditioning: cond ? { ...cond, ...(latent ? { stageC: latent.shape } : {}) } : undefined }, bytes: 0 };
}

export function estimateEmptyCascadeLatent(args: MemoryArgs): MemoryEstimate {
  const w = num(args.inputs.width), h = num(args.inputs.height), c = num(args.inputs.compression), b = num(args.inputs.batch);
  const cShape = [b, 16, Math.max(1, Math.floor(h / c)), Math.max(1, Math.floor(w / c))], bShape = [b, 4, Math.floor(h / 4), Math.floor(w / 4)];
  return {
    outputs: {
      stage_c: { kind: "latent", stage: "c", shape: cShape, origin: origin(args, ["width", "height", "compression", "batch"]) },
      stage_b: { kind: "latent", stage: "b", shape: bShape, origin: origin(args, ["width", "height", "batch"]) },
    },
    bytes: (size(cShape) + size(bShape)) * F32,
  };
}

/** "a 256×256 latent", "a batch of 4 of 64×64 latents". */
function describeLatent(shape: number[]): string {
  const [B, , h, w] = shape;
  return B > 1 ? `a batch of ${B} ${h}×${w} latents` : `a ${h}×${w} latent`;
}

export function estimateSampler(args: MemoryArgs): MemoryEstimate {
  const model = linked(args, "model", "model");
  const latent = linked(args, "latent", "latent");
  const info = model && args.pack(model.pack);
  if (!model || !info) return unknownInput("model");
  if (!latent) return { outputs: { latent: undefined }, ...unknownInput("latent") };
  const stageB = model.stage === "stageB";
  const profile = stageB ? info.profile.stageB : info.profile.stageC;
  const [B, , h, w] = latent.shape;
  // Classifier-free guidance runs both halves as one batch of 2B; at cfg 1 only the conditional.
  const rows = num(args.inputs.cfg) !== 1 ? 2 * B : B;
  const pos = linked(args, "positive", "conditioning"), neg = linked(args, "negative", "conditioning");
  const chunks = Math.max(pos?.chunks ?? 1, neg?.chunks ?? 1);
  // Condition tokens joining the image tokens as keys: the text (Stage C) and a few pooled/image tokens.
  const condTokens = (stageB ? 0 : 77 * chunks) + 8;
  const call = diffusionCallBytes(profile, rows, h, w, condTokens);
  // Beside the model call: the model's input and output, the sampler's x, x0 and noise.
  const tensors = (2 * rows + 4 * B) * size(latent.shape.slice(1)) * F32;
  return {
    outputs: { latent: { ...latent } },
    bytes: call.bytes + tensors,
    model: { pack: model.pack, stage: model.stage },
    what: `${stageB ? "Stage B" : "Stage C"} at ${describeLatent(latent.shape)}`,
    drivenBy: latent.origin,
  };
}

export function estimateStageADecode(args: MemoryArgs): MemoryEstimate {
  const model = linked(args, "stage_a", "model");
  const latent = linked(args, "latent", "latent");
  const info = model && args.pack(model.pack);
  if (!model || !info) return unknownInput("stage_a");
  if (!latent) return { outputs: { image: undefined }, ...unknownInput("latent") };
  const [B, , h, w] = latent.shape;
  const up = info.stageAUpscale;
  const image = [B, 3, h * up, w * up];
  return {
    outputs: { image: { kind: "image", shape: image, origin: latent.origin } },
    // A large latent decodes in tiles: the activations are one tile's, the image is whole.
    bytes: B * decodedSpan(h) * decodedSpan(w) * info.profile.stageA.cellBytes + size(image) * F32,
    model: { pack: model.pack, stage: "stageA" },
    what: `Stage A decoding ${describeLatent(latent.shape)} to ${w * up}×${h * up} px`,
    drivenBy: latent.origin,
  };
}

export function estimateStageCEncode(args: MemoryArgs): MemoryEstimate {
  const model = linked(args, "effnet", "model");
  const image = linked(args, "image", "image");
  const info = model && args.pack(model.pack);
  if (!model || !info) return unknownInput("effnet");
  if (!image) return { outputs: { stage_c: undefined, stage_b: undefined }, ...unknownInput("image") };
  const [B, , H, W] = image.shape;
  const c = num(args.inputs.compression);
  const ch = Math.max(1, Math.round(H / c)), cw = Math.max(1, Math.round(W / c));
  const e = info.effnetCompression;
  const pixels = B * ch * e * cw * e;
  const driven = { node: image.origin.node, inputs: image.origin.inputs };
  return {
    outputs: {
      stage_c: { kind: "latent", stage: "c", shape: [B, info.stageCChannels, ch, cw], origin: driven },
      stage_b: { kind: "latent", stage: "b", shape: [B, info.stageBChannels, Math.floor(H / 4), Math.floor(W / 4)], origin: driven },
    },
    bytes: pixels * (info.profile.effnet.pixelBytes + 3 * F32),
    model: { pack: model.pack, stage: "effnet" },
    what: `the EffNet encoder on ${B > 1 ? `${B} images of ` : "a "}${cw * e}×${ch * e} px${B > 1 ? "" : " image"}`,
    drivenBy: driven,
  };
}

export function estimateImageVariation(args: MemoryArgs): MemoryEstimate {
  const model = linked(args, "clip_vision", "model");
  const image = linked(args, "image", "image");
  const cond = linked(args, "conditioning", "conditioning");
  const info = model && args.pack(model.pack);
  const outputs = { conditioning: cond };
  if (!model || !info) return { outputs, ...unknownInput("clip_vision") };
  if (!image) return { outputs, ...unknownInput("image") };
  return { outputs, bytes: image.shape[0] * 224 * 224 * info.profile.effnet.pixelBytes, model: { pack: model.pack, stage: "clipVision" }, what: "the CLIP vision encoder" };
}

/** Latent editing nodes whose output has the shape of one input. */
export function sameLatentAs(input: string) {
  return (args: MemoryArgs): MemoryEstimate => {
    const l = linked(args, input, "latent");
    return { outputs: { latent: l && { ...l } }, bytes: l ? 3 * size(l.shape) * F32 : undefined };
  };
}

export function estimateLatentTransform(args: MemoryArgs): MemoryEstimate {
  const l = linked(args, "latent", "latent");
  if (!l) return { outputs: { latent: undefined }, ...unknownInput("latent") };
  const [B, C, h, w] = l.shape;
  const cx0 = Math.min(w - 1, Math.floor(num(args.inputs.crop_x) * w)), cy0 = Math.min(h - 1, Math.floor(num(args.inputs.crop_y) * h));
  const cw = Math.max(1, Math.min(w - cx0, Math.round(num(args.inputs.crop_width) * w)));
  const chh = Math.max(1, Math.min(h - cy0, Math.round(num(args.inputs.crop_height) * h)));
  const scale = num(args.inputs.scale);
  const shape = scale !== 1 ? [B, C, Math.max(1, Math.round(chh * scale)), Math.max(1, Math.round(cw * scale))] : [B, C, chh, cw];
  return {
    outputs: { latent: { ...l, shape, origin: { node: args.nodeId, inputs: ["scale", "crop_width", "crop_height"] } } },
    bytes: (size(l.shape) + 2 * size(shape)) * F32,
  };
}

export function estimateBranchSeeds(args: MemoryArgs): MemoryEstimate {
  const l = linked(args, "latent", "latent");
  if (!l) return { outputs: { latent: undefined }, ...unknownInput("latent") };
  const list = String(args.inputs.seeds ?? "").trim();
  const n = list ? list.split(/[\s,]+/).filter(Boolean).length : num(args.inputs.count);
  const shape = [n, ...l.shape.slice(1)];
  return { outputs: { latent: { ...l, shape, origin: { node: args.nodeId, inputs: [list ? "seeds" : "count"] } } }, bytes: size(shape) * F32 };
}

export function estimateMaskFromPreview(args: MemoryArgs): MemoryEstimate {
  const l = linked(args, "latent", "latent");
  return { outputs: { mask: l && { kind: "image", shape: [1, 1, l.shape[2], l.shape[3]], origin: l.origin } }, bytes: l ? l.shape[2] * l.shape[3] * 8 : undefined };
}

export function estimateEmptyImage(args: MemoryArgs): MemoryEstimate {
  const shape = [num(args.inputs.batch), 3, num(args.inputs.height), num(args.inputs.width)];
  return { outputs: { image: { kind: "image", shape, origin: origin(args, ["width", "height", "batch"]) } }, bytes: size(shape) * F32, what: `a ${shape[3]}×${shape[2]} image`, drivenBy: origin(args, ["width", "height", "batch"]) };
}

export function estimateImageScale(args: MemoryArgs): MemoryEstimate {
  const img = linked(args, "image", "image");
  if (!img) return { outputs: { image: undefined }, ...unknownInput("image") };
  const [B, C] = img.shape;
  const w = num(args.inputs.width), h = num(args.inputs.height);
  const shape = [B, C, h, w];
  // The output, plus one item's pixels in and out of sharp at a time.
  const bytes = size(shape) * F32 + (img.shape[2] * img.shape[3] + h * w) * C * 2;
  const driven = origin(args, ["width", "height"]);
  return { outputs: { image: { kind: "image", shape, origin: driven } }, bytes, what: `scaling to ${w}×${h} px`, drivenBy: driven };
}

export function estimateImageBlend(args: MemoryArgs): MemoryEstimate {
  const a = linked(args, "a", "image");
  if (!a) return { outputs: { image: undefined }, ...unknownInput("a") };
  return { outputs: { image: { ...a } }, bytes: size(a.shape) * F32 };
}

/** Saving or previewing: one item's pixels and its PNG at a time. */
export function estimateImageWrite(args: MemoryArgs): MemoryEstimate {
  const img = linked(args, "image", "image");
  if (!img) return unknownInput("image");
  const [, C, H, W] = img.shape;
  return { bytes: H * W * C * 3, what: `writing ${W}×${H} px images`, drivenBy: img.origin };
}

/** A gate passes its value through unchanged. */
export function estimatePassThrough(args: MemoryArgs): MemoryEstimate {
  return { outputs: { value: args.linked.value }, bytes: 0 };
}
