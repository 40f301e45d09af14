// Tiles for Stage A: they cover the latent exactly once in their cores, margins stay inside it,
// and a crop pasted back unchanged rebuilds the tensor.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cropTile, pasteTile, planTiles } from "../../server/runtime/tiling.ts";

describe("Stage A tiling", () => {
  it("covers every latent pixel with exactly one tile core, margins clamped to the latent", () => {
    const tiles = planTiles(50, 33, 16, 5);
    const hits = new Uint8Array(50 * 33);
    for (const t of tiles) {
      assert.ok(t.y1 - t.y0 <= 16 && t.x1 - t.x0 <= 16);
      assert.ok(t.cy0 >= 0 && t.cx0 >= 0 && t.cy1 <= 50 && t.cx1 <= 33);
      for (let y = t.y0; y < t.y1; y++) for (let x = t.x0; x < t.x1; x++) hits[y * 33 + x]++;
    }
    assert.ok(hits.every((h) => h === 1));
  });

  it("pasting each crop's core back (scale 1) rebuilds the tensor", () => {
    const t = { data: Float32Array.from({ length: 2 * 3 * 10 * 7 }, (_, i) => i), shape: [2, 3, 10, 7] };
    const out = { data: new Float32Array(t.data.length), shape: [...t.shape] };
    for (const tile of planTiles(10, 7, 4, 2)) pasteTile(out, cropTile(t, tile), tile, 1);
    assert.deepEqual(out.data, t.data);
  });
});
