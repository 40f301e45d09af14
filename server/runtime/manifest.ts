// manifest.json of a pack: the zod schema, and the inference of everything it says from the ONNX
// inputs/outputs of a bare export (with the list of assumptions made).
import { z } from "zod";
import { MemoryProfileSchema } from "./memory-profile.ts";
import type { ModelSignature, ValueSignature } from "./onnx-proto.ts";

const rgb = z.tuple([z.number(), z.number(), z.number()]);
const pos = z.number().positive();

/** What both diffusion stages declare: latent shape and the sampling defaults. */
const DiffusionStageSchema = z.object({
  channels: z.number().int().positive().optional(),
  compression: pos.optional(),
  shift: pos.optional(),
  steps: z.number().int().positive().optional(),
  cfg: z.number().nonnegative().optional(),
  sampler: z.string().min(1).optional(),
});

export const ManifestSchema = z.object({
  format: z.literal("sluice.pack"),
  version: z.literal(1),
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  resolution: z.object({
    default: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    dynamic: z.boolean().optional(),
  }).strict().optional(),
  textEncoder: z.object({
    width: z.number().int().positive().optional(),
    maxLength: z.number().int().min(3).optional(),
    hiddenOutput: z.string().min(1).optional(),
    pooledOutput: z.string().min(1).optional(),
  }).strict().optional(),
  stageC: DiffusionStageSchema.extend({ clipImgDim: z.number().int().positive().optional() }).strict().optional(),
  stageB: DiffusionStageSchema.strict().optional(),
  stageA: z.object({ scale: pos.optional(), upscale: z.number().int().positive().optional() }).strict().optional(),
  effnet: z.object({ compression: pos.optional() }).strict().optional(),
  preview: z.object({
    stageC: z.array(rgb).optional(),
    stageB: z.array(rgb).optional(),
    stageCBias: rgb.optional(),
    stageBBias: rgb.optional(),
  }).strict().optional(),
  /** Coefficients of the memory estimates, measured on this pack (memory-profile.ts). */
  memory: MemoryProfileSchema.optional(),
}).strict();
export type ManifestFile = z.infer<typeof ManifestSchema>;

type DiffusionStage = Required<z.infer<typeof DiffusionStageSchema>>;

/** A pack's manifest with every field resolved (from manifest.json or inferred). */
export interface PackManifest {
  format: "sluice.pack";
  version: 1;
  name: string;
  description: string;
  resolution: { default: [number, number]; dynamic: boolean };
  textEncoder: { width: number; maxLength: number; hiddenOutput: string; pooledOutput: string };
  stageC: DiffusionStage & { clipImgDim: number };
  stageB: DiffusionStage;
  stageA: { scale: number; upscale: number };
  effnet: { compression: number };
  /** Latent → RGB factors ([channels][3]) for cheap previews; absent where none are known. */
  preview: { stageC?: [number, number, number][]; stageB?: [number, number, number][]; stageCBias?: [number, number, number]; stageBBias?: [number, number, number] };
}

/** The published Stage B latent → RGB factors (CASCADE.md). */
export const STAGE_B_PREVIEW_FACTORS: [number, number, number][] = [
  [0.1121, 0.2006, 0.1023], [-0.2093, -0.0222, -0.0195], [-0.3087, -0.1535, 0.0366], [0.029, -0.1574, -0.4078],
];

/** Defaults of the original release (CASCADE.md). */
export const RELEASE_DEFAULTS = {
  resolution: [1024, 1024] as [number, number],
  textWidth: 1280,
  maxLength: 77,
  stageC: { channels: 16, compression: 42.67, shift: 2, steps: 20, cfg: 4, sampler: "ddpm", clipImgDim: 768 },
  stageB: { channels: 4, compression: 4, shift: 1, steps: 10, cfg: 1.1, sampler: "ddpm" },
  stageA: { scale: 0.43, upscale: 4 },
  effnet: { compression: 32 },
};

/** "manifest.json: stageC.steps: expected number, received string; ..." */
export function formatManifestError(label: string, error: z.ZodError): string {
  const issues = error.issues.map((i) => {
    const where = i.path.length ? i.path.join(".") : "(top level)";
    return `${where}: ${i.message}`;
  });
  return `${label}: ${issues.join("; ")}`;
}

export interface Signatures {
  textEncoder?: ModelSignature;
  stageC?: ModelSignature;
  stageB?: ModelSignature;
  stageA?: ModelSignature;
  effnet?: ModelSignature;
  previewer?: ModelSignature;
  clipVision?: ModelSignature;
}

function dim(v: ValueSignature | undefined, i: number): number | undefined {
  const d = v?.shape?.[i];
  return typeof d === "number" && d > 0 ? d : undefined;
}

function find(list: ValueSignature[] | undefined, name: string): ValueSignature | undefined {
  return list?.find((v) => v.name === name);
}

/**
 * Resolve a manifest: fields from manifest.json where given, else from the models' signatures,
 * else the release defaults. Returns the assumptions made (fields neither given nor read from a
 * model), in words.
 */
export function resolveManifest(file: ManifestFile | undefined, sigs: Signatures, packName: string): { manifest: PackManifest; assumptions: string[] } {
  const assumed: string[] = [];
  const inferred: string[] = [];
  const src = file ? "manifest.json lacks" : "no manifest.json:";
  const pick = <T>(given: T | undefined, fromModel: T | undefined, fallback: T, what: string, modelWhat?: string): T => {
    if (given !== undefined) return given;
    if (fromModel !== undefined) {
      if (modelWhat) inferred.push(`${what} = ${JSON.stringify(fromModel)} (${modelWhat})`);
      return fromModel;
    }
    assumed.push(`${what} ${JSON.stringify(fallback)}`);
    return fallback;
  };

  const te = sigs.textEncoder;
  const hiddenNames = (te?.outputs ?? []).map((o) => /^hidden_states\.(\d+)$/.exec(o.name)).filter((m): m is RegExpExecArray => !!m);
  const highest = hiddenNames.length ? `hidden_states.${Math.max(...hiddenNames.map((m) => Number(m[1])))}` : undefined;
  const hiddenFromModel = highest ?? (find(te?.outputs, "last_hidden_state") ? "last_hidden_state" : undefined);
  const pooledFromModel = find(te?.outputs, "text_embeds") ? "text_embeds" : undefined;
  const widthFromModel = dim(find(te?.outputs, "text_embeds"), 1) ?? dim(find(te?.outputs, hiddenFromModel ?? ""), 2)
    ?? dim(find(sigs.stageC?.inputs, "clip_text_pooled"), 2);
  const seqFromModel = dim(find(te?.inputs, "input_ids"), 1);

  const cSample = find(sigs.stageC?.inputs, "sample");
  const bSample = find(sigs.stageB?.inputs, "sample");
  const f = file ?? ({} as Partial<ManifestFile>);

  const textEncoder = {
    width: pick(f.textEncoder?.width, widthFromModel, RELEASE_DEFAULTS.textWidth, "text width", "from text_encoder outputs"),
    maxLength: pick(f.textEncoder?.maxLength, seqFromModel, RELEASE_DEFAULTS.maxLength, "token length", "from input_ids"),
    hiddenOutput: pick(f.textEncoder?.hiddenOutput, hiddenFromModel, "hidden_states.32", "clip_text output", "the highest-numbered hidden state"),
    pooledOutput: pick(f.textEncoder?.pooledOutput, pooledFromModel, "text_embeds", "pooled output", "text_encoder output"),
  };
  const diffusionStage = (label: string, given: ManifestFile["stageB"], release: DiffusionStage, channels: number | undefined, channelsFrom: string): DiffusionStage => ({
    channels: pick(given?.channels, channels, release.channels, `${label} channels`, channelsFrom),
    compression: pick(given?.compression, undefined, release.compression, `${label} compression`),
    shift: pick(given?.shift, undefined, release.shift, `${label} shift`),
    steps: pick(given?.steps, undefined, release.steps, `${label} steps`),
    cfg: pick(given?.cfg, undefined, release.cfg, `${label} cfg`),
    sampler: pick(given?.sampler, undefined, release.sampler, `${label} sampler`),
  });
  const stageC = {
    ...diffusionStage("Stage C", f.stageC, RELEASE_DEFAULTS.stageC, dim(cSample, 1), "prior sample"),
    clipImgDim: pick(f.stageC?.clipImgDim, dim(find(sigs.stageC?.inputs, "clip_img"), 2), RELEASE_DEFAULTS.stageC.clipImgDim, "clip_img width", "prior clip_img"),
  };
  const stageB = diffusionStage("Stage B", f.stageB, RELEASE_DEFAULTS.stageB, dim(bSample, 1), "decoder sample");
  // Stage A's upscale from fixed sizes when the export has them.
  const aIn = find(sigs.stageA?.inputs, "sample");
  const aOut = find(sigs.stageA?.outputs, "latent_sample");
  const upFromModel = dim(aIn, 2) && dim(aOut, 2) ? dim(aOut, 2)! / dim(aIn, 2)! : undefined;
  const stageA = {
    scale: pick(f.stageA?.scale, undefined, RELEASE_DEFAULTS.stageA.scale, "stageA.scale"),
    upscale: pick(f.stageA?.upscale, upFromModel, RELEASE_DEFAULTS.stageA.upscale, "Stage A upscale", "vae_decoder sizes"),
  };
  const effnet = {
    compression: sigs.effnet || f.effnet?.compression !== undefined
      ? pick(f.effnet?.compression, undefined, RELEASE_DEFAULTS.effnet.compression, "EffNet compression")
      : RELEASE_DEFAULTS.effnet.compression,
  };
  // Resolution: fixed latent sizes of the prior give it; otherwise the release default.
  const ch = dim(cSample, 2);
  const cw = dim(cSample, 3);
  const dynamicFromModel = cSample?.shape ? !(ch && cw) : undefined;
  const resFromModel: [number, number] | undefined = ch && cw ? [Math.round(cw * stageC.compression), Math.round(ch * stageC.compression)] : undefined;
  const resolution = {
    default: pick(f.resolution?.default, resFromModel, RELEASE_DEFAULTS.resolution, "default resolution", "prior sample size × compression"),
    dynamic: pick(f.resolution?.dynamic, dynamicFromModel, true, "dynamic resolution", "prior sample dimensions"),
  };
  const preview: PackManifest["preview"] = { ...(f.preview ?? {}) };
  if (!f.preview?.stageB) {
    preview.stageB = STAGE_B_PREVIEW_FACTORS;
    assumed.push("Stage B preview factors: the published ones");
  }
  if (!f.preview?.stageC) assumed.push(`Stage C preview factors: none${sigs.previewer ? " (the previewer model gives Stage C previews)" : ""}`);

  const manifest: PackManifest = {
    format: "sluice.pack",
    version: 1,
    name: f.name ?? packName,
    description: f.description ?? "",
    resolution,
    textEncoder,
    stageC,
    stageB,
    stageA,
    effnet,
    preview,
  };
  const assumptions: string[] = [];
  if (assumed.length) assumptions.push(`${src} assumed ${assumed.join(", ")}`);
  if (inferred.length) assumptions.push(`read from the models: ${inferred.join(", ")}`);
  return { manifest, assumptions };
}
