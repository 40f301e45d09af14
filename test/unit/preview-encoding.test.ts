// How the executor encodes pictures for the editor: live previews by size, gate pictures for painting.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sharp from "sharp";
import { encodeGatePreview, encodePreview } from "../../server/executor/dispatcher.ts";

const rgb = (w: number, h: number) => new Uint8Array(w * h * 3).map((_, i) => (i * 37) & 0xff);

describe("preview encoding", () => {
  it("sends a latent-sized preview as PNG at its own size", async () => {
    const { mime, image } = await encodePreview(rgb(16, 8), 16, 8);
    assert.equal(mime, "image/png");
    const meta = await sharp(image).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["png", 16, 8]);
  });

  it("sends a preview above 128 px as JPEG at its own size", async () => {
    const { mime, image } = await encodePreview(rgb(200, 150), 200, 150);
    assert.equal(mime, "image/jpeg");
    const meta = await sharp(image).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 200, 150]);
  });

  it("scales a small gate picture up to about 256 px as JPEG, for the paint dialog", async () => {
    const meta = await sharp(await encodeGatePreview(rgb(16, 8), 16, 8)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 256, 128]);
  });
});
