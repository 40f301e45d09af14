// The runtime on packs of the real Stable Cascade architectures (small configuration of the same
// code, random weights): fp16 weights behind float32 I/O made float32 once for the CPU, external
// data, graphs that would crash ONNX Runtime refused before a session exists, models larger than
// the memory budget refused before loading, and progress while a model loads.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { RuntimeError } from "../../server/runtime/errors.ts";
import { modelTimings, resetModelTimings, runModel } from "../../server/runtime/model.ts";
import { float16Weights, readOnnxGraph } from "../../server/runtime/onnx-graph.ts";
import { loadPack } from "../../server/runtime/pack.ts";
import { type LoadProgress, SessionCache, residentBytes } from "../../server/runtime/sessions.ts";
import { RELEASE_MEMORY_PROFILE } from "../../server/runtime/memory-profile.ts";
import { floatTensor } from "../../server/runtime/tensors.ts";

const PACKS = path.resolve("test/fixtures/real-packs");
const BROKEN = path.resolve("test/fixtures/packs/broken-models");
const FP16_PRIOR = path.join(PACKS, "real-small-fp16", "prior", "model.onnx");
const FP32_PRIOR = path.join(PACKS, "real-small", "prior", "model.onnx");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-real-pack-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function priorFeeds() {
  const fill = (shape: number[], f: (i: number) => number) => {
    const t = floatTensor(shape);
    for (let i = 0; i < t.data.length; i++) t.data[i] = f(i);
    return t;
  };
  return {
    sample: fill([2, 16, 4, 4], (i) => Math.sin(i * 0.7)),
    timestep_ratio: fill([2], (i) => 0.3 + 0.4 * i),
    clip_text_pooled: fill([2, 1, 8], (i) => Math.cos(i)),
    clip_text: fill([2, 77, 8], (i) => Math.sin(i * 0.13)),
    clip_img: fill([2, 1, 768], () => 0),
  };
}

function cacheWith(options: { budgetBytes?: number; log?: string[]; idleGiveBackMs?: number } = {}) {
  let creates = 0;
  const files: string[] = [];
  const cache = new SessionCache({
    device: "cpu",
    budgetBytes: options.budgetBytes,
    idleGiveBackMs: options.idleGiveBackMs,
    convertedDir: path.join(tmp, "converted"),
    log: (line) => options.log?.push(line),
    create: (file, opts) => {
      creates++;
      files.push(file);
      return ort.InferenceSession.create(file, opts);
    },
  });
  return { cache, creates: () => creates, files };
}

describe("fp16 packs on the CPU", () => {
  it("loads a float32 copy of an fp16 model, with no float16 weights left, once", async () => {
    const log: string[] = [];
    const { cache, files } = cacheWith({ log });
    const model = await cache.load(FP16_PRIOR, { label: "prior/model.onnx" });
    assert.notEqual(files[0], FP16_PRIOR, "the session was made from the converted copy");
    assert.equal(float16Weights(readOnnxGraph(files[0])).count, 0);
    assert.ok(fs.existsSync(path.join(path.dirname(files[0]), "model.onnx.data")), "weights kept as external data");
    assert.ok(model.inputs.every((i) => i.type === "float32"));
    assert.ok(log.some((l) => /float16 weights converted to float32 for the CPU/.test(l)), log.join("\n"));
    await cache.clear();
    // A second cache (another process, a restart) reuses the copy.
    const again = cacheWith({ log });
    await again.cache.load(FP16_PRIOR, { label: "prior/model.onnx" });
    assert.equal(again.files[0], files[0]);
    assert.ok(log.some((l) => /float32 copy of its float16 weights reused/.test(l)));
    await again.cache.clear();
  });

  it("computes what the fp16 graph computes, to float16 precision", async () => {
    const { cache } = cacheWith();
    const converted = await cache.load(FP16_PRIOR, { label: "prior/model.onnx" });
    const ours = (await runModel(converted, priorFeeds())).out_sample.data;
    const direct = await ort.InferenceSession.create(FP16_PRIOR);
    const feeds = Object.fromEntries(Object.entries(priorFeeds()).map(([k, t]) => [k, new ort.Tensor("float32", t.data, t.shape)]));
    const theirs = (await direct.run(feeds)).out_sample.data as Float32Array;
    await direct.release();
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < ours.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
      maxAbs = Math.max(maxAbs, Math.abs(theirs[i]));
    }
    assert.ok(maxAbs > 0.01, "the model computes something");
    assert.ok(maxDiff < 0.02 * maxAbs + 0.01, `max difference ${maxDiff} (values up to ${maxAbs})`);
    await cache.clear();
  });

  it("reports progress while a model is converted and loaded", async () => {
    const { cache } = cacheWith();
    const seen: LoadProgress[] = [];
    const stop = cache.onLoadProgress((p) => seen.push(p));
    await cache.load(path.join(PACKS, "real-small-fp16", "decoder", "model.onnx"), { label: "decoder/model.onnx" });
    stop();
    const phases = [...new Set(seen.map((p) => p.phase))];
    assert.deepEqual(phases, ["converting", "loading", "loaded"]);
    assert.ok(seen.every((p) => p.label === "decoder/model.onnx" && p.fraction >= 0 && p.fraction <= 1 && p.bytes > 0));
    assert.equal(seen.at(-1)!.fraction, 1);
    await cache.clear();
  });
});

describe("refusals before a session is made", () => {
  it("refuses a LayerNormalization with a Scale and no Bias, naming the node, without creating a session", async () => {
    const { cache, creates } = cacheWith();
    await assert.rejects(cache.load(path.join(BROKEN, "layernorm_scale_no_bias.onnx"), { label: "prior/model.onnx" }), (e: unknown) => {
      assert.ok(e instanceof RuntimeError);
      assert.equal(e.kind, "unsafe-graph");
      assert.equal(e.node, "blocks.0.norm/LayerNormalization");
      assert.match(e.message, /^prior\/model\.onnx: node 'blocks\.0\.norm\/LayerNormalization' \(LayerNormalization\) has a Scale and no Bias, which crashes ONNX Runtime/);
      return true;
    });
    assert.equal(creates(), 0);
  });

  it("refuses a model larger than the whole memory budget before loading it", async () => {
    const { cache, creates } = cacheWith({ budgetBytes: 200_000 });
    await assert.rejects(cache.load(FP32_PRIOR, { label: "prior/model.onnx" }), (e: unknown) => {
      assert.ok(e instanceof RuntimeError);
      assert.equal(e.kind, "over-budget");
      assert.match(e.message, /prior\/model\.onnx: needs about 1 MB of memory, more than the whole memory budget of 0 MB/);
      return true;
    });
    assert.equal(creates(), 0);
  });

  it("refuses a pack whose Stage C has a hazardous node when the pack is opened", async () => {
    const dir = path.join(tmp, "hazard-pack");
    fs.cpSync(path.join(PACKS, "real-small"), dir, { recursive: true });
    fs.copyFileSync(path.join(BROKEN, "layernorm_scale_no_bias.onnx"), path.join(dir, "prior", "model.onnx"));
    await assert.rejects(loadPack(dir), /prior\/model\.onnx: node 'blocks\.0\.norm\/LayerNormalization' \(LayerNormalization\) has a Scale and no Bias/);
  });
});

describe("real-architecture packs", () => {
  for (const name of ["real-small", "real-small-fp16"]) {
    it(`${name}: every stage runs with the public export's names and the shapes of the cascade`, async () => {
      const { cache } = cacheWith();
      const pack = await loadPack(path.join(PACKS, name), { sessions: cache, require: ["textEncoder", "stageC", "stageB", "stageA", "effnet", "previewer"] });
      const text = await pack.encodeText(["a red cat", ""]);
      assert.deepEqual(text.clipText.shape, [2, 77, 8]);
      const x = floatTensor([2, 16, 4, 4], 0.5);
      const clipImg = floatTensor([2, 1, 768]);
      const epsC = await pack.runStageC(x, new Float32Array([0.9, 0.9]), text.clipText, text.pooled, clipImg);
      assert.deepEqual(epsC.shape, [2, 16, 4, 4]);
      const epsB = await pack.runStageB(floatTensor([2, 4, 32, 32], 0.1), new Float32Array([0.5, 0.5]), text.pooled, epsC);
      assert.deepEqual(epsB.shape, [2, 4, 32, 32]);
      const image = await pack.decodeStageA(floatTensor([1, 4, 32, 32], 0.2));
      assert.deepEqual(image.shape, [1, 3, 128, 128]);
      const latent = await pack.encodeEffnet(floatTensor([1, 3, 128, 128], 0.5));
      assert.deepEqual(latent.shape, [1, 16, 4, 4]);
      const preview = await pack.preview(floatTensor([1, 16, 4, 4], 0.3));
      assert.deepEqual(preview.shape, [1, 3, 32, 32]);
      for (const t of [epsC, epsB, image, latent, preview]) assert.ok(t.data.every(Number.isFinite));
      await cache.clear();
    });
  }
});

describe("Stage A in tiles", () => {
  it("decodes a large latent in tiles to the pixels of a whole decode", async () => {
    const { cache } = cacheWith();
    const pack = await loadPack(path.join(PACKS, "real-small"), { sessions: cache });
    const latent = floatTensor([1, 4, 48, 40]);
    for (let i = 0; i < latent.data.length; i++) latent.data[i] = Math.sin(i * 0.37) * 2;
    pack.stageATiling = { size: 1000, margin: 16 };
    const whole = await pack.decodeStageA(latent);
    pack.stageATiling = { size: 16, margin: 16 };
    resetModelTimings();
    const tiled = await pack.decodeStageA(latent);
    assert.equal(modelTimings()["vae_decoder/model.onnx"].calls, 9, "3 x 3 tiles");
    assert.deepEqual(tiled.shape, [1, 3, 192, 160]);
    let maxDiff = 0;
    for (let i = 0; i < whole.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole.data[i] - tiled.data[i]));
    assert.ok(maxDiff < 1e-4, `tiled decode differs by ${maxDiff}`);
    await cache.clear();
  });
});

describe("float16 inputs and outputs on the CPU", () => {
  it("a model declaring float16 inputs becomes a float32 model at load, computing the same", async () => {
    const { cache } = cacheWith();
    const m = await cache.load(path.join(BROKEN, "fp16_io.onnx"), { label: "fp16_io.onnx" });
    assert.deepEqual(m.inputs.map((i) => i.type), ["float32"]);
    assert.deepEqual(m.outputs.map((o) => o.type), ["float32"]);
    const out = await runModel(m, { sample: { data: new Float32Array([1, 2.5, -3, 0.25]), shape: [1, 4] } });
    assert.deepEqual(Array.from(out.out_sample.data), [2, 5, -6, 0.5]);
    await cache.clear();
  });
});

describe("sessions and their arenas under the budget", () => {
  it("counts a stage's arena against the budget and releases the least recently used model to make room", async () => {
    const dir = path.join(PACKS, "real-small");
    const te = path.join(dir, "text_encoder", "model.onnx");
    const prior = path.join(dir, "prior", "model.onnx");
    const weights = fs.statSync(te).size + fs.statSync(prior).size;
    const { cache } = cacheWith({ budgetBytes: weights + 1_000_000 });
    await cache.load(te, { label: "text_encoder/model.onnx" });
    const stageC = await cache.load(prior, { label: "prior/model.onnx" });
    assert.deepEqual(cache.stats().loaded.map((m) => m.label), ["text_encoder/model.onnx", "prior/model.onnx"]);
    await cache.chargeArena(stageC, 2_000_000);
    const after = cache.stats();
    assert.deepEqual(after.loaded.map((m) => m.label), ["prior/model.onnx"]);
    assert.equal(after.loaded[0].bytes, stageC.bytes + 2_000_000);
    assert.equal(after.evictions, 1);
    await cache.clear();
  });
});

describe("arenas given back when idle", () => {
  const prior = path.join(PACKS, "real-small", "prior", "model.onnx");
  const te = path.join(PACKS, "real-small", "text_encoder", "model.onnx");

  it("releases an idle model whose arena is larger than its weights", async () => {
    const { cache } = cacheWith({ idleGiveBackMs: 20 });
    const model = await cache.load(prior, { label: "prior/model.onnx" });
    await cache.useLoaded(model, async () => cache.chargeArena(model, model.bytes + 1));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(cache.stats().loaded, []);
  });

  it("keeps an idle model whose arena is smaller than its weights, and one used again before the delay", async () => {
    const { cache } = cacheWith({ idleGiveBackMs: 100 });
    const small = await cache.load(prior, { label: "prior/model.onnx" });
    const big = await cache.load(te, { label: "text_encoder/model.onnx" });
    await cache.useLoaded(small, async () => cache.chargeArena(small, Math.floor(small.bytes / 2)));
    await cache.useLoaded(big, async () => cache.chargeArena(big, big.bytes * 2));
    await new Promise((r) => setTimeout(r, 50));
    await cache.useLoaded(big, async () => {
      await new Promise((r) => setTimeout(r, 150)); // a run longer than the delay: nothing is idle
      assert.equal(cache.stats().loaded.length, 2);
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(cache.stats().loaded.map((m) => m.label), ["prior/model.onnx"]);
    await cache.clear();
  });
});

describe("stages taking turns under a tight budget", () => {
  const dir = path.join(PACKS, "real-small");
  // Counted as the pack counts its sessions: the files through its memory profile (here the release one).
  const size = (stage: string) => residentBytes(fs.statSync(path.join(dir, stage, "model.onnx")).size, RELEASE_MEMORY_PROFILE);
  const stages = size("prior") + size("decoder") + size("vae_decoder");

  async function cascade(budgetBytes: number) {
    const { cache } = cacheWith({ budgetBytes });
    const pack = await loadPack(dir, { sessions: cache });
    const loaded = () => cache.stats().loaded.map((m) => m.label).sort();
    const text = await pack.encodeText(["a red cat"]);
    const c = await pack.prepareStageC([1, 16, 4, 4], text.clipText, text.pooled, floatTensor([1, 1, 768]));
    await c.run(0.5);
    await c.release();
    const afterC = loaded();
    const b = await pack.prepareStageB([1, 4, 16, 16], text.pooled, floatTensor([1, 16, 4, 4]));
    await b.run(0.5);
    await b.release();
    const afterB = loaded();
    await pack.decodeStageA(floatTensor([1, 4, 16, 16]));
    const afterA = loaded();
    await cache.clear();
    return { afterC, afterB, afterA };
  }

  it("releases the other stages before one loads when Stage C, B and A do not fit together", async () => {
    const turns = await cascade(stages - 1);
    assert.deepEqual(turns.afterC, ["prior/model.onnx", "text_encoder/model.onnx"]);
    assert.deepEqual(turns.afterB, ["decoder/model.onnx", "text_encoder/model.onnx"]);
    assert.deepEqual(turns.afterA, ["text_encoder/model.onnx", "vae_decoder/model.onnx"]);
  });

  it("keeps every stage loaded when the budget holds them all", async () => {
    const turns = await cascade(4 * stages);
    assert.deepEqual(turns.afterA, ["decoder/model.onnx", "prior/model.onnx", "text_encoder/model.onnx", "vae_decoder/model.onnx"]);
  });
});
