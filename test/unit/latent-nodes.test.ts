// Latent editing at the stage boundary, on real tensors.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BranchSeeds, LatentBlend, LatentComposite, LatentRenoise, LatentTransform, MaskFromPreview, rectangleMask } from "../../nodes/latents.ts";
import type { ExecContext, Latent } from "../../nodes/schema.ts";
import sharp from "sharp";

const ctx = {} as ExecContext;
const latent = (fill: (c: number, y: number, x: number) => number, C = 2, h = 4, w = 4, stage: "c" | "b" = "c"): Latent => {
  const data = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[c * h * w + y * w + x] = fill(c, y, x);
  return { samples: { data, shape: [1, C, h, w] }, stage };
};
const at = (l: Latent, c: number, y: number, x: number) => l.samples.data[c * l.samples.shape[2] * l.samples.shape[3] + y * l.samples.shape[3] + x];

describe("latent nodes", () => {
  it("LatentBlend mixes by the factor", async () => {
    const { latent: out } = await LatentBlend.execute({ a: latent(() => 0), b: latent(() => 1), factor: 0.25 }, ctx) as { latent: Latent };
    assert.ok(out.samples.data.every((v) => Math.abs(v - 0.25) < 1e-6));
  });

  it("LatentBlend refuses latents of different stages", async () => {
    await assert.rejects(async () => LatentBlend.execute({ a: latent(() => 0), b: latent(() => 1, 2, 4, 4, "b"), factor: 0.5 }, ctx), /Stage C latent with a Stage B latent/);
  });

  it("LatentComposite takes the right half from the overlay without feather", async () => {
    const { latent: out } = await LatentComposite.execute({ base: latent(() => 0), overlay: latent(() => 1), x: 0.5, y: 0, width: 0.5, height: 1, feather: 0 }, ctx) as { latent: Latent };
    assert.equal(at(out, 0, 0, 0), 0);
    assert.equal(at(out, 1, 3, 1), 0);
    assert.equal(at(out, 0, 0, 2), 1);
    assert.equal(at(out, 1, 3, 3), 1);
  });

  it("a feathered rectangle mask rises smoothly across its edge", () => {
    const m = rectangleMask(1, 8, 0.5, 0, 0.5, 1, 0.25);
    assert.ok(m[0] < m[3] && m[3] < m[4] && m[4] < m[6], `monotone: ${[...m].map((v) => v.toFixed(2))}`);
    assert.equal(m[7], 1);
  });

  it("LatentComposite follows a mask when one is given", async () => {
    const mask = { data: new Float32Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), shape: [1, 1, 4, 4] };
    const { latent: out } = await LatentComposite.execute({ base: latent(() => 0), overlay: latent(() => 1), mask, x: 0, y: 0, width: 1, height: 1, feather: 0 }, ctx) as { latent: Latent };
    assert.equal(at(out, 0, 0, 0), 1);
    assert.equal(at(out, 0, 2, 2), 0);
  });

  it("LatentTransform flips horizontally and shifts with wrap-around", async () => {
    const src = latent((_c, _y, x) => x);
    const { latent: flipped } = await LatentTransform.execute({ latent: src, flip: "horizontal", shift_x: 0, shift_y: 0, crop_x: 0, crop_y: 0, crop_width: 1, crop_height: 1, scale: 1 }, ctx) as { latent: Latent };
    assert.deepEqual([0, 1, 2, 3].map((x) => at(flipped, 0, 0, x)), [3, 2, 1, 0]);
    const { latent: shifted } = await LatentTransform.execute({ latent: src, flip: "none", shift_x: 1, shift_y: 0, crop_x: 0, crop_y: 0, crop_width: 1, crop_height: 1, scale: 1 }, ctx) as { latent: Latent };
    assert.deepEqual([0, 1, 2, 3].map((x) => at(shifted, 0, 0, x)), [3, 0, 1, 2]);
  });

  it("LatentTransform crops and rescales", async () => {
    const { latent: out } = await LatentTransform.execute({ latent: latent((_c, y, x) => y * 4 + x), flip: "none", shift_x: 0, shift_y: 0, crop_x: 0.5, crop_y: 0.5, crop_width: 0.5, crop_height: 0.5, scale: 2 }, ctx) as { latent: Latent };
    assert.deepEqual(out.samples.shape, [1, 2, 4, 4]);
    assert.ok(at(out, 0, 0, 0) >= 10 && at(out, 0, 3, 3) <= 15);
  });

  it("LatentRenoise noises to t and marks the latent, seeded", async () => {
    const src = latent(() => 0.5, 16, 8, 8);
    const a = await LatentRenoise.execute({ latent: src, strength: 0.6, seed: 3, shift: 0 }, ctx) as { latent: Latent };
    const b = await LatentRenoise.execute({ latent: src, strength: 0.6, seed: 3, shift: 0 }, ctx) as { latent: Latent };
    assert.equal(a.latent.noisyAt, 0.6);
    assert.deepEqual(a.latent.samples.data, b.latent.samples.data);
    assert.ok(a.latent.samples.data.some((v) => Math.abs(v - 0.5) > 0.1));
  });

  it("MaskFromPreview sizes a painted mask to the latent", async () => {
    const png = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } })
      .composite([{ input: await sharp({ create: { width: 20, height: 40, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 1 } } }).png().toBuffer(), left: 20, top: 0 }])
      .png().toBuffer();
    const { mask } = await MaskFromPreview.execute({ latent: latent(() => 0), mask: `data:image/png;base64,${png.toString("base64")}`, invert: false }, ctx) as { mask: { data: Float32Array; shape: number[] } };
    assert.deepEqual(mask.shape, [1, 1, 4, 4]);
    assert.ok(mask.data[0] < 0.1 && mask.data[3] > 0.9);
  });

  it("BranchSeeds makes one batch item per seed and keeps the seeds", async () => {
    const { latent: out } = await BranchSeeds.execute({ latent: latent(() => 1), seed: "18446744073709551614", count: 3, seeds: "" }, ctx) as { latent: Latent };
    assert.equal(out.samples.shape[0], 3);
    assert.deepEqual(out.seeds, ["18446744073709551614", "18446744073709551615", "0"]);
    const { latent: listed } = await BranchSeeds.execute({ latent: latent(() => 1), seed: 0, count: 1, seeds: "7, 8 42" }, ctx) as { latent: Latent };
    assert.deepEqual(listed.seeds, ["7", "8", "42"]);
  });
});
