// How much memory a pack's models take while they run, as data and pure arithmetic: the optional
// `memory` section of a manifest (coefficients measured on the pack), defaults for the released
// Stable Cascade architecture, and the per-run estimates built from them. Reading a pack's files
// for these numbers is in pack-memory.ts.
import { z } from "zod";
import type { DiffusionMemory, MemoryProfile, PackMemoryInfo } from "../../nodes/memory.ts";

export type { DiffusionMemory, MemoryProfile, PackMemoryInfo };

const positive = z.number().positive();

/** A diffusion stage: convolution activations per latent cell, plus self-attention over tokens. */
export const DiffusionMemorySchema = z.object({
  /** Activation bytes per latent cell per batch row (everything but attention). */
  cellBytes: positive.optional(),
  /** Attention heads of the widest attention level. */
  attentionHeads: z.number().int().positive().optional(),
  /** The attention level's grid is the latent's divided by this (1: attention at latent size). */
  attentionDownscale: positive.optional(),
  /** Score matrices (heads × queries × keys, float32) alive at once in one attention. */
  attentionCopies: positive.optional(),
}).strict();

export const MemoryProfileSchema = z.object({
  stageC: DiffusionMemorySchema.optional(),
  stageB: DiffusionMemorySchema.optional(),
  /** Stage A: bytes per Stage B latent cell decoded. */
  stageA: z.object({ cellBytes: positive.optional() }).strict().optional(),
  /** EffNet: bytes per input pixel encoded. */
  effnet: z.object({ pixelBytes: positive.optional() }).strict().optional(),
  /** Text encoder: activation bytes per 77-token chunk. */
  textEncoder: z.object({ chunkBytes: positive.optional() }).strict().optional(),
  /** Resident bytes per byte of model file once a session is loaded (optimised graph, pre-packed weights). */
  weightFactor: positive.optional(),
  /** Fixed bytes of each loaded session besides its weights (kernels, thread pools, planner). */
  sessionBytes: positive.optional(),
}).strict();
export type MemoryProfileFile = z.infer<typeof MemoryProfileSchema>;

const MB = 1024 ** 2;

/**
 * The released models' architecture (Stage C: width 2048, 32 heads at latent size; Stage B: patch
 * 4 then two halvings before its first attention level, 20 heads; Stage A a VQGAN decoder of width
 * 384 at latent size), with activation sizes of several live float32 tensors of those widths.
 * A pack whose manifest measures its own (the tiny pack does) overrides any of them.
 */
export const RELEASE_MEMORY_PROFILE: MemoryProfile = {
  stageC: { cellBytes: 2048 * 4 * 12, attentionHeads: 32, attentionDownscale: 1, attentionCopies: 3 },
  stageB: { cellBytes: 1280 * 4 * 12 / 16, attentionHeads: 20, attentionDownscale: 16, attentionCopies: 3 },
  stageA: { cellBytes: 384 * 4 * 16 },
  effnet: { pixelBytes: 256 },
  textEncoder: { chunkBytes: 64 * MB },
  weightFactor: 1.25,
  sessionBytes: 64 * MB,
};

export function resolveMemoryProfile(file: MemoryProfileFile | undefined): MemoryProfile {
  const r = RELEASE_MEMORY_PROFILE;
  return {
    stageC: { ...r.stageC, ...file?.stageC },
    stageB: { ...r.stageB, ...file?.stageB },
    stageA: { ...r.stageA, ...file?.stageA },
    effnet: { ...r.effnet, ...file?.effnet },
    textEncoder: { ...r.textEncoder, ...file?.textEncoder },
    weightFactor: file?.weightFactor ?? r.weightFactor,
    sessionBytes: file?.sessionBytes ?? r.sessionBytes,
  };
}

/** Tokens a prompt may take, rounded up to whole 77-token chunks: a BPE token covers at least one character. */
export function promptChunks(text: string): number {
  return Math.max(1, Math.ceil(text.length / 75));
}

/**
 * Peak activation bytes of one model call of a diffusion stage on `rows` batch rows of an h × w
 * latent, with `condTokens` condition tokens joining the image tokens as keys.
 */
export function diffusionCallBytes(p: DiffusionMemory, rows: number, h: number, w: number, condTokens: number): { bytes: number; tokens: number; attentionBytes: number } {
  const tokens = Math.ceil(h / p.attentionDownscale) * Math.ceil(w / p.attentionDownscale);
  const attentionBytes = rows * p.attentionHeads * tokens * (tokens + condTokens) * 4 * p.attentionCopies;
  return { bytes: rows * h * w * p.cellBytes + attentionBytes, tokens, attentionBytes };
}

/** Parses "6GB", "6000MB", "512 MiB", "1.5g" or a byte count; throws a message naming the value. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not a memory size: write e.g. 6GB, 6000MB or 512MiB`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"];
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes <= 0) throw new Error(`memory size "${text}" must be more than zero`);
  return bytes;
}
