// Image tensors (planes of floats in [0, 1]) to and from interleaved 8-bit pixels.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pixelsToPlanes, tensorToPixels } from "../../nodes/image-tensor.ts";

test("tensorToPixels interleaves the planes of the chosen batch item, clamping to [0, 1] and rounding", () => {
  // Batch of 2, 3 channels, 1×2 pixels; item 1 holds the values under test.
  const item0 = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
  const item1 = [-0.5, 0.5, 1.5, 0.2, Number.NaN, 0.998];
  const out = tensorToPixels({ data: new Float32Array([...item0, ...item1]), shape: [2, 3, 1, 2] }, 1);
  assert.deepEqual([out.width, out.height, out.channels], [2, 1, 3]);
  // Pixel 0 is (R, G, B) = (−0.5, 1.5, NaN) → (0, 255, 0); pixel 1 is (0.5, 0.2, 0.998) → (128, 51, 254).
  assert.deepEqual(Array.from(out.data), [0, 255, 0, 128, 51, 254]);
});

test("tensorToPixels and pixelsToPlanes round-trip 8-bit values exactly", () => {
  const pixels = new Uint8Array(4 * 3 * 3).map((_, i) => (i * 37) % 256);
  const planes = new Float32Array(pixels.length);
  pixelsToPlanes(pixels, 4, 3, 3, planes, 0);
  assert.deepEqual(Array.from(tensorToPixels({ data: planes, shape: [1, 3, 3, 4] }).data), Array.from(pixels));
});
