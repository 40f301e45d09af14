// Model specs of a Stable Cascade pack: where each stage's model lives in the public export's
// layout, the inputs it must declare (names, ranks, kinds), the optional inputs it may declare (fed
// only when present, e.g. an attention mask or a ControlNet's features), the outputs Sluice reads
// and the weight types it accepts. Data only: checking is in model.ts, loading in sessions.ts.
import type { ExpectedInput, ExpectedOutput } from "./model.ts";

export const STAGE_FILES = {
  textEncoder: "text_encoder/model.onnx",
  stageC: "prior/model.onnx",
  stageB: "decoder/model.onnx",
  stageA: "vae_decoder/model.onnx",
  effnet: "effnet/model.onnx",
  previewer: "previewer/model.onnx",
  clipVision: "vae_encoder/model.onnx",
} as const;
export type StageName = keyof typeof STAGE_FILES;

export const STAGE_TITLES: Record<StageName, string> = {
  textEncoder: "text encoder", stageC: "Stage C", stageB: "Stage B", stageA: "Stage A",
  effnet: "EffNet encoder", previewer: "previewer", clipVision: "CLIP vision encoder",
};

/** The stages every pack needs (with the tokenizer). */
export const REQUIRED_STAGES: readonly StageName[] = ["textEncoder", "stageC", "stageB", "stageA"];

/** A model input: required unless `optional` (then fed only where the model declares it). */
export type InputSpec = ExpectedInput & { optional?: boolean };

/** The inputs each stage's model must declare (names of the public export) and their ranks. */
export const STAGE_INPUTS: Record<StageName, InputSpec[]> = {
  textEncoder: [{ name: "input_ids", rank: 2, kind: "int" }, { name: "attention_mask", rank: 2, kind: "int", optional: true }],
  stageC: [
    { name: "sample", rank: 4, kind: "float" }, { name: "timestep_ratio", rank: 1, kind: "float" },
    { name: "clip_text_pooled", rank: 3, kind: "float" }, { name: "clip_text", rank: 3, kind: "float" }, { name: "clip_img", rank: 3, kind: "float" },
  ],
  stageB: [
    { name: "sample", rank: 4, kind: "float" }, { name: "timestep_ratio", rank: 1, kind: "float" },
    { name: "clip_text_pooled", rank: 3, kind: "float" }, { name: "effnet", rank: 4, kind: "float" },
  ],
  stageA: [{ name: "sample", rank: 4, kind: "float" }],
  effnet: [{ name: "pixel_values", rank: 4, kind: "float" }],
  previewer: [{ name: "sample", rank: 4, kind: "float" }],
  clipVision: [{ name: "sample", rank: 4, kind: "float" }],
};

export const STAGE_OUTPUTS: Record<StageName, ExpectedOutput[]> = {
  textEncoder: [], // named by the manifest (hiddenOutput, pooledOutput)
  stageC: [{ name: "out_sample", rank: 4 }],
  stageB: [{ name: "out_sample", rank: 4 }],
  stageA: [{ name: "latent_sample", rank: 4 }],
  effnet: [{ name: "image_embeds", rank: 4 }],
  previewer: [{ name: "image", rank: 4 }],
  clipVision: [{ name: "image_embeds", rank: 2 }],
};

/**
 * Weight types a pack's models may hold. float16 models (the public export's decoder) keep float32
 * inputs and outputs; on the CPU their weights are made float32 once at load (float16.ts), on a
 * GPU they run as they are.
 */
export const WEIGHT_TYPES = ["float32", "float16"] as const;
export type WeightType = (typeof WEIGHT_TYPES)[number];

/** The inputs a stage expects of a model that declares `declaredNames`: required ones, and the optional ones it declares. */
export function expectedInputsFor(stage: StageName, declaredNames: readonly string[]): ExpectedInput[] {
  return STAGE_INPUTS[stage].filter((e) => !e.optional || declaredNames.includes(e.name));
}
