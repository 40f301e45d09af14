// The Gate: pauses a run so a person can look at a value (a latent through its preview, an image
// as it is) and continue, continue with an edited value, re-roll what is upstream, or cancel.
import sharp from "sharp";
import { latentToRgb, paintLatent } from "../server/diffusion/index.ts";
import { pixelsToPlanes, tensorToPixels } from "./image-tensor.ts";
import type { GateAnswer, GatePreview, Latent, NodeDef, Tensor } from "./schema.ts";
import { estimatePassThrough } from "./memory-estimates.ts";

/** Raised by a gate answered with "reroll": the host bumps the seeds upstream and runs again. */
export class GateReroll extends Error {
  constructor(readonly nodeId: string) {
    super(`re-roll requested at gate ${nodeId}`);
    this.name = "GateReroll";
  }
}

/** Raised by a gate that kept its value as a checkpoint: the run ends, the prompt waits. */
export class GatePaused extends Error {
  constructor(readonly nodeId: string) {
    super(`paused at gate ${nodeId}`);
    this.name = "GatePaused";
  }
}

function isLatent(v: unknown): v is Latent {
  return typeof v === "object" && v !== null && "samples" in v && "stage" in v;
}

function isImage(v: unknown): v is Tensor {
  return typeof v === "object" && v !== null && (v as Tensor).data instanceof Float32Array && (v as Tensor).shape?.length === 4 && (v as Tensor).shape[1] === 3;
}

/** A latent's preview map; without known factors its first three channels show as R, G, B. */
function previewFactors(latent: Latent): number[][] {
  const C = latent.samples.shape[1];
  return latent.preview?.factors ?? Array.from({ length: C }, (_, c) => [0, 1, 2].map((k) => (c === k ? 0.5 : 0)));
}

/** What the person sees at the gate. */
export function gatePreview(value: unknown): GatePreview {
  if (isLatent(value)) {
    const [, C, h, w] = value.samples.shape;
    const first = value.samples.data.subarray(0, C * h * w);
    return { kind: "latent", width: w, height: h, rgb: latentToRgb(first, [C, h, w], previewFactors(value), value.preview?.bias) };
  }
  if (isImage(value)) {
    const px = tensorToPixels(value, 0);
    return { kind: "image", width: px.width, height: px.height, rgb: px.data };
  }
  return { kind: "image", width: 1, height: 1, rgb: new Uint8Array([128, 128, 128]) };
}

const DATA_URL = /^data:image\/(png|jpeg|webp);base64,(.+)$/;

/**
 * An edited value sent back with "continue": a latent as {shape, data: base64 float32}, or as
 * {paint: PNG data URL} (colours painted over its preview, transparent where untouched: see
 * paintLatent), or an image as a PNG data URL.
 */
export async function decodeEdited(original: unknown, edited: unknown): Promise<unknown> {
  if (isLatent(original)) {
    const e = edited as { shape?: number[]; data?: string; paint?: unknown };
    if (typeof e?.paint === "string") {
      const m = DATA_URL.exec(e.paint);
      if (!m) throw new Error("the paint over a latent must be a PNG, JPEG or WebP data URL");
      const [, , h, w] = original.samples.shape;
      // Resampled to one pixel per latent cell; an area average keeps a thin stroke as a partial alpha.
      const paint = await sharp(Buffer.from(m[2], "base64")).ensureAlpha().resize(w, h, { fit: "fill", kernel: "cubic" }).raw().toBuffer();
      const data = paintLatent(original.samples.data, original.samples.shape, previewFactors(original), original.preview?.bias, new Uint8Array(paint.buffer, paint.byteOffset, paint.length));
      return { ...original, samples: { data, shape: original.samples.shape } } satisfies Latent;
    }
    if (!e || !Array.isArray(e.shape) || typeof e.data !== "string") throw new Error("an edited latent must be {shape: [B, C, h, w], data: base64 float32} or {paint: PNG data URL}");
    const bytes = Buffer.from(e.data, "base64");
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (bytes.length !== size * 4) throw new Error(`the edited latent's data holds ${bytes.length / 4} floats, its shape [${e.shape.join(", ")}] needs ${size}`);
    if (e.shape[1] !== original.samples.shape[1]) throw new Error(`the edited latent has ${e.shape[1]} channels, the original ${original.samples.shape[1]}`);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = bytes.readFloatLE(i * 4);
    return { ...original, samples: { data, shape: e.shape } } satisfies Latent;
  }
  if (typeof edited === "string") {
    const m = DATA_URL.exec(edited);
    if (!m) throw new Error("an edited image must be a PNG, JPEG or WebP data URL");
    const { data, info } = await sharp(Buffer.from(m[2], "base64")).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const planes = new Float32Array(3 * info.width * info.height);
    pixelsToPlanes(data, info.width, info.height, info.channels, planes, 0, 3);
    return { data: planes, shape: [1, 3, info.height, info.width] } satisfies Tensor;
  }
  throw new Error("this gate's value cannot be replaced by an edit");
}

function abortError(message: string): Error {
  const err = new Error(message);
  err.name = "AbortError";
  return err;
}

export const Gate: NodeDef = {
  type: "Gate",
  displayName: "Gate",
  category: "control",
  description: "Pauses the run here and shows the value: continue, continue with an edited value, re-roll what is upstream (next seed, the rest cached), or cancel. Other prompts run while it waits. Passes straight through where nobody can answer (sluice run).",
  inputs: [
    { name: "value", type: "*" },
    { name: "timeout", type: "INT", default: 0, min: 0, max: 7 * 24 * 3600, description: "seconds to wait; 0 = until answered" },
    { name: "on_timeout", type: "COMBO", default: "continue", options: ["continue", "cancel"] },
  ],
  outputs: [{ name: "value", type: "*" }],
  // Always asks: a cached gate would let a later run slip through unseen.
  volatile: true,
  estimateMemory: estimatePassThrough,
  async execute({ value, timeout, on_timeout }, ctx) {
    // Resumed from a checkpoint: the value comes from there (the plan no longer feeds this input).
    const resumed = await ctx.services.resumedGate?.(ctx.nodeId);
    if (resumed) return answered(resumed.value, resumed.answer, ctx.nodeId);
    if (ctx.services.pauseAtGate) {
      await ctx.services.pauseAtGate(ctx.nodeId, {
        value, preview: gatePreview(value), timeoutSeconds: timeout as number, onTimeout: on_timeout === "cancel" ? "cancel" : "continue",
      });
      throw new GatePaused(ctx.nodeId);
    }
    const wait = ctx.services.waitAtGate;
    if (!wait) return { value };
    const asked = wait(ctx.nodeId, gatePreview(value));
    let timer: NodeJS.Timeout | undefined;
    const seconds = timeout as number;
    const answer: GateAnswer = seconds > 0
      ? await Promise.race([asked, new Promise<GateAnswer>((resolve) => { timer = setTimeout(() => resolve({ action: on_timeout === "cancel" ? "cancel" : "continue" }), seconds * 1000); })])
      : await asked;
    clearTimeout(timer);
    ctx.signal.throwIfAborted();
    return answered(value, answer, ctx.nodeId);
  },
};

/** A gate's output once answered: the value (edited or not), or a re-roll or cancel request. */
async function answered(value: unknown, answer: GateAnswer, nodeId: string): Promise<{ value: unknown }> {
  switch (answer.action) {
    case "continue":
      return { value: answer.value === undefined ? value : await decodeEdited(value, answer.value) };
    case "reroll":
      throw new GateReroll(nodeId);
    case "cancel":
      throw abortError(`cancelled at gate ${nodeId}`);
  }
}

export const gateNodes: NodeDef[] = [Gate];
