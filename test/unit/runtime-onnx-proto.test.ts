import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { OnnxParseError, probeModelBytes, readModelSignature } from "../../server/runtime/onnx-proto.ts";

const PACK = path.resolve("test/fixtures/packs/random");

test("onnx signature reader gives declared inputs, outputs and shapes without loading weights", () => {
  const sig = readModelSignature(path.join(PACK, "prior/model.onnx"));
  assert.deepEqual(sig.inputs.map((i) => i.name), ["sample", "timestep_ratio", "clip_text_pooled", "clip_text", "clip_img"]);
  assert.deepEqual(sig.inputs[0].shape, ["batch", 16, "height", "width"]);
  assert.equal(sig.inputs[0].type, "float32");
  assert.deepEqual(sig.outputs.map((o) => o.name), ["out_sample"]);
  assert.deepEqual(sig.externalData, []);
});

test("onnx signature reader lists external data files", () => {
  assert.deepEqual(readModelSignature(path.join(PACK, "decoder/model.onnx")).externalData, ["model.onnx.data"]);
});

test("onnx signature reader rejects truncated, empty and garbage files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-proto-"));
  const f = path.join(dir, "m.onnx");
  fs.writeFileSync(f, fs.readFileSync(path.join(PACK, "prior/model.onnx")).subarray(0, 5000));
  assert.throws(() => readModelSignature(f), (e: unknown) => e instanceof OnnxParseError && /truncated|end of/.test(e.message));
  fs.writeFileSync(f, "");
  assert.throws(() => readModelSignature(f), /empty/);
  fs.writeFileSync(f, "not a model at all\n");
  assert.throws(() => readModelSignature(f), OnnxParseError);
  fs.rmSync(dir, { recursive: true });
});

test("probe model bytes are a valid ONNX model computing x + x", async () => {
  const s = await ort.InferenceSession.create(probeModelBytes());
  const out = await s.run({ x: new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4]), [1, 4]) });
  assert.deepEqual(Array.from(out.y.data as Float32Array), [2, 4, 6, 8]);
  await s.release();
});
