// The whole cascade through the server on packs of the real Stable Cascade architectures (the small
// configuration of tools/real, random weights, the public export's names): fp32 with weights inside
// the models, fp16 with every weight in model.onnx.data; and a pack whose Stage C would crash ONNX
// Runtime, refused with the node named while the server stays up.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { FIXTURE_PACKS, imageBytes, startServer, template, withInputs, type Running } from "./harness.ts";

const REAL_PACKS = path.join(FIXTURE_PACKS, "..", "real-packs");

function realWorkflow(pack: string, prefix: string) {
  let wf = withInputs(template("text-to-image", pack), "4", { width: 128, height: 128, compression: 32 });
  wf = withInputs(wf, "5", { steps: 3 });
  wf = withInputs(wf, "7", { steps: 2 });
  return withInputs(wf, "9", { prefix });
}

describe("real-architecture packs through the server", () => {
  let s: Running;
  let models: string;
  before(async () => {
    models = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-real-models-"));
    for (const pack of ["real-small", "real-small-fp16"]) fs.cpSync(path.join(REAL_PACKS, pack), path.join(models, pack), { recursive: true });
    const hazard = path.join(models, "real-small-crashing");
    fs.cpSync(path.join(REAL_PACKS, "real-small"), hazard, { recursive: true });
    fs.copyFileSync(path.join(FIXTURE_PACKS, "broken-models", "layernorm_scale_no_bias.onnx"), path.join(hazard, "prior", "model.onnx"));
    s = await startServer({ modelsDir: models });
  });
  after(async () => {
    await s.stop();
    fs.rmSync(models, { recursive: true, force: true });
  });

  for (const pack of ["real-small", "real-small-fp16"]) {
    it(`runs text-to-image on ${pack} with progress for every step and a 128x128 image`, async () => {
      const { status, body } = await s.post("/api/prompt", { workflow: realWorkflow(pack, pack) });
      assert.equal(status, 200, JSON.stringify(body));
      const entry = await s.waitSettled(body.promptId, 120_000);
      assert.equal(entry.status, "done", JSON.stringify(entry.error));
      const steps = (node: string) => s.events.filter((e) => e.name === "node:progress" && e.payload.promptId === body.promptId && e.payload.nodeId === node).map((e) => e.payload.step);
      assert.deepEqual(steps("5"), [1, 2, 3]);
      assert.deepEqual(steps("7"), [1, 2]);
      const meta = await sharp(await imageBytes(s, entry)).metadata();
      assert.deepEqual([meta.width, meta.height], [128, 128]);
    });
  }

  it("refuses a pack whose Stage C has a LayerNormalization without Bias, names the node, and keeps serving", async () => {
    const { body } = await s.post("/api/prompt", { workflow: realWorkflow("real-small-crashing", "crash") });
    const entry = await s.waitSettled(body.promptId, 60_000);
    assert.equal(entry.status, "failed");
    assert.match(JSON.stringify(entry.error), /prior\/model\.onnx: node 'blocks\.0\.norm\/LayerNormalization' \(LayerNormalization\) has a Scale and no Bias/);
    const again = await s.post("/api/prompt", { workflow: realWorkflow("real-small", "after") });
    assert.equal((await s.waitSettled(again.body.promptId, 120_000)).status, "done");
  });
});
