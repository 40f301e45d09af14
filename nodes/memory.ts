// What a node's memory estimate may know of a pack, shared by the node families that estimate and
// the runtime that measures packs: plain types, no code.

/** One diffusion stage: convolution activations per latent cell, plus self-attention over tokens. */
export interface DiffusionMemory { cellBytes: number; attentionHeads: number; attentionDownscale: number; attentionCopies: number }

/** A pack's memory coefficients, every field resolved (manifest values over the release defaults). */
export interface MemoryProfile {
  stageC: DiffusionMemory;
  stageB: DiffusionMemory;
  stageA: { cellBytes: number };
  effnet: { pixelBytes: number };
  textEncoder: { chunkBytes: number };
  weightFactor: number;
  sessionBytes: number;
}

/** What the estimates need to know of one pack: its memory profile, model sizes and latent layout. */
export interface PackMemoryInfo {
  name: string;
  profile: MemoryProfile;
  /** Bytes of each model present (file plus external data), by stage. */
  modelBytes: Partial<Record<"textEncoder" | "stageC" | "stageB" | "stageA" | "effnet" | "previewer" | "clipVision", number>>;
  stageCChannels: number;
  stageBChannels: number;
  textWidth: number;
  effnetCompression: number;
  stageAUpscale: number;
}
