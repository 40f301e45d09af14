// The PNG encoder that saves images: what a standard decoder (libvips through sharp) reads back.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sharp from "sharp";
import { inflateSync } from "node:zlib";
import { encodePng, readPngText } from "../../server/media/png.ts";

/** Pixels with smooth areas, edges and noise, so every row filter gets chosen somewhere. */
function testPixels(width: number, height: number, channels: number): Uint8Array {
  const px = new Uint8Array(width * height * channels);
  let s = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const smooth = (x * 3 + y * 5 + c * 40) & 0xff;
        const edge = x > width / 2 ? 200 : 20;
        px[(y * width + x) * channels + c] = y < height / 3 ? smooth : y < (2 * height) / 3 ? edge : s >>> 24;
      }
    }
  }
  return px;
}

/** The IDAT chunks' data, concatenated: the image's zlib stream. */
function idat(png: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let o = 8; o < png.length; ) {
    const length = png.readUInt32BE(o);
    if (png.toString("ascii", o + 4, o + 8) === "IDAT") parts.push(png.subarray(o + 8, o + 8 + length));
    o += 12 + length;
  }
  return Buffer.concat(parts);
}

async function decode(png: Buffer) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), info };
}

describe("PNG encoding", () => {
  it("round-trips RGB pixels exactly through a standard decoder", async () => {
    const px = testPixels(37, 23, 3);
    const { data, info } = await decode(encodePng(px, 37, 23, 3));
    assert.deepEqual([info.width, info.height, info.channels], [37, 23, 3]);
    assert.deepEqual(data, px);
  });

  it("round-trips a large image (written with row filters) exactly", async () => {
    const px = testPixels(300, 260, 3);
    const { data } = await decode(encodePng(px, 300, 260, 3));
    assert.deepEqual(data, px);
  });

  it("round-trips RGBA pixels exactly, alpha included", async () => {
    const px = testPixels(16, 9, 4);
    const { data, info } = await decode(encodePng(px, 16, 9, 4));
    assert.equal(info.channels, 4);
    assert.deepEqual(data, px);
  });

  it("carries tEXt entries that read back unchanged", () => {
    const png = encodePng(testPixels(4, 4, 3), 4, 4, 3, { "sluice.workflow": '{"a":"\\u00e9"}', Comment: "hi" });
    assert.deepEqual(readPngText(png), { "sluice.workflow": '{"a":"\\u00e9"}', Comment: "hi" });
  });

  it("stores small images unfiltered in zlib streams that zlib itself reads back (checksum too), rows spanning block boundaries", async () => {
    // 128×128 RGBA is 65 664 bytes of rows: two stored blocks, a row cut by the first block's end.
    for (const [w, h, c] of [[1, 1, 3], [64, 64, 3], [127, 128, 4], [128, 128, 4]] as const) {
      const px = testPixels(w, h, c);
      const png = encodePng(px, w, h, c);
      const rows = new Uint8Array(inflateSync(idat(png)));
      const expected = new Uint8Array(h * (w * c + 1));
      for (let y = 0; y < h; y++) expected.set(px.subarray(y * w * c, (y + 1) * w * c), y * (w * c + 1) + 1);
      assert.deepEqual(rows, expected, `${w}×${h}×${c}`);
      assert.deepEqual((await decode(png)).data, px, `${w}×${h}×${c} through a standard decoder`);
    }
  });

  it("compresses a flat image to far less than its raw size", () => {
    const flat = new Uint8Array(256 * 256 * 3).fill(128);
    assert.ok(encodePng(flat, 256, 256, 3).length < 2000);
  });

  it("refuses pixels that do not match the size, naming both", () => {
    assert.throws(() => encodePng(new Uint8Array(10), 4, 4, 3), /10 bytes do not make a 4×4 image with 3 channels/);
  });
});
