import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RuntimeError } from "../../server/runtime/errors.ts";
import { loadPack } from "../../server/runtime/pack.ts";
import { SessionCache } from "../../server/runtime/sessions.ts";

const FIXTURES = path.resolve("test/fixtures/packs");
const RANDOM = path.join(FIXTURES, "random");
const BROKEN = path.join(FIXTURES, "broken-models");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-badpacks-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function copyPack(name: string): string {
  const dst = path.join(tmp, name);
  fs.cpSync(RANDOM, dst, { recursive: true });
  return dst;
}

function runtimeError(kind: string, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof RuntimeError, `not a RuntimeError: ${e}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}

test("missing pack folder is an error naming the folder", async () => {
  await assert.rejects(loadPack(path.join(tmp, "nope")), runtimeError("missing-pack", /pack folder not found: .*nope/));
});

test("missing required model file is an error naming the file and stage", async () => {
  const dir = copyPack("nodecoder");
  fs.rmSync(path.join(dir, "decoder"), { recursive: true });
  await assert.rejects(loadPack(dir), runtimeError("missing-file", /pack 'nodecoder': missing required model file decoder\/model\.onnx \(Stage B\)/));
});

test("missing tokenizer is an error naming the files a pack needs", async () => {
  const dir = copyPack("notok");
  fs.rmSync(path.join(dir, "tokenizer", "merges.txt"));
  await assert.rejects(loadPack(dir), runtimeError("missing-file", /missing tokenizer: tokenizer\/vocab\.json \+ tokenizer\/merges\.txt or tokenizer\/tokenizer\.json/));
});

test("truncated onnx file is a corrupt-model error naming the file", async () => {
  const dir = copyPack("truncated");
  const f = path.join(dir, "prior", "model.onnx");
  fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 3000));
  await assert.rejects(loadPack(dir), runtimeError("corrupt-model", /^prior\/model\.onnx: not a valid ONNX model, the file is corrupt or truncated/));
});

test("garbage onnx file is a corrupt-model error naming the file", async () => {
  const dir = copyPack("garbage");
  fs.writeFileSync(path.join(dir, "vae_decoder", "model.onnx"), "<html>404 not found</html>\n".repeat(20));
  await assert.rejects(loadPack(dir), runtimeError("corrupt-model", /^vae_decoder\/model\.onnx: not a valid ONNX model/));
});

test("onnxruntime's own parse failure is also reported as a corrupt model", async () => {
  const f = path.join(tmp, "corrupt.onnx");
  fs.writeFileSync(f, Buffer.from([0x08, 0x07, 0x3a, 0x02, 0x0a, 0x00])); // ir_version 7, a graph holding an empty node
  const cache = new SessionCache({ device: "cpu" });
  await assert.rejects(cache.load(f, { label: "x/model.onnx" }), runtimeError("corrupt-model", /^x\/model\.onnx: not a valid ONNX model .*Missing opset/));
});

test("missing external data is an error naming the model and the .data file", async () => {
  const dir = copyPack("nodata");
  fs.rmSync(path.join(dir, "decoder", "model.onnx.data"));
  await assert.rejects(loadPack(dir), runtimeError("missing-external-data", /^decoder\/model\.onnx: its external weights file 'model\.onnx\.data' is missing/));
});

test("missing external data reported by onnxruntime is translated too", async () => {
  const { translateLoadError } = await import("../../server/runtime/errors.ts");
  const err = translateLoadError(new Error('External data path validation failed for initializer: conv.weight. Error: tensorprotoutils.cc:461 ValidateExternalDataPathFromDir External data path does not exist: "/p/decoder/model.onnx.data"'), "decoder/model.onnx", "cpu");
  assert.equal(err.kind, "missing-external-data");
  assert.match(err.message, /decoder\/model\.onnx: its external weights file 'model\.onnx\.data' is missing .*initializer 'conv\.weight'/);
});

test("wrong input names are an error naming the file, the tensor and what the model has", async () => {
  const dir = copyPack("wrongnames");
  fs.copyFileSync(path.join(BROKEN, "prior_wrong_inputs.onnx"), path.join(dir, "prior", "model.onnx"));
  await assert.rejects(loadPack(dir), (e: unknown) => {
    assert.ok(e instanceof RuntimeError);
    assert.equal(e.kind, "bad-input");
    assert.equal(e.file, "prior/model.onnx");
    assert.equal(e.tensor, "sample");
    assert.equal(e.message, "prior/model.onnx: expected input 'sample' missing (model has: x, r, clip_text_pooled, clip_txt, clip_img)");
    return true;
  });
});

test("a model in the wrong folder is an error naming the file and the input it lacks", async () => {
  const dir = copyPack("wrongmodel");
  // The EffNet encoder where the CLIP vision encoder belongs: 'pixel_values' instead of 'sample'.
  fs.copyFileSync(path.join(RANDOM, "effnet", "model.onnx"), path.join(dir, "vae_encoder", "model.onnx"));
  await assert.rejects(loadPack(dir), runtimeError("bad-input", /^vae_encoder\/model\.onnx: expected input 'sample' missing \(model has: pixel_values\)/));
});

test("wrong input rank is an error naming the file and tensor", async () => {
  const { checkDeclaredInputs } = await import("../../server/runtime/model.ts");
  const { STAGE_INPUTS } = await import("../../server/runtime/pack.ts");
  const declared = STAGE_INPUTS.stageC.map((e) => ({ name: e.name, shape: e.name === "clip_img" ? ["batch", 768] : Array(e.rank).fill("d") }));
  assert.throws(() => checkDeclaredInputs("prior/model.onnx", declared, STAGE_INPUTS.stageC),
    runtimeError("bad-input", /^prior\/model\.onnx: input 'clip_img' has rank 2 \[batch, 768\], expected rank 3$/));
});

test("an operator the device lacks is an error naming it and suggesting the device that has it", async () => {
  const cache = new SessionCache({ device: "cpu" });
  await assert.rejects(cache.load(path.join(BROKEN, "cuda_only_op.onnx"), { label: "prior/model.onnx" }), (e: unknown) => {
    assert.ok(e instanceof RuntimeError);
    assert.equal(e.kind, "missing-operator");
    assert.equal(e.op, "GroupNorm");
    assert.match(e.message, /^prior\/model\.onnx: operator GroupNorm \(opset 1\) not implemented on cpu: try --device cuda/);
    return true;
  });
});

test("a model file that is missing when a stage first runs is an error naming it", async () => {
  const dir = copyPack("vanishing");
  const pack = await loadPack(dir);
  fs.rmSync(path.join(dir, "previewer"), { recursive: true });
  await assert.rejects(pack.preview({ data: new Float32Array(16), shape: [1, 16, 1, 1] }), runtimeError("missing-file", /^previewer\/model\.onnx: file not found/));
});
