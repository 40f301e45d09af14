// Memory estimates before running: shapes propagated from literal inputs, the stage arithmetic,
// and the budget verdict naming the node, the estimate, the budget and the inputs to lower.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createRegistry } from "../../nodes/index.ts";
import type { Workflow } from "../../nodes/schema.ts";
import { checkBudget, estimatePlan, formatBytes, parseWorkflow } from "../../server/engine/index.ts";
import { diffusionCallBytes, parseByteSize, readPackMemoryInfo, RELEASE_MEMORY_PROFILE } from "../../server/runtime/index.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const MODELS = join(ROOT, "models");
const GB = 1024 ** 3;
const registry = createRegistry();
const lookup = (t: string) => registry.get(t);
const packInfo = (name: string) => readPackMemoryInfo(MODELS, name);

function textToImage(latent: { width: number; height: number; compression: number; batch?: number }, edit?: (wf: Workflow) => void): Workflow {
  const wf = parseWorkflow(JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8")));
  Object.assign(wf.nodes.find((n) => n.id === "4")!.inputs, latent);
  edit?.(wf);
  return wf;
}

describe("memory estimates", () => {
  it("propagate the latent size from Empty Cascade Latent to the Stage B sampler", () => {
    const plan = estimatePlan(textToImage({ width: 1024, height: 1024, compression: 42 }), lookup, packInfo);
    const stageB = plan.nodes.find((n) => n.nodeId === "7")!;
    assert.equal(stageB.what, "Stage B at a 256×256 latent");
    assert.deepEqual(stageB.drivenBy, { node: "4", inputs: ["width", "height", "batch"] });
    const stageC = plan.nodes.find((n) => n.nodeId === "5")!;
    assert.equal(stageC.what, "Stage C at a 24×24 latent");
    assert.deepEqual(plan.unknown, []);
  });

  it("stay above what the known big runs took (1024² at compression 42 reached 19 GB, 8192×64 at 8 reached 9.8 GB)", () => {
    assert.ok(estimatePlan(textToImage({ width: 1024, height: 1024, compression: 42 }), lookup, packInfo).peakBytes >= 19 * GB);
    assert.ok(estimatePlan(textToImage({ width: 8192, height: 64, compression: 8 }), lookup, packInfo).peakBytes >= 9.8 * GB);
  });

  it("keep the tiny pack's own size small", () => {
    const peak = estimatePlan(textToImage({ width: 64, height: 64, compression: 8 }), lookup, packInfo).peakBytes;
    assert.ok(peak > 0 && peak < 256 * 1024 ** 2, `64 px estimated at ${formatBytes(peak)}`);
  });

  it("grow with the batch", () => {
    const one = estimatePlan(textToImage({ width: 256, height: 256, compression: 8, batch: 1 }), lookup, packInfo).peakBytes;
    const four = estimatePlan(textToImage({ width: 256, height: 256, compression: 8, batch: 4 }), lookup, packInfo).peakBytes;
    assert.ok(four > 3 * one, `batch 4 ${formatBytes(four)}, batch 1 ${formatBytes(one)}`);
  });

  it("run the model on half the rows at cfg 1 (no unconditional half)", () => {
    const at = (cfg: number) => estimatePlan(textToImage({ width: 512, height: 512, compression: 8 }, (wf) => {
      wf.nodes.find((n) => n.id === "7")!.inputs.cfg = cfg;
    }), lookup, packInfo).nodes.find((n) => n.nodeId === "7")!.bytes!;
    assert.ok(at(1) < 0.55 * at(4));
  });

  it("count attention over image tokens plus condition tokens, per head and row", () => {
    const p = { cellBytes: 100, attentionHeads: 4, attentionDownscale: 2, attentionCopies: 3 };
    const got = diffusionCallBytes(p, 2, 64, 32, 8);
    const tokens = 32 * 16;
    assert.equal(got.tokens, tokens);
    assert.equal(got.attentionBytes, 2 * 4 * tokens * (tokens + 8) * 4 * 3);
    assert.equal(got.bytes, 2 * 64 * 32 * 100 + got.attentionBytes);
  });

  it("count each model's weights once, however many nodes use it", () => {
    const plan = estimatePlan(textToImage({ width: 64, height: 64, compression: 8 }), lookup, packInfo);
    const withWeights = plan.nodes.filter((n) => n.modelBytes > 0).map((n) => n.nodeId);
    // text encoder (node 2; node 3 shares it), Stage C (5), Stage B (7), Stage A (8)
    assert.deepEqual(withWeights, ["2", "5", "7", "8"]);
  });

  it("say a shape is unknown rather than guess it (an uploaded image's size)", () => {
    const wf = parseWorkflow(JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8")));
    wf.nodes.push({ id: "20", type: "LoadImage", inputs: { image: "photo.png" } });
    wf.nodes.push({ id: "21", type: "StageCEncode", inputs: { effnet: { node: "1", output: "effnet" }, image: { node: "20", output: "image" }, compression: 8 } });
    const plan = estimatePlan(wf, lookup, packInfo);
    assert.deepEqual(plan.unknown.map((u) => u.nodeId), ["21"]);
    assert.match(plan.unknown[0].why, /input "image" is not known before running/);
  });

  it("follow an image of known size through scaling into the EffNet encoder", () => {
    const wf = parseWorkflow(JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8")));
    wf.nodes.push({ id: "20", type: "EmptyImage", inputs: { width: 64, height: 64, batch: 1, color: "#000000" } });
    wf.nodes.push({ id: "21", type: "ImageScale", inputs: { image: { node: "20", output: "image" }, width: 2048, height: 1024, method: "bilinear" } });
    wf.nodes.push({ id: "22", type: "StageCEncode", inputs: { effnet: { node: "1", output: "effnet" }, image: { node: "21", output: "image" }, compression: 8 } });
    const enc = estimatePlan(wf, lookup, packInfo).nodes.find((n) => n.nodeId === "22")!;
    assert.equal(enc.what, "the EffNet encoder on a 2048×1024 px image");
    assert.deepEqual(enc.drivenBy, { node: "21", inputs: ["width", "height"] });
  });
});

describe("the budget check", () => {
  it("refuses naming the node, what runs, the estimate, the budget and the inputs to lower", () => {
    const verdict = checkBudget(estimatePlan(textToImage({ width: 1024, height: 1024, compression: 42 }), lookup, packInfo), 14 * GB);
    assert.equal(verdict.ok, false);
    if (verdict.ok) return;
    assert.equal(verdict.nodeId, "7");
    assert.match(verdict.message, /^node 7 CascadeSampler: Stage B at a 256×256 latent needs about \d+ GB; budget 14 GB; lower width\/height\/batch on node 4$/);
    assert.deepEqual(Object.keys(verdict.nodeErrors).sort(), ["4", "7"]);
    assert.equal(verdict.nodeErrors["4"][0].input, "width");
  });

  it("passes a plan under the budget", () => {
    const verdict = checkBudget(estimatePlan(textToImage({ width: 64, height: 64, compression: 8 }), lookup, packInfo), 1 * GB);
    assert.equal(verdict.ok, true);
  });
});

describe("memory sizes", () => {
  it("parse as people write them", () => {
    assert.equal(parseByteSize("6GB"), 6 * GB);
    assert.equal(parseByteSize("6000MB"), 6000 * 1024 ** 2);
    assert.equal(parseByteSize("512 MiB"), 512 * 1024 ** 2);
    assert.equal(parseByteSize("1.5g"), 1.5 * GB);
    assert.equal(parseByteSize("4096"), 4096);
  });

  it("refuse what is not a size, saying what was given", () => {
    assert.throws(() => parseByteSize("lots"), /"lots" is not a memory size/);
    assert.throws(() => parseByteSize("0MB"), /more than zero/);
  });

  it("print rounded for messages", () => {
    assert.equal(formatBytes(17.4 * GB), "17 GB");
    assert.equal(formatBytes(1.25 * GB), "1.3 GB");
    assert.equal(formatBytes(300 * 1024 ** 2), "300 MB");
  });

  it("a pack without a memory section takes the released architecture's profile", () => {
    const info = readPackMemoryInfo(join(ROOT, "test", "fixtures", "packs"), "random");
    assert.ok(info);
    assert.deepEqual(info.profile, RELEASE_MEMORY_PROFILE);
  });
});

describe("Stage A decode estimates", () => {
  const decode = (width: number) => estimatePlan(textToImage({ width, height: width, compression: 42 }), lookup, packInfo).nodes.find((n) => n.nodeId === "8")!.bytes!;

  it("count one tile's activations for a latent Stage A decodes in tiles, and the whole image", () => {
    // 1024 px: a 256×256 Stage A latent, decoded in tiles of at most 160×160 (128 + two margins of 16).
    const info = packInfo("tiny");
    const image = 3 * 1024 * 1024 * 4;
    assert.equal(decode(1024), 160 * 160 * info!.profile.stageA.cellBytes + image);
  });

  it("grow no faster than the image once the latent is tiled", () => {
    assert.ok(decode(2048) - decode(1024) <= 3 * 4 * (2048 ** 2 - 1024 ** 2));
  });
});
