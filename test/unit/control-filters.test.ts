// Canny edges, the control images a ControlNet takes, when a ControlNet acts, masked sampling's
// arithmetic, and the eval's measures.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { edgeAgreement, maskedPsnr, objectBox } from "../../bench/control-metrics.ts";
import { cannyPlane } from "../../nodes/canny.ts";
import { controlImage, controlImageAt } from "../../nodes/control.ts";
import { controlActive, maskedSampling } from "../../nodes/sampler-extras.ts";
import type { Tensor } from "../../nodes/schema.ts";
import { schedulePoint } from "../../server/diffusion/index.ts";

/** A 16×16 luma plane: 0.2 with a 0.8 square over x, y in [4, 12). */
function square(): Float32Array {
  const g = new Float32Array(256).fill(0.2);
  for (let y = 4; y < 12; y++) for (let x = 4; x < 12; x++) g[y * 16 + x] = 0.8;
  return g;
}

describe("Canny", () => {
  it("finds a square's outline and nothing inside or far outside it", () => {
    const e = cannyPlane(square(), 16, 16, 0.1, 0.2);
    const at = (x: number, y: number) => e[y * 16 + x];
    assert.equal(at(8, 8), 0, "inside");
    assert.equal(at(1, 1), 0, "outside");
    for (const [x, y] of [[8, 3], [8, 4], [3, 8], [4, 8]]) assert.ok(at(x, y) === 1 || at(x, y + 1) === 1 || at(x + 1, y) === 1, `edge near (${x}, ${y})`);
  });

  it("finds no edge in a flat image and none below its thresholds", () => {
    assert.equal(cannyPlane(new Float32Array(256).fill(0.5), 16, 16, 0.1, 0.2).reduce((a, b) => a + b, 0), 0);
    assert.equal(cannyPlane(square(), 16, 16, 5, 10).reduce((a, b) => a + b, 0), 0);
  });
});

describe("control images", () => {
  const rgb: Tensor = { data: new Float32Array(3 * 4).fill(0.25), shape: [1, 3, 2, 2] };
  const mask: Tensor = { data: Float32Array.from([1, 0, 0, 0]), shape: [1, 1, 2, 2] };

  it("inpainting: the picture with the masked area set to 1, then the mask", () => {
    const c = controlImage("inpaint", rgb, mask);
    assert.deepEqual(c.shape, [1, 4, 2, 2]);
    assert.deepEqual(Array.from(c.data), [1, 0.25, 0.25, 0.25, 1, 0.25, 0.25, 0.25, 1, 0.25, 0.25, 0.25, 1, 0, 0, 0]);
  });

  it("inpainting takes an RGBA image's transparency as the mask, and refuses an RGB image without a mask", () => {
    const rgba: Tensor = { data: Float32Array.from([...new Array(12).fill(0.25), 0, 1, 1, 1]), shape: [1, 4, 2, 2] };
    assert.deepEqual(Array.from(controlImage("inpaint", rgba, undefined).data.subarray(12)), [1, 0, 0, 0]);
    assert.throws(() => controlImage("inpaint", rgb, undefined), /needs a mask: connect input "mask"/);
  });

  it("canny: the edge image's first channel", () => {
    assert.deepEqual(controlImage("canny", rgb, undefined).shape, [1, 1, 2, 2]);
  });

  /** One plane, h × w, whose pixel (y, x) holds y * 100 + x. */
  const coords = (h: number, w: number): Tensor => ({ data: Float32Array.from({ length: h * w }, (_, i) => Math.floor(i / w) * 100 + (i % w)), shape: [1, 1, h, w] });

  it("super-resolution at the run's size: each 4×4 block takes its top-left pixel, as in training", () => {
    const c = controlImageAt("super_resolution", coords(8, 8), 8, 8);
    assert.equal(c.data[0 * 8 + 3], 0);
    assert.equal(c.data[5 * 8 + 6], 404);
    assert.equal(c.data[7 * 8 + 7], 404);
    assert.equal(c.data[3 * 8 + 5], 4);
  });

  it("super-resolution from a picture a quarter of the run's size: blown up 4× nearest", () => {
    const c = controlImageAt("super_resolution", coords(2, 3), 8, 12);
    assert.deepEqual(c.shape, [1, 1, 8, 12]);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 12; x++) assert.equal(c.data[y * 12 + x], Math.floor(y / 4) * 100 + Math.floor(x / 4), `(${y}, ${x})`);
  });

  it("other filters' control images are resized smoothly to the run's size", () => {
    const c = controlImageAt("canny", coords(2, 2), 4, 4);
    assert.ok(c.data.some((v) => !Number.isInteger(v)), "bilinear, not nearest");
  });
});

describe("ControlNet schedule window", () => {
  it("acts from start to end of the way from noise (t = 1) to clean (t = 0)", () => {
    const w = { start: 0.2, end: 0.6 };
    assert.deepEqual([1, 0.8, 0.5, 0.4, 0.3].map((t) => controlActive(w, t)), [false, true, true, true, false]);
  });
});

describe("masked sampling", () => {
  const original: Tensor = { data: Float32Array.from([1, 2, 3, 4]), shape: [1, 1, 2, 2] };
  const noise = Float32Array.from([0.5, -0.5, 0.25, -0.25]);
  const m = maskedSampling(original, { data: Float32Array.from([1, 0]), shape: [1, 1, 1, 2] }, noise, 1);

  it("shows the model the original, noised to the step's level, outside the mask", () => {
    const x = Float32Array.from([9, 9, 9, 9]);
    m.beforeStep(x, 0.5);
    const { a, b } = schedulePoint(0.5, 1);
    assert.equal(x[0], 9);
    assert.ok(Math.abs(x[1] - (a * 2 + b * -0.5)) < 1e-5);
  });

  it("predicts the fixed noise outside the mask, so the step's x0 there is the original", () => {
    const { a, b } = schedulePoint(0.5, 1);
    const x = Float32Array.from([9, 9, 9, 9]);
    m.beforeStep(x, 0.5);
    const eps = Float32Array.from([7, 7, 7, 7]);
    m.afterStep(eps);
    assert.ok(Math.abs((x[3] - b * eps[3]) / a - 4) < 1e-4);
    assert.equal(eps[0], 7);
  });

  it("keeps the original exactly where the mask is 0 in the result", () => {
    const x0 = Float32Array.from([9, 9, 9, 9]);
    m.finish(x0);
    assert.deepEqual(Array.from(x0), [9, 2, 9, 4]);
  });
});

describe("eval measures", () => {
  it("edge agreement: 1 for the same edges, within a pixel; 0 for edges far apart", () => {
    const a = new Uint8Array(100), b = new Uint8Array(100), far = new Uint8Array(100);
    for (let x = 0; x < 10; x++) { a[2 * 10 + x] = 1; b[3 * 10 + x] = 1; far[8 * 10 + x] = 1; }
    assert.equal(edgeAgreement(a, a, 10, 10), 1);
    assert.equal(edgeAgreement(a, b, 10, 10, 1), 1);
    assert.equal(edgeAgreement(a, far, 10, 10, 1), 0);
  });

  it("PSNR over the kept pixels only", () => {
    const a = Uint8Array.from([0, 0, 0, 100, 100, 100]), b = Uint8Array.from([0, 0, 0, 0, 0, 0]);
    assert.equal(maskedPsnr(a, b, Uint8Array.from([1, 0])), Infinity);
    assert.ok(Math.abs(maskedPsnr(a, b, Uint8Array.from([0, 1])) - 10 * Math.log10((255 * 255) / 10000)) < 1e-9);
  });

  it("an object's box covers its extent plus a margin", () => {
    const box = objectBox(32, 32, 8, 64);
    assert.equal(box[32 * 64 + 32], 1);
    assert.equal(box[32 * 64 + 20], 1);
    assert.equal(box[32 * 64 + 10], 0);
  });
});
