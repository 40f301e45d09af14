import { test } from "node:test";
import assert from "node:assert/strict";
import { latentToRgb, resizeRgb, latentPreview, paintLatent, STAGE_B_PREVIEW_FACTORS } from "../../../server/diffusion/preview.ts";

test("preview: latentToRgb maps clamp(x0ᵀF + bias, −1, 1) to bytes, HWC", () => {
  // 2 channels, 1×2 pixels
  const latent = new Float32Array([0.5, -3, /* ch1 */ 0.25, 0]);
  const F = [[1, 0, -1], [0, 2, 0]];
  const rgb = latentToRgb(latent, [2, 1, 2], F, [0, 0, 0.1]);
  const byte = (v: number) => Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
  assert.deepEqual(Array.from(rgb), [byte(0.5), byte(0.5), byte(-0.4), byte(-3), byte(0), byte(3.1)]);
  assert.deepEqual([byte(-1), byte(1)], [0, 255]);
  assert.equal(latentToRgb(new Float32Array(8), [1, 2, 1, 2], F).length, 6);
  assert.throws(() => latentToRgb(latent, [2, 1, 2], [[1, 0, 0]]), /factors must be 2×3/);
});

test("preview: Stage B's published factors are CASCADE.md's 4×3 matrix", () => {
  assert.deepEqual(STAGE_B_PREVIEW_FACTORS, [[0.1121, 0.2006, 0.1023], [-0.2093, -0.0222, -0.0195], [-0.3087, -0.1535, 0.0366], [0.029, -0.1574, -0.4078]]);
  const rgb = latentToRgb(new Float32Array(4 * 16), [4, 4, 4], STAGE_B_PREVIEW_FACTORS);
  assert.ok(rgb.every((v) => v === 128));
});

test("preview: nearest upscale repeats pixels; bilinear interpolates between pixel centres", () => {
  const src = new Uint8Array([0, 0, 0, 200, 100, 50]); // 2×1
  assert.deepEqual(Array.from(resizeRgb(src, 2, 1, 4, 1, "nearest")), [0, 0, 0, 0, 0, 0, 200, 100, 50, 200, 100, 50]);
  const bl = resizeRgb(src, 2, 1, 4, 1, "bilinear");
  assert.deepEqual(Array.from(bl), [0, 0, 0, 50, 25, 13, 150, 75, 38, 200, 100, 50]);
  const p = latentPreview(new Float32Array(4 * 3 * 6), [4, 3, 6], STAGE_B_PREVIEW_FACTORS, { maxSide: 12 });
  assert.deepEqual([p.width, p.height, p.data.length], [12, 6, 12 * 6 * 3]);
  assert.throws(() => resizeRgb(src, 3, 1, 4, 1), /bytes/);
});

test("preview: painting a latent makes the painted cells preview in the paint's colour and leaves the rest", () => {
  // Batch 2, Stage B's 4 channels, 2×2 cells of varied values; paint cell 1 opaque orange, cell 3 half blue.
  const shape = [2, 4, 2, 2];
  const latent = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i * 1.7) * 0.8);
  const paint = new Uint8Array(16);
  paint.set([250, 130, 20, 255], 4);
  paint.set([0, 0, 255, 128], 12);
  const out = paintLatent(latent, shape, STAGE_B_PREVIEW_FACTORS, undefined, paint);
  for (let b = 0; b < 2; b++) {
    const item = (z: Float32Array) => z.subarray(b * 16, (b + 1) * 16);
    const before = latentToRgb(item(latent), [4, 2, 2], STAGE_B_PREVIEW_FACTORS);
    const after = latentToRgb(item(out), [4, 2, 2], STAGE_B_PREVIEW_FACTORS);
    for (const k of [0, 1, 2]) {
      assert.ok(Math.abs(after[3 + k] - [250, 130, 20][k]) <= 1, `item ${b} cell 1 channel ${k}: ${after[3 + k]}`);
      const blended = before[9 + k] + (128 / 255) * ([0, 0, 255][k] - before[9 + k]);
      assert.ok(Math.abs(after[9 + k] - blended) <= 1.5, `item ${b} cell 3 channel ${k}: ${after[9 + k]} vs ${blended}`);
    }
    for (const p of [0, 2]) for (let c = 0; c < 4; c++) assert.equal(item(out)[c * 4 + p], item(latent)[c * 4 + p]);
  }
  assert.throws(() => paintLatent(latent, shape, STAGE_B_PREVIEW_FACTORS, undefined, new Uint8Array(12)), /2×2 RGBA/);
  assert.throws(() => paintLatent(latent, shape, [[1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 2, 0]], undefined, paint), /rank below 3/);
});
