import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadPack, listPacks, STAGE_FILES } from "../../server/runtime/pack.ts";
import { SessionCache } from "../../server/runtime/sessions.ts";
import { prepareRun, runModel } from "../../server/runtime/model.ts";
import { floatTensor } from "../../server/runtime/tensors.ts";

const FIXTURES = path.resolve("test/fixtures/packs");
const RANDOM = path.join(FIXTURES, "random");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-packs-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function copyPack(name: string): string {
  const dst = path.join(tmp, name);
  fs.cpSync(RANDOM, dst, { recursive: true });
  return dst;
}

test("pack loads with its manifest and lists its stages", async () => {
  const pack = await loadPack(RANDOM);
  assert.equal(pack.name, "random");
  assert.equal(pack.hasManifest, true);
  assert.deepEqual(pack.assumptions, []);
  assert.equal(pack.manifest.name, "random");
  assert.equal(pack.manifest.stageC.compression, 32);
  assert.equal(pack.manifest.stageC.steps, 4);
  assert.equal(pack.manifest.textEncoder.hiddenOutput, "hidden_states.2");
  assert.equal(pack.manifest.preview.stageC?.length, 16);
  assert.deepEqual(pack.files, { tokenizer: true, textEncoder: true, stageC: true, stageB: true, stageA: true, effnet: true, previewer: true, clipVision: true });
});

test("pack without manifest infers it from the models and lists assumptions", async () => {
  const dir = copyPack("bare");
  fs.rmSync(path.join(dir, "manifest.json"));
  const pack = await loadPack(dir);
  assert.equal(pack.hasManifest, false);
  const m = pack.manifest;
  assert.equal(m.name, "bare");
  assert.equal(m.textEncoder.width, 8); // from text_embeds [batch, 8]
  assert.equal(m.textEncoder.hiddenOutput, "hidden_states.2"); // the highest-numbered hidden state
  assert.equal(m.textEncoder.pooledOutput, "text_embeds");
  assert.equal(m.stageC.channels, 16);
  assert.equal(m.stageC.clipImgDim, 768);
  assert.equal(m.stageB.channels, 4);
  assert.equal(m.stageC.compression, 42.67);
  assert.equal(m.stageC.shift, 2);
  assert.equal(m.stageB.shift, 1);
  assert.equal(m.stageA.scale, 0.43);
  assert.equal(m.resolution.dynamic, true);
  assert.equal(m.preview.stageB?.length, 4);
  assert.equal(m.preview.stageC, undefined);
  const text = pack.assumptions.join("\n");
  assert.match(text, /no manifest\.json: assumed .*Stage C compression 42\.67.*Stage C shift 2.*Stage C steps 20.*Stage C cfg 4/);
  assert.match(text, /Stage B shift 1/);
  assert.match(text, /stageA\.scale 0\.43/);
  assert.match(text, /Stage B preview factors: the published ones/);
  assert.match(text, /Stage C preview factors: none/);
  assert.match(text, /read from the models: .*clip_text output = "hidden_states\.2"/);
});

test("pack manifest with a wrong field is refused naming the file and the field", async () => {
  const dir = copyPack("badmanifest");
  const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  m.stageC.steps = "twenty";
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(m));
  await assert.rejects(loadPack(dir), /manifest\.json of pack 'badmanifest': stageC\.steps: .*number/);
});

test("pack encodes prompts to clip_text [B, 77·chunks, D] and pooled [B, 1, D]", async () => {
  const pack = await loadPack(RANDOM);
  const one = await pack.encodeText(["a red cat", ""]);
  assert.deepEqual(one.clipText.shape, [2, 77, 8]);
  assert.deepEqual(one.pooled.shape, [2, 1, 8]);
  const long = await pack.encodeText(["", Array(100).fill("dog").join(" ")]);
  assert.deepEqual(long.clipText.shape, [2, 154, 8]);
  // The empty prompt encodes the same whatever it is batched with; pooled comes from the first chunk.
  assert.deepEqual(Array.from(long.pooled.data.subarray(0, 8)), Array.from(one.pooled.data.subarray(8, 16)));
  assert.deepEqual(Array.from(long.clipText.data.subarray(0, 77 * 8)), Array.from(one.clipText.data.subarray(77 * 8, 2 * 77 * 8)));
  const first = await pack.encodeText([Array(75).fill("dog").join(" ")]);
  assert.deepEqual(Array.from(long.pooled.data.subarray(8, 16)), Array.from(first.pooled.data));
});

test("pack runs the cascade stages with the right shapes", async () => {
  const pack = await loadPack(RANDOM);
  const { clipText, pooled } = await pack.encodeText(["a red cat", ""]);
  const epsC = await pack.runStageC(floatTensor([2, 16, 3, 3], 0.1), new Float32Array([0.8, 0.8]), clipText, pooled, floatTensor([2, 1, 768]));
  assert.deepEqual(epsC.shape, [2, 16, 3, 3]);
  const epsB = await pack.runStageB(floatTensor([2, 4, 12, 12]), new Float32Array([0.5, 0.5]), pooled, epsC);
  assert.deepEqual(epsB.shape, [2, 4, 12, 12]);
  const image = await pack.decodeStageA(epsB);
  assert.deepEqual(image.shape, [2, 3, 48, 48]);
  assert.ok(image.data.every((v) => v >= 0 && v <= 1));
  assert.deepEqual((await pack.encodeEffnet(floatTensor([1, 3, 32, 32], 0.5))).shape, [1, 16, 4, 4]);
  assert.deepEqual((await pack.preview(epsC)).shape, [2, 3, 12, 12]);
  assert.deepEqual((await pack.encodeClipVision(floatTensor([1, 3, 224, 224], 0.5))).shape, [1, 1, 768]);
});

test("pack multiplies the Stage A input by stageA.scale", async () => {
  const dir = copyPack("scale");
  const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  const latent = floatTensor([1, 4, 2, 2], 1);
  const a = await (await loadPack(RANDOM)).decodeStageA(latent);
  m.stageA.scale = 1;
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(m));
  const scaled = floatTensor([1, 4, 2, 2], 0.43);
  const b = await (await loadPack(dir)).decodeStageA(scaled);
  for (let i = 0; i < a.data.length; i++) assert.ok(Math.abs(a.data[i] - b.data[i]) < 1e-6);
});

test("pack stage run refuses a batch mismatch naming the file and tensor", async () => {
  const pack = await loadPack(RANDOM);
  const { clipText, pooled } = await pack.encodeText(["a"]);
  await assert.rejects(
    pack.runStageC(floatTensor([2, 16, 3, 3]), new Float32Array(2), clipText, pooled, floatTensor([2, 1, 768])),
    /prior\/model\.onnx: input 'clip_text' has batch 1 but 'sample' has batch 2/,
  );
});

test("pack stage run refuses a wrong fixed dimension naming the file and tensor", async () => {
  const pack = await loadPack(RANDOM);
  const { clipText, pooled } = await pack.encodeText(["a"]);
  await assert.rejects(
    pack.runStageC(floatTensor([1, 16, 3, 3]), new Float32Array(1), clipText, pooled, floatTensor([1, 1, 700])),
    /prior\/model\.onnx: input 'clip_img' given shape \[1, 1, 700\], the model expects \[batch, 1, 768\]/,
  );
});

test("a float16-input model gets its float32 feeds converted and returns float32", async () => {
  const cache = new SessionCache({ device: "cpu" });
  // keepFloat16: the model as a GPU runs it (on the CPU it would become float32 at load).
  const m = await cache.load(path.join(FIXTURES, "broken-models/fp16_io.onnx"), { label: "fp16_io.onnx", keepFloat16: true });
  assert.equal(m.inputs[0].type, "float16");
  const out = await runModel(m, { sample: { data: new Float32Array([1, 2.5, -3, 0.1]), shape: [1, 4] } });
  assert.ok(out.out_sample.data instanceof Float32Array);
  assert.deepEqual(Array.from(out.out_sample.data), [2, 5, -6, 0.199951171875]);
  await cache.clear();
});

test("a prepared run sees values rewritten in place between calls, float16 inputs converted again", async () => {
  const cache = new SessionCache({ device: "cpu" });
  const m = await cache.load(path.join(FIXTURES, "broken-models/fp16_io.onnx"), { label: "fp16_io.onnx", keepFloat16: true });
  const sample = { data: new Float32Array([1, 2.5, -3, 0.1]), shape: [1, 4] };
  const run = prepareRun(m, { sample }, ["sample"], ["out_sample"]);
  assert.deepEqual(Array.from((await run()).out_sample.data), [2, 5, -6, 0.199951171875]);
  sample.data.set([4, 0, 1, -1]);
  assert.deepEqual(Array.from((await run()).out_sample.data), [8, 0, 2, -2]);
  await cache.clear();
});

test("a stage runner gives what a plain run of the same inputs gives, and holds its session until released", async () => {
  const pack = await loadPack(RANDOM);
  const { clipText, pooled } = await pack.encodeText(["a red circle", "a blue square"]);
  const clipImg = floatTensor([2, 1, 768]);
  const x = new Float32Array(2 * 16 * 3 * 3).map((_, i) => Math.sin(i));
  const plain = await pack.runStageC({ data: x, shape: [2, 16, 3, 3] }, new Float32Array([0.7, 0.7]), clipText, pooled, clipImg);
  const runner = await pack.prepareStageC([2, 16, 3, 3], clipText, pooled, clipImg);
  runner.sample.set(x);
  assert.deepEqual(Array.from(await runner.run(0.7)), Array.from(plain.data));
  assert.equal(await pack.sessions.unload(pack.path("stageC")), true);
  assert.deepEqual(Array.from(await runner.run(0.7)), Array.from(plain.data), "unloading waits for the runner's release");
  await runner.release();
  const again = await pack.runStageC({ data: x, shape: [2, 16, 3, 3] }, new Float32Array([0.7, 0.7]), clipText, pooled, clipImg);
  assert.deepEqual(Array.from(again.data), Array.from(plain.data), "a later run loads it again");
  await pack.sessions.clear();
});

test("a stage runner's model writes each step's output into one array of the runner's", async () => {
  const pack = await loadPack(RANDOM);
  const { clipText, pooled } = await pack.encodeText(["a red circle"]);
  const runner = await pack.prepareStageC([1, 16, 3, 3], clipText, pooled, floatTensor([1, 1, 768]));
  runner.sample.fill(0.5);
  const first = await runner.run(0.7);
  const kept = Array.from(first);
  runner.sample.fill(-0.5);
  const second = await runner.run(0.2);
  assert.equal(second, first, "the same array");
  assert.notDeepEqual(Array.from(second), kept, "with the new step's values");
  await runner.release();
  await pack.sessions.clear();
});

test("a stage runner refuses conditioning whose batch differs from the sample's, naming the tensor", async () => {
  const pack = await loadPack(RANDOM);
  const { clipText, pooled } = await pack.encodeText(["a"]);
  await assert.rejects(pack.prepareStageC([2, 16, 3, 3], clipText, pooled, floatTensor([2, 1, 768])), /prior\/model\.onnx: input 'clip_text' has batch 1 but 'sample' has batch 2/);
});

test("packs are listed tiny first, then by name, skipping folders that hold no pack", () => {
  const dir = path.join(tmp, "models");
  fs.mkdirSync(dir);
  for (const n of ["zeta", "tiny", "alpha"]) {
    fs.mkdirSync(path.join(dir, n, "prior"), { recursive: true });
    fs.writeFileSync(path.join(dir, n, STAGE_FILES.stageC), "");
  }
  fs.mkdirSync(path.join(dir, "not-a-pack"));
  fs.writeFileSync(path.join(dir, "alpha", "manifest.json"), JSON.stringify({ format: "sluice.pack", version: 1, name: "Alpha Lite" }));
  const list = listPacks(dir);
  assert.deepEqual(list.map((p) => p.name), ["tiny", "alpha", "zeta"]);
  assert.equal(list[1].title, "Alpha Lite");
  assert.deepEqual(listPacks(path.join(tmp, "nowhere")), []);
  // A folder that is itself a pack is listed as one pack.
  assert.deepEqual(listPacks(RANDOM).map((p) => p.name), ["random"]);
});
