// Stage nodes: load a pack, encode text, make latents, sample Stage C and Stage B, decode with
// Stage A, encode images into the Stage C latent space, condition on an image.
import { decideGuidance, latentToRgb, parseSeed, sample, SAMPLER_NAMES, isSamplerName, type NoiseSource, type Predict } from "../server/diffusion/index.ts";
import type { CascadeRuntime, Pack, StageRunner } from "../server/runtime/index.ts";
import type { Conditioning, ExecContext, Latent, NodeDef, NodeServices, PreviewFrame, Tensor } from "./schema.ts";
import { estimateEmptyCascadeLatent, estimateImageVariation, estimateLoadPack, estimateSampler, estimateStageADecode, estimateStageBConditioning, estimateStageCEncode, estimateTextEncode } from "./memory-estimates.ts";

const CATEGORY = "cascade";

// ---------------------------------------------------------------------------------------------
// Handles: what a loader hands to stage nodes
// ---------------------------------------------------------------------------------------------

export type StageKind = "stage_c" | "stage_b" | "stage_a" | "text_encoder" | "effnet" | "clip_vision" | "previewer";

/** A reference to one model of a loaded pack. Cheap to cache: the sessions live in the runtime. */
export class StageHandle {
  readonly cacheBytes = 64;
  constructor(readonly pack: Pack, readonly kind: StageKind) {}
  describe(): string { return `${this.kind} of pack "${this.pack.name}"`; }
}

/** A seed input as a bigint; the error names the input. */
export function seedOf(value: unknown, input = "seed"): bigint {
  try {
    return parseSeed(value as string | number | bigint);
  } catch (err) {
    throw new Error(`input "${input}": ${(err as Error).message}`);
  }
}

function runtimeOf(services: NodeServices): CascadeRuntime {
  if (!services.runtime) throw new Error("this host has no cascade runtime (ONNX Runtime did not start)");
  return services.runtime as CascadeRuntime;
}

/** The host's noise source, when it gives one (the vocabulary leaves its type to diffusion). */
function noiseSourceOf(services: NodeServices): NoiseSource | undefined {
  const noise = services.noise;
  if (noise === undefined) return undefined;
  if (typeof noise !== "object" || noise === null || typeof (noise as { draw?: unknown }).draw !== "function") {
    throw new Error("the host's noise source has no draw function");
  }
  return noise as NoiseSource;
}

function handle(value: unknown, kind: StageKind | StageKind[], input: string): StageHandle {
  const kinds = Array.isArray(kind) ? kind : [kind];
  if (!(value instanceof StageHandle)) throw new Error(`input "${input}" needs a ${kinds.join(" or ")} model from LoadCascadePack`);
  if (!kinds.includes(value.kind)) throw new Error(`input "${input}" needs a ${kinds.join(" or ")} model, got ${value.describe()}`);
  return value;
}

const PACK_STAGE: Record<StageKind, Parameters<Pack["has"]>[0]> = {
  stage_c: "stageC", stage_b: "stageB", stage_a: "stageA", text_encoder: "textEncoder",
  effnet: "effnet", clip_vision: "clipVision", previewer: "previewer",
};

export const LoadCascadePack: NodeDef = {
  type: "LoadCascadePack",
  displayName: "Load Cascade Pack",
  category: CATEGORY,
  description: "Loads a Stable Cascade model pack (a folder in the models directory). Use two loaders to mix packs, e.g. a lite Stage C with a full Stage B.",
  inputs: [{ name: "pack", type: "COMBO", default: "tiny", options: [] }],
  outputs: [
    { name: "stage_c", type: "STAGE_C" },
    { name: "stage_b", type: "STAGE_B" },
    { name: "stage_a", type: "STAGE_A" },
    { name: "text_encoder", type: "TEXT_ENCODER" },
    { name: "effnet", type: "EFFNET", description: "where the pack has one" },
    { name: "clip_vision", type: "CLIP_VISION", description: "where the pack has one" },
    { name: "previewer", type: "PREVIEWER", description: "where the pack has one" },
  ],
  dynamicOptions: { pack: (services) => services.listOptions?.("packs") ?? [] },
  estimateMemory: estimateLoadPack,
  async execute({ pack }, ctx) {
    const loaded = await runtimeOf(ctx.services).pack(String(pack));
    const out: Record<string, StageHandle | undefined> = {};
    for (const kind of Object.keys(PACK_STAGE) as StageKind[]) {
      out[kind] = loaded.has(PACK_STAGE[kind]) ? new StageHandle(loaded, kind) : undefined;
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Conditioning
// ---------------------------------------------------------------------------------------------

export const TextEncode: NodeDef = {
  type: "TextEncode",
  displayName: "Text Encode",
  category: CATEGORY,
  description: "Encodes a prompt with the pack's text encoder (CLIP). Long prompts are encoded in chunks of 77 tokens.",
  inputs: [
    { name: "text_encoder", type: "TEXT_ENCODER" },
    { name: "text", type: "STRING", default: "", multiline: true },
  ],
  outputs: [{ name: "conditioning", type: "CONDITIONING" }],
  estimateMemory: estimateTextEncode,
  async execute({ text_encoder, text }) {
    const h = handle(text_encoder, "text_encoder", "text_encoder");
    const { clipText, pooled } = await h.pack.encodeText([String(text)]);
    const dim = h.pack.manifest.stageC.clipImgDim;
    const conditioning: Conditioning = { clipText, pooled, clipImg: { data: new Float32Array(dim), shape: [1, 1, dim] }, text: String(text) };
    return { conditioning };
  },
};

export const StageBConditioning: NodeDef = {
  type: "StageBConditioning",
  displayName: "Stage B Conditioning",
  category: CATEGORY,
  description: "Attaches the Stage C result to a conditioning, so Stage B decodes that composition.",
  inputs: [
    { name: "conditioning", type: "CONDITIONING" },
    { name: "stage_c", type: "LATENT" },
  ],
  outputs: [{ name: "conditioning", type: "CONDITIONING" }],
  estimateMemory: estimateStageBConditioning,
  execute({ conditioning, stage_c }) {
    const latent = stage_c as Latent;
    if (latent.stage !== "c") throw new Error(`input "stage_c" needs a Stage C latent, got a Stage ${latent.stage.toUpperCase()} latent`);
    if (latent.noisyAt && latent.noisyAt > 0) throw new Error(`input "stage_c" still carries noise (t = ${latent.noisyAt.toFixed(3)}); finish Stage C first (return_leftover_noise off)`);
    return { conditioning: { ...(conditioning as Conditioning), stageC: latent.samples } satisfies Conditioning };
  },
};

// ---------------------------------------------------------------------------------------------
// Latents
// ---------------------------------------------------------------------------------------------

export const EmptyCascadeLatent: NodeDef = {
  type: "EmptyCascadeLatent",
  displayName: "Empty Cascade Latent",
  category: CATEGORY,
  description: "Empty latents for a width × height image: Stage C at ceil(size / compression), Stage B at size / 4.",
  inputs: [
    { name: "width", type: "INT", default: 1024, min: 16, max: 8192, step: 8 },
    { name: "height", type: "INT", default: 1024, min: 16, max: 8192, step: 8 },
    { name: "compression", type: "INT", default: 42, min: 4, max: 128, description: "42 for the released models at 1024 px; the tiny pack uses 8" },
    { name: "batch", type: "INT", default: 1, min: 1, max: 64 },
  ],
  outputs: [{ name: "stage_c", type: "LATENT" }, { name: "stage_b", type: "LATENT" }],
  estimateMemory: estimateEmptyCascadeLatent,
  execute({ width, height, compression, batch }) {
    const w = width as number, h = height as number, c = compression as number, b = batch as number;
    const ch = Math.ceil(h / c), cw = Math.ceil(w / c);
    const bh = Math.floor(h / 4), bw = Math.floor(w / 4);
    return {
      stage_c: { samples: { data: new Float32Array(b * 16 * ch * cw), shape: [b, 16, ch, cw] }, stage: "c" } satisfies Latent,
      stage_b: { samples: { data: new Float32Array(b * 4 * bh * bw), shape: [b, 4, bh, bw] }, stage: "b" } satisfies Latent,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// The sampler
// ---------------------------------------------------------------------------------------------

/** Repeats a [1, ...] tensor to batch `n` (or checks it already has n). */
function toBatch(t: Tensor, n: number, what: string): Tensor {
  if (t.shape[0] === n) return t;
  if (t.shape[0] !== 1) throw new Error(`${what} has batch ${t.shape[0]}, the latent has ${n}`);
  const size = t.data.length;
  const data = new Float32Array(size * n);
  for (let i = 0; i < n; i++) data.set(t.data, i * size);
  return { data, shape: [n, ...t.shape.slice(1)] };
}

/** Stacks tensors along the batch axis, padding the sequence axis (1) with zeros to the longest. */
function stack(parts: Tensor[]): Tensor {
  const seq = Math.max(...parts.map((p) => p.shape[1]));
  const rest = parts[0].shape.slice(2);
  const restSize = rest.reduce((a, b) => a * b, 1);
  const batch = parts.reduce((n, p) => n + p.shape[0], 0);
  const data = new Float32Array(batch * seq * restSize);
  let offset = 0;
  for (const p of parts) {
    for (let b = 0; b < p.shape[0]; b++) {
      const row = p.data.subarray(b * p.shape[1] * restSize, (b + 1) * p.shape[1] * restSize);
      data.set(row, offset);
      offset += seq * restSize;
    }
  }
  return { data, shape: [batch, seq, ...rest] };
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The pack's latent → RGB preview factors for a stage, where it has them. */
function previewFactors(pack: Pack, stage: "c" | "b") {
  const p = pack.manifest.preview;
  const factors = stage === "c" ? p.stageC : p.stageB;
  return factors ? { factors, bias: stage === "c" ? p.stageCBias : p.stageBBias } : undefined;
}

export const CascadeSampler: NodeDef = {
  type: "CascadeSampler",
  displayName: "Cascade Sampler",
  category: CATEGORY,
  description: "Denoises a Stage C or Stage B latent. The model's stage picks the conditioning it reads and its default shift (C: 2, B: 1). Step windows (start/end step, leftover noise) split one stage across samplers; a renoised latent continues from its own noise level.",
  inputs: [
    { name: "model", type: "STAGE_C", accepts: ["STAGE_B"], description: "stage_c or stage_b of a pack" },
    { name: "positive", type: "CONDITIONING" },
    { name: "negative", type: "CONDITIONING" },
    { name: "latent", type: "LATENT" },
    { name: "seed", type: "INT", default: 0, min: 0, seed: true },
    { name: "steps", type: "INT", default: 20, min: 1, max: 1000 },
    { name: "cfg", type: "FLOAT", default: 4, min: 0, max: 30, step: 0.1 },
    { name: "sampler", type: "COMBO", default: "ddpm", options: [...SAMPLER_NAMES] },
    { name: "shift", type: "FLOAT", default: 0, min: 0, max: 10, step: 0.1, description: "0 = the stage's default (from the pack)" },
    { name: "denoise", type: "FLOAT", default: 1, min: 0, max: 1, step: 0.01 },
    { name: "start_step", type: "INT", default: 0, min: 0, max: 10000 },
    { name: "end_step", type: "INT", default: 10000, min: 0, max: 10000, description: "stop before this step (10000 = run to the end)" },
    { name: "add_noise", type: "BOOLEAN", default: true },
    { name: "return_leftover_noise", type: "BOOLEAN", default: false },
    { name: "cfg_rescale", type: "FLOAT", default: 0, min: 0, max: 1, step: 0.05 },
  ],
  outputs: [{ name: "latent", type: "LATENT" }],
  estimateMemory: estimateSampler,
  async execute(inputs, ctx) {
    const model = handle(inputs.model, ["stage_c", "stage_b"], "model");
    const stage = model.kind === "stage_c" ? "c" : "b";
    const latent = inputs.latent as Latent;
    if (latent.stage !== stage) {
      throw new Error(`input "latent" is a Stage ${latent.stage.toUpperCase()} latent but the model is Stage ${stage.toUpperCase()}`);
    }
    const positive = inputs.positive as Conditioning, negative = inputs.negative as Conditioning;
    const pack = model.pack;
    const [B] = latent.samples.shape;
    const shape = latent.samples.shape;
    const sampler = String(inputs.sampler);
    if (!isSamplerName(sampler)) throw new Error(`unknown sampler "${sampler}" (known: ${SAMPLER_NAMES.join(", ")})`);
    const shift = (inputs.shift as number) > 0 ? (inputs.shift as number) : stage === "c" ? pack.manifest.stageC.shift : pack.manifest.stageB.shift;
    const seed = seedOf(inputs.seed);
    const seeds = latent.seeds && latent.seeds.length === B ? latent.seeds : undefined;

    // Guidance is decided once: the runner is sized from it (the unconditional and conditional
    // halves as one batch of 2B, uncond first; with cfg 1 only the conditional B) and the sampler
    // combines by it.
    const guidance = decideGuidance(inputs.cfg as number, inputs.cfg_rescale as number);
    const { withUncond } = guidance;
    const sampleShape = [withUncond ? 2 * B : B, ...shape.slice(1)];
    let runner: StageRunner;
    if (stage === "c") {
      const pos = { clipText: toBatch(positive.clipText, B, "positive clip_text"), pooled: toBatch(positive.pooled, B, "positive pooled"), clipImg: toBatch(positive.clipImg, B, "positive clip_img") };
      const neg = { clipText: toBatch(negative.clipText, B, "negative clip_text"), pooled: toBatch(negative.pooled, B, "negative pooled"), clipImg: toBatch(negative.clipImg, B, "negative clip_img") };
      runner = withUncond
        ? await pack.prepareStageC(sampleShape, stack([neg.clipText, pos.clipText]), stack([neg.pooled, pos.pooled]), stack([neg.clipImg, pos.clipImg]))
        : await pack.prepareStageC(sampleShape, stack([pos.clipText]), pos.pooled, pos.clipImg);
    } else {
      if (!positive.stageC) throw new Error(`input "positive" carries no Stage C latent: pass it through StageBConditioning`);
      const effnet = toBatch(positive.stageC, B, "the Stage C latent");
      const posPooled = toBatch(positive.pooled, B, "positive pooled"), negPooled = toBatch(negative.pooled, B, "negative pooled");
      // The unconditional half sees no Stage C latent (zeros), as in the release.
      runner = withUncond
        ? await pack.prepareStageB(sampleShape, stack([negPooled, posPooled]), { data: concat(new Float32Array(effnet.data.length), effnet.data), shape: [2 * B, ...effnet.shape.slice(1)] })
        : await pack.prepareStageB(sampleShape, posPooled, effnet);
    }
    // The prediction's halves, made again only when the runner hands back another array.
    let halvesOf: Float32Array | undefined;
    let halves: Awaited<ReturnType<Predict>> = { cond: new Float32Array(0) };
    const split = (eps: Float32Array) => {
      if (eps !== halvesOf) {
        const n = eps.length / (withUncond ? 2 : 1);
        halves = withUncond ? { uncond: eps.subarray(0, n), cond: eps.subarray(n) } : { cond: eps };
        halvesOf = eps;
      }
      return halves;
    };
    const predict: Predict = (x, r) => {
      runner.sample.set(x, 0);
      if (withUncond) runner.sample.set(x, x.length);
      return runner.run(r).then(split);
    };

    const preview = previewFactors(pack, stage);
    const steps = inputs.steps as number;
    // A latent that already carries noise (LatentRenoise) continues from its noise level.
    const continues = (latent.noisyAt ?? 0) > 0 && (inputs.start_step as number) === 0;
    let result: Awaited<ReturnType<typeof sample>>;
    try {
      result = await sample({
        x: latent.samples.data,
        shape,
        sampler,
        steps,
        shift: continues && latent.renoiseShift ? latent.renoiseShift : shift,
        denoise: continues ? latent.noisyAt : (inputs.denoise as number),
        startStep: inputs.start_step as number,
        endStep: Math.min(inputs.end_step as number, steps),
        addNoise: continues ? false : (inputs.add_noise as boolean),
        returnLeftoverNoise: inputs.return_leftover_noise as boolean,
        seed: seeds ?? seed,
        guidance,
        predict,
        signal: ctx.signal,
        finishRequested: ctx.finishRequested,
        history: (latent as Latent & { history?: Parameters<typeof sample>[0]["history"] }).history,
        noise: noiseSourceOf(ctx.services),
        onStep: (info) => {
          ctx.progress(info.step, info.total);
          if (preview) sendPreview(ctx, preview, info.x0, shape, info.step, info.total);
        },
      });
    } finally {
      await runner.release();
    }
    const out: Latent & { history?: unknown } = {
      samples: { data: result.samples, shape: [...shape] },
      stage,
      ...(result.noisyAt > 0 ? { noisyAt: result.noisyAt } : {}),
      ...(latent.seeds ? { seeds: latent.seeds } : {}),
      ...(result.history ? { history: result.history } : {}),
      ...(preview ? { preview } : {}),
    };
    return { latent: out };
  },
};

/**
 * A sampler step's preview: the first batch item's x0, drawn through the pack's factors only if the
 * host sends it (a class, so a step makes no new closure).
 */
class LatentPreview implements PreviewFrame {
  readonly width: number;
  readonly height: number;
  constructor(
    private readonly x0: Float32Array,
    private readonly shape: readonly number[],
    private readonly preview: NonNullable<ReturnType<typeof previewFactors>>,
    readonly step: number,
    readonly total: number,
  ) {
    this.height = shape[2];
    this.width = shape[3];
  }

  rgb(): Uint8Array<ArrayBuffer> {
    const [, C, h, w] = this.shape;
    return latentToRgb(this.x0.subarray(0, C * h * w), [C, h, w], this.preview.factors, this.preview.bias);
  }
}

function sendPreview(ctx: ExecContext, preview: NonNullable<ReturnType<typeof previewFactors>>, x0: Float32Array, shape: number[], step: number, total: number): void {
  ctx.preview(new LatentPreview(x0, shape, preview, step, total));
}

// ---------------------------------------------------------------------------------------------
// Decoding and encoding images
// ---------------------------------------------------------------------------------------------

export const StageADecode: NodeDef = {
  type: "StageADecode",
  displayName: "Stage A Decode",
  category: CATEGORY,
  description: "Decodes a Stage B latent into an image with Stage A (4× up).",
  inputs: [{ name: "stage_a", type: "STAGE_A" }, { name: "latent", type: "LATENT" }],
  outputs: [{ name: "image", type: "IMAGE" }],
  estimateMemory: estimateStageADecode,
  async execute({ stage_a, latent }, ctx) {
    const h = handle(stage_a, "stage_a", "stage_a");
    const l = latent as Latent;
    if (l.stage !== "b") throw new Error(`input "latent" needs a Stage B latent, got a Stage ${l.stage.toUpperCase()} latent (run Stage B first)`);
    ctx.progress(0, 1);
    const image: Tensor = await h.pack.decodeStageA(l.samples);
    ctx.progress(1, 1);
    return { image: l.seeds ? { ...image, seeds: l.seeds } : image };
  },
};

/** Bilinear resize of [B, C, H, W] planes. */
export function resizePlanes(t: Tensor, outH: number, outW: number): Tensor {
  const [B, C, H, W] = t.shape;
  if (H === outH && W === outW) return t;
  const data = new Float32Array(B * C * outH * outW);
  const sy = H / outH, sx = W / outW;
  for (let p = 0; p < B * C; p++) {
    const src = p * H * W, dst = p * outH * outW;
    for (let y = 0; y < outH; y++) {
      const fy = Math.max(0, (y + 0.5) * sy - 0.5), y0 = Math.min(H - 1, Math.floor(fy)), y1 = Math.min(H - 1, y0 + 1), wy = fy - y0;
      for (let x = 0; x < outW; x++) {
        const fx = Math.max(0, (x + 0.5) * sx - 0.5), x0 = Math.min(W - 1, Math.floor(fx)), x1 = Math.min(W - 1, x0 + 1), wx = fx - x0;
        const top = t.data[src + y0 * W + x0] * (1 - wx) + t.data[src + y0 * W + x1] * wx;
        const bottom = t.data[src + y1 * W + x0] * (1 - wx) + t.data[src + y1 * W + x1] * wx;
        data[dst + y * outW + x] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return { data, shape: [B, C, outH, outW] };
}

export const StageCEncode: NodeDef = {
  type: "StageCEncode",
  displayName: "Stage C Encode (EffNet)",
  category: CATEGORY,
  description: "Encodes an image into the Stage C latent space for image-to-image (sample it with denoise < 1), plus an empty Stage B latent of the matching size.",
  inputs: [
    { name: "effnet", type: "EFFNET" },
    { name: "image", type: "IMAGE" },
    { name: "compression", type: "INT", default: 32, min: 4, max: 128, description: "32 for the released models; the tiny pack uses 8" },
  ],
  outputs: [{ name: "stage_c", type: "LATENT" }, { name: "stage_b", type: "LATENT" }],
  estimateMemory: estimateStageCEncode,
  async execute({ effnet, image, compression }) {
    const h = handle(effnet, "effnet", "effnet");
    const img = image as Tensor;
    const [B, , H, W] = img.shape;
    const c = compression as number;
    const ch = Math.max(1, Math.round(H / c)), cw = Math.max(1, Math.round(W / c));
    const e = h.pack.manifest.effnet.compression;
    const latent = await h.pack.encodeEffnet(resizePlanes(img, ch * e, cw * e));
    const bh = Math.floor(H / 4), bw = Math.floor(W / 4);
    return {
      stage_c: { samples: latent, stage: "c" } satisfies Latent,
      stage_b: { samples: { data: new Float32Array(B * 4 * bh * bw), shape: [B, 4, bh, bw] }, stage: "b" } satisfies Latent,
    };
  },
};

export const ImageVariation: NodeDef = {
  type: "ImageVariation",
  displayName: "Image Variation (CLIP vision)",
  category: CATEGORY,
  description: "Conditions Stage C on images through the pack's CLIP vision encoder (image variation / remix). Several images in the batch are averaged.",
  inputs: [
    { name: "clip_vision", type: "CLIP_VISION" },
    { name: "conditioning", type: "CONDITIONING", description: "usually the empty prompt" },
    { name: "image", type: "IMAGE" },
    { name: "strength", type: "FLOAT", default: 1, min: 0, max: 2, step: 0.05 },
  ],
  outputs: [{ name: "conditioning", type: "CONDITIONING" }],
  estimateMemory: estimateImageVariation,
  async execute({ clip_vision, conditioning, image, strength }) {
    const h = handle(clip_vision, "clip_vision", "clip_vision");
    const embeds = await h.pack.encodeClipVision(resizePlanes(image as Tensor, 224, 224));
    const [n, , dim] = embeds.shape;
    const mixed = new Float32Array(dim);
    for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mixed[d] += (embeds.data[i * dim + d] * (strength as number)) / n;
    return { conditioning: { ...(conditioning as Conditioning), clipImg: { data: mixed, shape: [1, 1, dim] } } satisfies Conditioning };
  },
};

export const cascadeNodes: NodeDef[] = [LoadCascadePack, TextEncode, EmptyCascadeLatent, CascadeSampler, StageBConditioning, StageADecode, StageCEncode, ImageVariation];
