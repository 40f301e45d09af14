// Mask, crop/pad and latent-batch nodes: pure tensor work, run through their node definitions.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ImageCrop, ImagePadForOutpaint } from "../../nodes/image-crop.ts";
import { LatentFromBatch, RepeatLatentBatch } from "../../nodes/latent-batch.ts";
import { blurMask, featherMaskEdges, growMask } from "../../nodes/mask-ops.ts";
import { FeatherMask, GrowMask, ImageCompositeMasked, ImageToMask, InvertMask, JoinImageWithAlpha, SetLatentNoiseMask, SolidMask, ThresholdMask } from "../../nodes/masks.ts";
import type { ExecContext, Latent, NodeDef, Tensor } from "../../nodes/schema.ts";

const ctx = {} as ExecContext;
const exec = async (def: NodeDef, inputs: Record<string, unknown>) => (await def.execute(inputs, ctx)) as Record<string, Tensor & Latent>;
const mask = (rows: number[][]): Tensor => ({ data: Float32Array.from(rows.flat()), shape: [1, 1, rows.length, rows[0].length] });
const rows = (t: Tensor) => Array.from({ length: t.shape[2] }, (_, y) => Array.from(t.data.subarray(y * t.shape[3], (y + 1) * t.shape[3])).map((v) => Math.round(v * 1000) / 1000));
/** An image [1, 3, h, w] whose channel c at (x, y) is c·100 + y·10 + x (divided by 1000). */
const image = (h: number, w: number): Tensor => {
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(c * h + y) * w + x] = (c * 100 + y * 10 + x) / 1000;
  return { data, shape: [1, 3, h, w] };
};

describe("mask nodes", () => {
  it("takes a mask from an image channel, alpha being 1 where the image has none", async () => {
    const img = image(2, 2);
    assert.deepEqual(rows((await exec(ImageToMask, { image: img, channel: "green" })).mask), [[0.1, 0.101], [0.11, 0.111]]);
    assert.deepEqual(rows((await exec(ImageToMask, { image: img, channel: "alpha" })).mask), [[1, 1], [1, 1]]);
  });

  it("thresholds, inverts and fills", async () => {
    assert.deepEqual(rows((await exec(ThresholdMask, { mask: mask([[0.2, 0.6]]), value: 0.5 })).mask), [[0, 1]]);
    assert.deepEqual(rows((await exec(InvertMask, { mask: mask([[0.25, 1]]) })).mask), [[0.75, 0]]);
    assert.deepEqual((await exec(SolidMask, { value: 0.5, width: 3, height: 2 })).mask.shape, [1, 1, 2, 3]);
  });

  it("grows a mask by pixels, with or without tapered corners, and shrinks it when negative", () => {
    const dot = mask([[0, 0, 0], [0, 1, 0], [0, 0, 0]]);
    assert.deepEqual(rows(growMask(dot, 1, true)), [[0, 1, 0], [1, 1, 1], [0, 1, 0]]);
    assert.deepEqual(rows(growMask(dot, 1, false)), [[1, 1, 1], [1, 1, 1], [1, 1, 1]]);
    const block = mask([[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]);
    assert.deepEqual(rows(growMask(block, -1, false)), [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]);
  });

  it("feathers a grown mask's edge into values between 0 and 1", async () => {
    const out = (await exec(GrowMask, { mask: mask([[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]), expand: 0, tapered_corners: true, feather: 1 })).mask;
    const v = Array.from(out.data);
    assert.ok(v.some((x) => x > 0 && x < 1) && Math.max(...v) < 1, "soft edge");
    assert.deepEqual(blurMask(mask([[1, 1]]), 0).data, Float32Array.from([1, 1]));
  });

  it("fades a mask at the image's borders as ComfyUI's FeatherMask does", async () => {
    const out = (await exec(FeatherMask, { mask: mask([[1, 1, 1, 1]]), left: 2, top: 0, right: 1, bottom: 0 })).mask;
    assert.deepEqual(rows(out), [[0.5, 1, 1, 1]]);
    assert.deepEqual(rows(featherMaskEdges(mask([[1, 1, 1, 1]]), 0, 0, 2, 0)), [[1, 1, 1, 0.5]]);
  });

  it("composites a source through a mask at an offset, leaving the rest of the destination", async () => {
    const dst: Tensor = { data: new Float32Array(3 * 2 * 3), shape: [1, 3, 2, 3] };
    const src: Tensor = { data: new Float32Array(3 * 1 * 2).fill(1), shape: [1, 3, 1, 2] };
    const out = (await exec(ImageCompositeMasked, { destination: dst, source: src, x: 1, y: 1, resize_source: false, mask: mask([[1, 0.5]]) })).image;
    assert.deepEqual(Array.from(out.data.subarray(0, 6)), [0, 0, 0, 0, 1, 0.5]);
  });

  it("joins a mask as alpha (1 − mask) into an RGBA image", async () => {
    const out = (await exec(JoinImageWithAlpha, { image: image(1, 2), alpha: mask([[1, 0]]) })).image;
    assert.deepEqual(out.shape, [1, 4, 1, 2]);
    assert.deepEqual(Array.from(out.data.subarray(6, 8)), [0, 1]);
  });

  it("puts a noise mask on a latent without touching its samples", async () => {
    const latent: Latent = { samples: { data: new Float32Array(4), shape: [1, 1, 2, 2] }, stage: "c" };
    const out = (await exec(SetLatentNoiseMask, { latent, mask: mask([[1, 0]]) })).latent;
    assert.equal(out.samples, latent.samples);
    assert.deepEqual(out.noiseMask?.shape, [1, 1, 1, 2]);
  });
});

describe("crop and pad", () => {
  it("crops a window, clipped to the image", async () => {
    const out = (await exec(ImageCrop, { image: image(3, 3), width: 5, height: 1, x: 1, y: 2 })).image;
    assert.deepEqual(out.shape, [1, 3, 1, 2]);
    assert.deepEqual(Array.from(out.data.subarray(0, 2)).map((v) => Math.round(v * 1000)), [21, 22]);
  });

  it("pads for outpainting with a mask of 1 on the new borders, feathered into the image", async () => {
    const { image: out, mask: m } = await exec(ImagePadForOutpaint, { image: image(2, 2), left: 1, top: 0, right: 0, bottom: 1, feathering: 0 });
    assert.deepEqual(out.shape, [1, 3, 3, 3]);
    assert.equal(out.data[0], 0.5);
    assert.deepEqual(rows(m), [[1, 0, 0], [1, 0, 0], [1, 1, 1]]);
    const soft = (await exec(ImagePadForOutpaint, { image: image(4, 4), left: 2, top: 0, right: 0, bottom: 0, feathering: 2 })).mask;
    assert.deepEqual(rows(soft)[0], [1, 1, 1, 0.25, 0, 0]);
  });
});

describe("latent batches", () => {
  const batch: Latent = { samples: { data: Float32Array.from([1, 2, 3]), shape: [3, 1, 1, 1] }, stage: "c", seeds: ["5", "6", "7"] };

  it("picks items from a batch with their seeds, refusing an index past its end", async () => {
    const out = (await exec(LatentFromBatch, { latent: batch, batch_index: 1, length: 5 })).latent;
    assert.deepEqual([Array.from(out.samples.data), out.samples.shape, out.seeds], [[2, 3], [2, 1, 1, 1], ["6", "7"]]);
    await assert.rejects(async () => exec(LatentFromBatch, { latent: batch, batch_index: 3, length: 1 }), /input "batch_index": 3 is past the batch \(it has 3 items, 0 to 2\)/);
  });

  it("repeats a batch", async () => {
    const out = (await exec(RepeatLatentBatch, { latent: batch, amount: 2 })).latent;
    assert.deepEqual([Array.from(out.samples.data), out.seeds], [[1, 2, 3, 1, 2, 3], ["5", "6", "7", "5", "6", "7"]]);
  });
});
