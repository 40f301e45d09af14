// PNG files: encoding 8-bit RGB(A) pixels, and tEXt chunks to embed a workflow in an image and
// read it back. tEXt is Latin-1, so JSON is written with every non-ASCII character escaped
// (\uXXXX) and stays exact. Encoding is synchronous (the executor runs off the main thread): zlib's
// deflate, or stored blocks for small images; for the sizes Sluice saves it is faster than a round
// trip through sharp's thread pool.
import { crc32, deflateSync } from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One chunk: length, type, data, CRC of type and data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function textChunks(entries: Record<string, string>): Buffer[] {
  return Object.entries(entries).map(([keyword, text]) => {
    if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`invalid tEXt keyword "${keyword}"`);
    return chunk("tEXt", Buffer.from(`${keyword}\0${text}`, "latin1"));
  });
}

const FILTERS = [0, 1, 2, 4]; // None, Sub, Up, Paeth
const signedSize = (v: number) => (v < 128 ? v : 256 - v);

/**
 * Rows filtered as libpng's default heuristic does: per row, the filter (None, Sub, Up, Paeth) whose
 * output has the smallest sum of absolute values (as signed bytes). All four in one pass.
 */
function filterRows(px: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const stride = width * channels;
  const out = new Uint8Array(height * (stride + 1));
  const trial = FILTERS.map(() => new Uint8Array(stride));
  const [none, sub, up, paeth] = trial;
  for (let y = 0; y < height; y++) {
    const row = y * stride, prev = row - stride;
    let sNone = 0, sSub = 0, sUp = 0, sPaeth = 0;
    for (let i = 0; i < stride; i++) {
      const x = px[row + i];
      const a = i >= channels ? px[row + i - channels] : 0;
      const b = y > 0 ? px[prev + i] : 0;
      const c = y > 0 && i >= channels ? px[prev + i - channels] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const vSub = (x - a) & 0xff, vUp = (x - b) & 0xff, vPaeth = (x - predicted) & 0xff;
      none[i] = x; sub[i] = vSub; up[i] = vUp; paeth[i] = vPaeth;
      sNone += signedSize(x); sSub += signedSize(vSub); sUp += signedSize(vUp); sPaeth += signedSize(vPaeth);
    }
    const sums = [sNone, sSub, sUp, sPaeth];
    const best = sums.indexOf(Math.min(...sums));
    out[y * (stride + 1)] = FILTERS[best];
    out.set(trial[best], y * (stride + 1) + 1);
  }
  return out;
}

/** Rows with filter type 0 (None): a copy. */
function unfilteredRows(px: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const stride = width * channels;
  const out = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) out.set(px.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return out;
}

/**
 * Images up to this many pixels are stored without compression: a zlib stream of stored blocks,
 * written here. zlib's own set-up (a stream object and its buffers, cold once per image) costs
 * about a millisecond per image, more than it saves on at most 48 KB; a 64² image grows from about
 * 3 KB to 12 KB.
 */
const STORED_MAX_PIXELS = 128 * 128;

/**
 * Images up to this many pixels are written unfiltered: the encoder runs once per image, mostly
 * before the JIT has compiled the filter loop, where filtering a 64² image costs a millisecond or
 * more and saves a few hundred bytes. Larger images are filtered (their loops get compiled).
 */
const UNFILTERED_MAX_PIXELS = 256 * 256;

/** The IDAT payload of a larger image: rows with their filter bytes, deflated by zlib. */
function deflatedImageData(pixels: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const rows = (width * height <= UNFILTERED_MAX_PIXELS ? unfilteredRows : filterRows)(pixels, width, height, channels);
  return deflateSync(rows);
}

/**
 * The IDAT chunk of a small image, written in one pass: unfiltered rows in stored blocks, straight
 * from the pixels into the chunk (the same bytes as chunk("IDAT", zlibStored(unfilteredRows(…))),
 * without three intermediate copies).
 */
function storedImageChunk(pixels: Uint8Array, width: number, height: number, channels: number): Buffer {
  const stride = width * channels;
  const size = height * (stride + 1);
  const blocks = Math.max(1, Math.ceil(size / 65535));
  const payload = 2 + blocks * 5 + size + 4;
  const out = Buffer.alloc(12 + payload);
  out.writeUInt32BE(payload, 0);
  out.write("IDAT", 4, "ascii");
  out[8] = 0x78;
  out[9] = 0x01;
  // Row bytes (filter byte 0, then the row's pixels) are laid out block by block; a row may span two blocks.
  let o = 10, written = 0, y = 0, inRow = -1;
  let a = 1, b = 0;
  for (let block = 0; block < blocks; block++) {
    const len = Math.min(65535, size - written);
    out[o] = block === blocks - 1 ? 1 : 0;
    out[o + 1] = len & 0xff;
    out[o + 2] = len >>> 8;
    out[o + 3] = ~len & 0xff;
    out[o + 4] = (~len >>> 8) & 0xff;
    o += 5;
    for (let left = len; left > 0; ) {
      if (inRow < 0) {
        out[o++] = 0;
        b = (b + a) % 65521; // the filter byte adds 0 to a
        inRow = 0;
        left--;
        continue;
      }
      const take = Math.min(left, stride - inRow);
      const from = y * stride + inRow;
      out.set(pixels.subarray(from, from + take), o);
      for (let i = 0; i < take; i++) {
        a += pixels[from + i];
        b += a;
        if ((i & 2047) === 2047) { a %= 65521; b %= 65521; } // keeps both sums below 2^31
      }
      a %= 65521;
      b %= 65521;
      o += take;
      left -= take;
      inRow += take;
      if (inRow === stride) { inRow = -1; y++; }
    }
    written += len;
  }
  out.writeUInt32BE(((b << 16) | a) >>> 0, o);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + payload)), 8 + payload);
  return out;
}

/** Encodes 8-bit pixels (HWC, RGB or RGBA) as a PNG, with optional tEXt entries. */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 3 | 4, text: Record<string, string> = {}): Buffer {
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: ${pixels.length} bytes do not make a ${width}×${height} image with ${channels} channels`);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 4 ? 6 : 2; // RGBA : RGB
  return Buffer.concat([
    SIGNATURE,
    chunk("IHDR", ihdr),
    ...textChunks(text),
    width * height <= STORED_MAX_PIXELS ? storedImageChunk(pixels, width, height, channels) : chunk("IDAT", deflatedImageData(pixels, width, height, channels)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** JSON with non-ASCII characters escaped, safe for a Latin-1 tEXt chunk. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Returns a copy of `png` with tEXt chunks inserted before IEND. */
export function addPngText(png: Buffer, entries: Record<string, string>): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG file");
  const chunks = textChunks(entries);
  const iend = png.lastIndexOf(Buffer.from("IEND", "ascii")) - 4;
  if (iend < 8) throw new Error("PNG has no IEND chunk");
  return Buffer.concat([png.subarray(0, iend), ...chunks, png.subarray(iend)]);
}

/** A PNG's chunks in order, up to IEND: type and data. Invalid files throw with a reason. */
export function* pngChunks(png: Buffer): Generator<{ type: string; data: Buffer }> {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG file");
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("ascii", offset + 4, offset + 8);
    const start = offset + 8;
    if (start + length > png.length) throw new Error(`PNG chunk ${type} is truncated`);
    yield { type, data: png.subarray(start, start + length) };
    if (type === "IEND") return;
    offset = start + length + 4;
  }
}

/** All tEXt chunks of a PNG, keyword → text. Invalid files throw with a reason. */
export function readPngText(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { type, data } of pngChunks(png)) {
    if (type !== "tEXt") continue;
    const zero = data.indexOf(0);
    if (zero > 0) out[data.toString("latin1", 0, zero)] = data.toString("latin1", zero + 1);
  }
  return out;
}
