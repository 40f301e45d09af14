// Model packs: a folder in the layout of the public Stable Cascade ONNX export (DESIGN.md), with an
// optional manifest.json. loadPack checks the folder and the models' declared inputs without loading
// any weights; the stage methods load sessions on first use through the session cache.
import fs from "node:fs";
import path from "node:path";
import { checkControlNetSignature, discoverControlNets } from "./controlnet.ts";
import { type Device, type DeviceChoice } from "./device.ts";
import { RuntimeError } from "./errors.ts";
import { type ManifestFile, ManifestSchema, type PackManifest, type Signatures, formatManifestError, resolveManifest } from "./manifest.ts";
import { type ExpectedInput, type ExpectedOutput, checkDeclaredInputs, prepareRun, runModel } from "./model.ts";
import { type ModelSignature, OnnxParseError, readModelSignature } from "./onnx-proto.ts";
import { type LoadedModel, type ModelResidency, type ModelSessions, SessionCache, estimateLoadedBytes, preflightModel, residentBytes } from "./sessions.ts";
import { resolveMemoryProfile } from "./memory-profile.ts";
import { type FloatTensor, checkTensor, int64Tensor, shapeSize } from "./tensors.ts";
import { cropTile, pasteTile, planTiles, STAGE_A_TILING } from "./tiling.ts";
import { type ClipTokenizer, type TokenChunk, loadClipTokenizer } from "./tokenizer.ts";
import { tokenizerPresent } from "./discovery.ts";
import { clamp01, clipNormalize } from "./processing.ts";
import { STAGE_FILES, STAGE_OUTPUTS, STAGE_TITLES, REQUIRED_STAGES, type StageName, expectedInputsFor } from "./specs.ts";

export { STAGE_FILES, STAGE_INPUTS, STAGE_OUTPUTS, STAGE_TITLES, REQUIRED_STAGES, WEIGHT_TYPES, type InputSpec, type StageName, type WeightType } from "./specs.ts";
export { type PackSummary, listPacks } from "./discovery.ts";

/** Growth of the process during one stage's runs above which it is counted against the budget with its session (see chargeBigRun). */
export const ARENA_KEEP_BYTES = 128 * 1024 ** 2;

export interface PackFiles {
  tokenizer: boolean;
  textEncoder: boolean;
  stageC: boolean;
  stageB: boolean;
  stageA: boolean;
  effnet: boolean;
  previewer: boolean;
  clipVision: boolean;
}

export interface LoadPackOptions {
  /** The sessions to load models through (a SessionCache shared across packs); one is made if absent. */
  sessions?: ModelSessions;
  /** Device for a new session cache (default cpu). Ignored when `sessions` is given. */
  device?: Device | DeviceChoice;
  /** Stages that must be present (default: text encoder, Stage C, B, A). The tokenizer is needed with the text encoder. */
  require?: readonly StageName[];
}

export interface TextEmbeddings {
  /** [B, 77·chunks, D]: the hidden state named by textEncoder.hiddenOutput. */
  clipText: FloatTensor;
  /** [B, 1, D]: textEncoder.pooledOutput of each text's first chunk. */
  pooled: FloatTensor;
}

/** The stages that take turns under a tight budget (see releaseOtherStages). */
const TURN_TAKING_STAGES: readonly StageName[] = ["stageC", "stageB", "stageA"];

function labelFor(stage: StageName): string {
  return STAGE_FILES[stage];
}

function readSignature(file: string, label: string): ModelSignature {
  try {
    return readModelSignature(file);
  } catch (e) {
    if (e instanceof OnnxParseError) {
      throw new RuntimeError("corrupt-model", `${label}: not a valid ONNX model, the file is corrupt or truncated (${e.message}). Download or export it again.`, { file: label, cause: e });
    }
    throw e;
  }
}

function expectedFor(stage: StageName, declaredNames: readonly string[], manifest: PackManifest): ExpectedInput[] {
  const base = expectedInputsFor(stage, declaredNames);
  // The prior's ControlNet inputs, where the manifest (or its inference) names them.
  if (stage === "stageC") return [...base, ...manifest.stageC.controlInputs.map((name) => ({ name, rank: 4, kind: "float" as const }))];
  return base;
}

function expectedOutputsFor(stage: StageName, manifest: PackManifest): ExpectedOutput[] {
  if (stage === "textEncoder") return [{ name: manifest.textEncoder.hiddenOutput, rank: 3 }, { name: manifest.textEncoder.pooledOutput }];
  return STAGE_OUTPUTS[stage];
}

/**
 * A diffusion stage held for a sampler's many steps: the conditioning is checked and wrapped for
 * ONNX Runtime once and the session stays pinned until release(). Each step writes the latent into
 * `sample` and calls run with its noise ratio; the result is the model's out_sample, in an array
 * the runner owns and the next run overwrites (ONNX Runtime writes it in place).
 */
export interface StageRunner {
  readonly sample: Float32Array;
  /**
   * Stage C's ControlNet inputs (control_0, ...) by name, [batch, width, h, w] each, zeros until the
   * caller writes features into them (in place) before a run; empty where the prior takes none.
   */
  readonly control: Record<string, Float32Array>;
  run(r: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** ONNX Runtime feeds of token chunks seen before (feeds are only read by a run). */
const chunkTensors = new WeakMap<TokenChunk, { ids: ReturnType<typeof int64Tensor>; mask?: ReturnType<typeof int64Tensor> }>();

export class Pack {
  readonly name: string;
  readonly dir: string;
  readonly manifest: PackManifest;
  readonly assumptions: string[];
  readonly files: PackFiles;
  readonly hasManifest: boolean;
  readonly sessions: ModelSessions;
  /** What its sessions take beyond their files (the manifest's memory profile): the budget counts it. */
  readonly residency: ModelResidency;
  private tokenizerCache?: ClipTokenizer;
  private validated = new WeakSet<LoadedModel>();
  /** The model each stage last ran with: a sampler runs one stage many times in a row. */
  private current = new Map<StageName, LoadedModel>();
  /** How Stage A decodes large latents (see STAGE_A_TILING). */
  stageATiling: { size: number; margin: number } = { ...STAGE_A_TILING };

  constructor(init: { name: string; dir: string; manifest: PackManifest; assumptions: string[]; files: PackFiles; hasManifest: boolean; sessions: ModelSessions; residency?: ModelResidency }) {
    this.name = init.name;
    this.dir = init.dir;
    this.manifest = init.manifest;
    this.assumptions = init.assumptions;
    this.files = init.files;
    this.hasManifest = init.hasManifest;
    this.sessions = init.sessions;
    this.residency = init.residency ?? { weightFactor: 1, sessionBytes: 0 };
  }

  /** Absolute path of a stage's model file. */
  path(stage: StageName): string {
    return path.join(this.dir, STAGE_FILES[stage]);
  }

  has(stage: StageName): boolean {
    return this.files[stage];
  }

  get tokenizer(): ClipTokenizer {
    if (!this.tokenizerCache) {
      if (!this.files.tokenizer) throw new RuntimeError("missing-file", `${this.name}: tokenizer/ has neither vocab.json + merges.txt nor tokenizer.json (in ${this.dir})`, { file: "tokenizer/" });
      this.tokenizerCache = loadClipTokenizer(path.join(this.dir, "tokenizer"), { maxLength: this.manifest.textEncoder.maxLength });
    }
    return this.tokenizerCache;
  }

  /** The loaded, validated model of a stage. */
  async model(stage: StageName): Promise<LoadedModel> {
    const label = labelFor(stage);
    if (!this.files[stage]) {
      throw new RuntimeError("missing-file", `${label}: this pack (${this.name}) has no ${STAGE_TITLES[stage]} (${this.path(stage)} not found)`, { file: label });
    }
    const m = await this.sessions.load(this.path(stage), { label, residency: this.residency });
    if (!this.validated.has(m)) {
      checkDeclaredInputs(label, m.inputs, expectedFor(stage, m.inputs.map((i) => i.name), this.manifest), expectedOutputsFor(stage, this.manifest), m.outputs);
      this.validated.add(m);
    }
    return m;
  }

  /**
   * Run a stage with its session pinned for the duration. `chargeArena` false: one of several runs in
   * a row (Stage A's tiles), whose caller counts the arena once after the last.
   */
  private async run(stage: StageName, feeds: Record<string, FloatTensor | ReturnType<typeof int64Tensor>>, outputs: string[], chargeArena = true): Promise<Record<string, FloatTensor>> {
    const model = await this.currentModel(stage);
    const before = process.memoryUsage.rss();
    const out = await this.sessions.useLoaded(model, (m) => runModel(m, feeds, outputs));
    if (chargeArena) await this.chargeBigRun(stage, before);
    return out;
  }

  /**
   * ONNX Runtime's CPU arena keeps the peak of a session's largest run for as long as the session
   * lives (onnxruntime-node has no run option to shrink it). A run that grew the process by more
   * than ARENA_KEEP_BYTES has that growth counted against the memory budget as part of its session
   * (SessionCache.chargeArena): the session stays warm for the next prompt while the budget holds
   * it, and its memory goes back when another stage needs the room or, where the arena outweighs
   * the weights (a small model at a large size), once the runtime has been idle a while.
   */
  private async chargeBigRun(stage: StageName, rssBefore: number): Promise<void> {
    const growth = process.memoryUsage.rss() - rssBefore;
    const model = this.current.get(stage);
    if (growth > ARENA_KEEP_BYTES && model) await this.sessions.chargeArena(model, growth);
  }

  /** The stage's model: the one it last ran with while that is still loaded, else loaded (again). */
  private async currentModel(stage: StageName): Promise<LoadedModel> {
    const known = this.current.get(stage);
    if (known && this.sessions.isLoaded(known)) return known;
    if (TURN_TAKING_STAGES.includes(stage)) await this.releaseOtherStages(stage);
    const model = await this.model(stage);
    this.current.set(stage, model);
    return model;
  }

  /** Bytes of Stage C, B and A loaded together (computed once). */
  private turnTakingBytes?: number;

  /**
   * Where Stage C, B and A do not fit the memory budget together, a stage about to load releases
   * the other two first: left to the least-recently-used order, Stage B's session (and the arena
   * its runs keep) stayed loaded while Stage A decoded, whose working memory the budget does not
   * hold. Under a roomy budget every stage stays loaded for the next prompt.
   */
  private async releaseOtherStages(stage: StageName): Promise<void> {
    this.turnTakingBytes ??= TURN_TAKING_STAGES.filter((s) => this.files[s]).reduce((sum, s) => sum + residentBytes(estimateLoadedBytes(this.path(s), this.sessions.defaultDevice), this.residency), 0);
    if (this.turnTakingBytes <= this.sessions.stats().budgetBytes) return;
    for (const other of TURN_TAKING_STAGES) {
      if (other === stage || !this.current.has(other)) continue;
      this.current.delete(other);
      await this.sessions.unload(this.path(other), { label: labelFor(other) }, `${labelFor(stage)} loads next; the stages do not fit the memory budget together`);
    }
  }

  /**
   * Encode prompts: [B, 77·chunks, D] hidden states and [B, 1, D] pooled embeddings. Prompts longer
   * than one chunk are encoded in chunks of 77 (75 tokens + BOS/EOS) and concatenated along the
   * sequence; shorter prompts of the batch are padded with empty-prompt chunks so all share one
   * length. pooled comes from each prompt's first chunk.
   */
  async encodeText(texts: string[]): Promise<TextEmbeddings> {
    if (!texts.length) throw new RuntimeError("bad-input", "encodeText: no texts given");
    const tok = this.tokenizer;
    const perText = texts.map((t) => tok.encode(t));
    const k = Math.max(...perText.map((c) => c.length));
    const empty = tok.encode("")[0];
    const rows = perText.flatMap((chunks) => [...chunks, ...Array.from({ length: k - chunks.length }, () => empty)]);
    const L = tok.maxLength;
    const model = await this.model("textEncoder");
    const idsMeta = model.inputs.find((i) => i.name === "input_ids");
    const fixedBatch = typeof idsMeta?.shape[0] === "number" ? (idsMeta.shape[0] as number) : undefined;
    const hasMask = model.inputs.some((i) => i.name === "attention_mask");
    const { hiddenOutput, pooledOutput } = this.manifest.textEncoder;
    const runRows = async (part: typeof rows) => {
      const n = part.length;
      // A chunk the tokenizer remembers keeps its int64 tensors: the same prompts come back, and
      // each id is a BigInt to convert.
      const known = n === 1 ? chunkTensors.get(part[0]) : undefined;
      const ids = known?.ids ?? int64Tensor(part.flatMap((r) => r.ids), [n, L]);
      const mask = hasMask ? (known?.mask ?? int64Tensor(part.flatMap((r) => r.mask), [n, L])) : undefined;
      if (n === 1 && !known) chunkTensors.set(part[0], { ids, mask });
      const feeds: Record<string, ReturnType<typeof int64Tensor>> = { input_ids: ids };
      if (mask) feeds.attention_mask = mask;
      return this.run("textEncoder", feeds, [hiddenOutput, pooledOutput]);
    };
    // An export with a fixed batch of 1 is run once per row.
    const outs: Record<string, FloatTensor>[] = [];
    if (fixedBatch === 1) for (const r of rows) outs.push(await runRows([r]));
    else outs.push(await runRows(rows));
    // Gather hidden [rows, L, D] and pooled [rows, D] (or [rows, 1, D]).
    const D = outs[0][hiddenOutput].shape[2];
    const hidden = new Float32Array(rows.length * L * D);
    const pooledRows = new Float32Array(rows.length * D);
    let r0 = 0;
    for (const o of outs) {
      const h = o[hiddenOutput];
      const p = o[pooledOutput];
      const n = h.shape[0];
      if (h.shape[1] !== L || h.shape[2] !== D) throw new RuntimeError("bad-input", `${STAGE_FILES.textEncoder}: output '${hiddenOutput}' has shape [${h.shape.join(", ")}], expected [${n}, ${L}, ${D}]`, { file: STAGE_FILES.textEncoder, tensor: hiddenOutput });
      if (p.data.length !== n * D) throw new RuntimeError("bad-input", `${STAGE_FILES.textEncoder}: output '${pooledOutput}' has shape [${p.shape.join(", ")}], expected [${n}, ${D}]`, { file: STAGE_FILES.textEncoder, tensor: pooledOutput });
      hidden.set(h.data, r0 * L * D);
      pooledRows.set(p.data, r0 * D);
      r0 += n;
    }
    // Rows are grouped by text, so [B·k, L, D] is already [B, k·L, D] in memory.
    const B = texts.length;
    const pooled = new Float32Array(B * D);
    for (let b = 0; b < B; b++) pooled.set(pooledRows.subarray(b * k * D, b * k * D + D), b * D);
    return { clipText: { data: hidden, shape: [B, k * L, D] }, pooled: { data: pooled, shape: [B, 1, D] } };
  }

  /** Stage C: predicted noise for x [B,16,h,w] at ratios r [B]. */
  async runStageC(x: FloatTensor, r: Float32Array, clipText: FloatTensor, pooled: FloatTensor, clipImg: FloatTensor): Promise<FloatTensor> {
    const label = STAGE_FILES.stageC;
    checkBatch(label, x, r, { clip_text: clipText, clip_text_pooled: pooled, clip_img: clipImg });
    const control = this.zeroControl(await this.currentModel("stageC"), x.shape);
    const out = await this.run("stageC", {
      sample: x, timestep_ratio: { data: r, shape: [r.length] }, clip_text_pooled: pooled, clip_text: clipText, clip_img: clipImg, ...control,
    }, ["out_sample"]);
    return out.out_sample;
  }

  /** Stage B: predicted noise for x [B,4,H/4,W/4] at ratios r [B], conditioned on the Stage C latent. */
  async runStageB(x: FloatTensor, r: Float32Array, pooled: FloatTensor, effnet: FloatTensor): Promise<FloatTensor> {
    const label = STAGE_FILES.stageB;
    checkBatch(label, x, r, { clip_text_pooled: pooled, effnet });
    const out = await this.run("stageB", { sample: x, timestep_ratio: { data: r, shape: [r.length] }, clip_text_pooled: pooled, effnet }, ["out_sample"]);
    return out.out_sample;
  }

  /**
   * Stage C prepared for a sampler's steps (see StageRunner): `sampleShape` is the batch the model
   * sees at every step (2B with the unconditional half first, for guidance), and the conditioning
   * has that batch.
   */
  prepareStageC(sampleShape: number[], clipText: FloatTensor, pooled: FloatTensor, clipImg: FloatTensor): Promise<StageRunner> {
    return this.prepare("stageC", sampleShape, { clip_text: clipText, clip_text_pooled: pooled, clip_img: clipImg });
  }

  /** Stage B prepared for a sampler's steps (see prepareStageC). */
  prepareStageB(sampleShape: number[], pooled: FloatTensor, effnet: FloatTensor): Promise<StageRunner> {
    return this.prepare("stageB", sampleShape, { clip_text_pooled: pooled, effnet });
  }

  private async prepare(stage: "stageC" | "stageB", sampleShape: number[], conditioning: Record<string, FloatTensor>): Promise<StageRunner> {
    const label = labelFor(stage);
    const sample: FloatTensor = { data: new Float32Array(shapeSize(sampleShape)), shape: [...sampleShape] };
    const ratio: FloatTensor = { data: new Float32Array(sampleShape[0]), shape: [sampleShape[0]] };
    checkBatch(label, sample, ratio.data, conditioning);
    let model: LoadedModel;
    let release: (() => Promise<void>) | undefined;
    do {
      model = await this.currentModel(stage);
      release = this.sessions.hold(model); // undefined when it was unloaded in between: look again
    } while (!release);
    // Measured once the model is loaded: only what its runs add counts.
    const rssBefore = process.memoryUsage.rss();
    try {
      const control = stage === "stageC" ? this.zeroControl(model, sampleShape) : {};
      const run = prepareRun(model, { sample, timestep_ratio: ratio, ...conditioning, ...control }, ["sample", "timestep_ratio", ...Object.keys(control)], ["out_sample"], { out_sample: sampleShape });
      const prediction = (out: Record<string, FloatTensor>) => out.out_sample.data;
      return {
        sample: sample.data,
        control: Object.fromEntries(Object.entries(control).map(([k, v]) => [k, v.data])),
        run: (r) => {
          ratio.data.fill(r);
          return run().then(prediction);
        },
        release: async () => {
          await release!();
          await this.chargeBigRun(stage, rssBefore);
        },
      };
    } catch (e) {
      await release();
      throw e;
    }
  }

  /** Zero feeds for the prior's ControlNet inputs at a sample shape [B, C, h, w]. */
  private zeroControl(model: LoadedModel, sampleShape: readonly number[]): Record<string, FloatTensor> {
    const out: Record<string, FloatTensor> = {};
    for (const name of this.manifest.stageC.controlInputs) {
      const width = model.inputs.find((i) => i.name === name)?.shape[1];
      if (typeof width !== "number" || width <= 0) {
        throw new RuntimeError("bad-input", `${STAGE_FILES.stageC}: ControlNet input '${name}' must declare its channels (dimension 1), it declares [${model.inputs.find((i) => i.name === name)?.shape.join(", ")}]`, { file: STAGE_FILES.stageC, tensor: name });
      }
      const shape = [sampleShape[0], width, sampleShape[2], sampleShape[3]];
      out[name] = { data: new Float32Array(shapeSize(shape)), shape };
    }
    return out;
  }

  /**
   * A ControlNet of this pack: a control image [B, channels, H, W] (H, W multiples of 8 for the
   * tiny pack) to one feature map per control input of the prior, in the prior's order.
   */
  async runControlNet(name: string, image: FloatTensor): Promise<FloatTensor[]> {
    const entry = this.manifest.controlnets[name];
    if (!entry) {
      const known = Object.keys(this.manifest.controlnets);
      throw new RuntimeError("missing-file", `pack '${this.name}' has no ControlNet '${name}' (it has: ${known.join(", ") || "none"})`, { file: `controlnet/${name}/` });
    }
    const inputs = this.manifest.stageC.controlInputs;
    if (!inputs.length) throw new RuntimeError("bad-input", `${STAGE_FILES.stageC} of pack '${this.name}' takes no ControlNet features (no control_N inputs): its ControlNets cannot be applied`, { file: STAGE_FILES.stageC });
    const label = entry.file;
    const file = path.join(this.dir, entry.file);
    if (!fs.existsSync(file)) throw new RuntimeError("missing-file", `${label}: ControlNet '${name}' of pack '${this.name}' not found (${file})`, { file: label });
    const m = await this.sessions.load(file, { label, residency: this.residency });
    if (!this.validated.has(m)) {
      checkControlNetSignature(label, m, entry, inputs);
      this.validated.add(m);
    }
    checkTensor(image, `${label}: ${m.inputs[0].name}`);
    if (image.shape[1] !== entry.channels) {
      throw new RuntimeError("bad-input", `${label}: control image has ${image.shape[1]} channels, this ${entry.filter} ControlNet takes ${entry.channels}`, { file: label, tensor: m.inputs[0].name });
    }
    const out = await this.sessions.useLoaded(m, (loaded) => runModel(loaded, { [m.inputs[0].name]: image }, inputs));
    return inputs.map((n) => out[n]);
  }

  /** Stage A: a Stage B latent [B,4,h,w] to an image [B,3,4h,4w] in [0,1] (the latent is multiplied by stageA.scale first). */
  async decodeStageA(latent: FloatTensor): Promise<FloatTensor> {
    checkTensor(latent, `${STAGE_FILES.stageA}: sample`);
    const scale = this.manifest.stageA.scale;
    const scaled = new Float32Array(latent.data.length);
    for (let i = 0; i < scaled.length; i++) scaled[i] = latent.data[i] * scale;
    const sample: FloatTensor = { data: scaled, shape: latent.shape };
    const [B, , H, W] = latent.shape;
    const { size, margin } = this.stageATiling;
    const model = await this.currentModel("stageA");
    const fixedSize = model.inputs.find((i) => i.name === "sample")?.shape.slice(2).some((d) => typeof d === "number");
    if ((H <= size && W <= size) || fixedSize) {
      const out = await this.run("stageA", { sample }, ["latent_sample"]);
      return clamp01(out.latent_sample);
    }
    // Large: decoded in tiles, each with a margin wider than Stage A's receptive field (tiling.ts).
    let out: FloatTensor | undefined;
    let up = 0;
    const rssBefore = process.memoryUsage.rss();
    for (const tile of planTiles(H, W, size, margin)) {
      const decoded = (await this.run("stageA", { sample: cropTile(sample, tile) }, ["latent_sample"], false)).latent_sample;
      if (!out) {
        up = decoded.shape[2] / (tile.cy1 - tile.cy0);
        out = { data: new Float32Array(B * decoded.shape[1] * H * up * W * up), shape: [B, decoded.shape[1], H * up, W * up] };
      }
      pasteTile(out, decoded, tile, up);
    }
    await this.chargeBigRun("stageA", rssBefore + out!.data.byteLength);
    return clamp01(out!);
  }

  /** EffNet: an image [B,3,H,W] in [0,1] to a Stage C latent [B,16,H/c,W/c]. */
  async encodeEffnet(image: FloatTensor): Promise<FloatTensor> {
    checkTensor(image, `${STAGE_FILES.effnet}: pixel_values`);
    const out = await this.run("effnet", { pixel_values: image }, ["image_embeds"]);
    return out.image_embeds;
  }

  /** The previewer model: a Stage C latent [B,16,h,w] to a small RGB image [B,3,H',W'] in [0,1]. */
  async preview(latent: FloatTensor): Promise<FloatTensor> {
    const out = await this.run("previewer", { sample: latent }, ["image"]);
    return clamp01(out.image);
  }

  /**
   * CLIP vision: images [B,3,224,224] in [0,1] (CLIP-normalised here) to clip_img embeddings [B,1,768].
   */
  async encodeClipVision(image: FloatTensor): Promise<FloatTensor> {
    const label = STAGE_FILES.clipVision;
    checkTensor(image, `${label}: sample`);
    const [, C] = image.shape;
    if (image.shape.length !== 4 || C !== 3) throw new RuntimeError("bad-input", `${label}: input 'sample' must be [B, 3, 224, 224], got [${image.shape.join(", ")}]`, { file: label, tensor: "sample" });
    const out = await this.run("clipVision", { sample: clipNormalize(image) }, ["image_embeds"]);
    const e = out.image_embeds;
    return { data: e.data, shape: [e.shape[0], 1, e.data.length / e.shape[0]] };
  }

  /** Unload this pack's sessions. */
  async unload(): Promise<void> {
    for (const stage of Object.keys(STAGE_FILES) as StageName[]) {
      if (this.files[stage]) await this.sessions.unload(this.path(stage), { label: labelFor(stage) });
    }
    for (const entry of Object.values(this.manifest.controlnets)) await this.sessions.unload(path.join(this.dir, entry.file), { label: entry.file });
  }
}

function checkBatch(label: string, x: FloatTensor, r: Float32Array, others: Record<string, FloatTensor>): void {
  checkTensor(x, `${label}: sample`);
  const B = x.shape[0];
  if (r.length !== B) throw new RuntimeError("bad-input", `${label}: input 'timestep_ratio' has ${r.length} values but 'sample' has batch ${B}`, { file: label, tensor: "timestep_ratio" });
  for (const [name, t] of Object.entries(others)) {
    checkTensor(t, `${label}: ${name}`);
    if (t.shape[0] !== B) throw new RuntimeError("bad-input", `${label}: input '${name}' has batch ${t.shape[0]} but 'sample' has batch ${B}`, { file: label, tensor: name });
  }
}

/**
 * Load a pack folder: check it, read its manifest (zod-checked) or infer one from the models' inputs
 * and outputs, and check every present model's declared inputs. No weights are loaded here.
 */
export async function loadPack(dir: string, options: LoadPackOptions = {}): Promise<Pack> {
  const abs = path.resolve(dir);
  const name = path.basename(abs);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) {
    throw new RuntimeError("missing-pack", `pack folder not found: ${abs}`, { file: abs });
  }
  const required = options.require ?? REQUIRED_STAGES;
  const files: PackFiles = {
    tokenizer: tokenizerPresent(abs),
    textEncoder: false, stageC: false, stageB: false, stageA: false, effnet: false, previewer: false, clipVision: false,
  };
  for (const stage of Object.keys(STAGE_FILES) as StageName[]) files[stage] = fs.existsSync(path.join(abs, STAGE_FILES[stage]));
  const missing = required.filter((s) => !files[s]);
  if (missing.length) {
    const list = missing.map((s) => `${STAGE_FILES[s]} (${STAGE_TITLES[s]})`).join(", ");
    throw new RuntimeError("missing-file", `pack '${name}': missing required model file${missing.length > 1 ? "s" : ""} ${list} in ${abs}`, { file: STAGE_FILES[missing[0]] });
  }
  if (required.includes("textEncoder") && !files.tokenizer) {
    throw new RuntimeError("missing-file", `pack '${name}': missing tokenizer: tokenizer/vocab.json + tokenizer/merges.txt or tokenizer/tokenizer.json in ${abs}`, { file: "tokenizer/" });
  }

  // manifest.json (optional, zod-checked)
  let manifestFile: ManifestFile | undefined;
  const mf = path.join(abs, "manifest.json");
  if (fs.existsSync(mf)) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(mf, "utf8"));
    } catch (e) {
      throw new RuntimeError("bad-manifest", `manifest.json of pack '${name}': not valid JSON (${(e as Error).message})`, { file: "manifest.json", cause: e });
    }
    const parsed = ManifestSchema.safeParse(raw);
    if (!parsed.success) throw new RuntimeError("bad-manifest", formatManifestError(`manifest.json of pack '${name}'`, parsed.error), { file: "manifest.json" });
    manifestFile = parsed.data;
  }

  // Signatures of every present model (graph only; weights are not read).
  const sigs: Signatures = {};
  for (const stage of Object.keys(STAGE_FILES) as StageName[]) {
    if (!files[stage]) continue;
    const label = STAGE_FILES[stage];
    const file = path.join(abs, label);
    preflightModel(file, label);
    sigs[stage] = readSignature(file, label);
  }
  const { manifest, assumptions } = resolveManifest(manifestFile, sigs, name);
  const controlnets = discoverControlNets(abs, manifest.controlnets);
  manifest.controlnets = controlnets.entries;
  assumptions.push(...controlnets.assumptions);
  for (const stage of Object.keys(sigs) as StageName[]) {
    const sig = sigs[stage]!;
    checkDeclaredInputs(STAGE_FILES[stage], sig.inputs, expectedFor(stage, sig.inputs.map((i) => i.name), manifest), expectedOutputsFor(stage, manifest), sig.outputs);
  }
  const sessions = options.sessions ?? new SessionCache({ device: options.device ?? "cpu" });
  // The session budget counts a model as the prompt check does: its files × weightFactor + sessionBytes.
  const { weightFactor, sessionBytes } = resolveMemoryProfile(manifestFile?.memory);
  return new Pack({ name, dir: abs, manifest, assumptions, files, hasManifest: !!manifestFile, sessions, residency: { weightFactor, sessionBytes } });
}

