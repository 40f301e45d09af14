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

/** Adler-32 of the data (RFC 1950), the checksum that ends a zlib stream. */
function adler32(data: Uint8Array): number {
  let a = 1, b = 0;
  for (let i = 0; i < data.length; ) {
    // Reduced every 5552 bytes (zlib's NMAX), so both sums stay below 2^32 and V8 keeps them integers.
    const end = Math.min(i + 5552, data.length);
    for (; i < end; i++) {
      a += data[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream (RFC 1950) holding the data in stored deflate blocks (RFC 1951 §3.2.4). */
export function zlibStored(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(2 + blocks * 5 + data.length + 4);
  out[0] = 0x78; // deflate, 32 KB window
  out[1] = 0x01; // no dictionary, fastest; (0x78 << 8 | 0x01) is a multiple of 31
  let o = 2;
  for (let i = 0; i < blocks; i++) {
    const start = i * 65535, len = Math.min(65535, data.length - start);
    out[o] = i === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00
    out[o + 1] = len & 0xff;
    out[o + 2] = len >>> 8;
    out[o + 3] = ~len & 0xff;
    out[o + 4] = (~len >>> 8) & 0xff;
    out.set(data.subarray(start, start + len), o + 5);
    o += 5 + len;
  }
  const check = adler32(data);
  out[o] = check >>> 24;
  out[o + 1] = (check >>> 16) & 0xff;
  out[o + 2] = (check >>> 8) & 0xff;
  out[o + 3] = check & 0xff;
  return out;
}

/**
 * Images up to this many pixels are written unfiltered: the encoder runs once per image, mostly
 * before the JIT has compiled the filter loop, where filtering a 64² image costs a millisecond or
 * more and saves a few hundred bytes. Larger images are filtered (their loops get compiled).
 */
const UNFILTERED_MAX_PIXELS = 256 * 256;

/** The IDAT payload: rows with their filter bytes, zlib-wrapped (stored, or deflated by zlib). */
function imageData(pixels: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const pixelCount = width * height;
  const rows = (pixelCount <= UNFILTERED_MAX_PIXELS ? unfilteredRows : filterRows)(pixels, width, height, channels);
  return pixelCount <= STORED_MAX_PIXELS ? zlibStored(rows) : deflateSync(rows);
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
    chunk("IDAT", imageData(pixels, width, height, channels)),
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

/** All tEXt chunks of a PNG, keyword → text. Invalid files throw with a reason. */
export function readPngText(png: Buffer): Record<string, string> {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG file");
  const out: Record<string, string> = {};
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("ascii", offset + 4, offset + 8);
    const start = offset + 8;
    if (start + length > png.length) throw new Error(`PNG chunk ${type} is truncated`);
    if (type === "tEXt") {
      const data = png.subarray(start, start + length);
      const zero = data.indexOf(0);
      if (zero > 0) out[data.toString("latin1", 0, zero)] = data.toString("latin1", zero + 1);
    }
    if (type === "IEND") break;
    offset = start + length + 4;
  }
  return out;
}
