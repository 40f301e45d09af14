// PNG tEXt chunks: embed a workflow in an image and read it back. tEXt is Latin-1, so JSON is
// written with every non-ASCII character escaped (\uXXXX) and stays exact.

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** JSON with non-ASCII characters escaped, safe for a Latin-1 tEXt chunk. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Returns a copy of `png` with tEXt chunks inserted before IEND. */
export function addPngText(png: Buffer, entries: Record<string, string>): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG file");
  const chunks: Buffer[] = [];
  for (const [keyword, text] of Object.entries(entries)) {
    if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`invalid tEXt keyword "${keyword}"`);
    const data = Buffer.concat([Buffer.from(keyword, "latin1"), Buffer.from([0]), Buffer.from(text, "latin1")]);
    const typeAndData = Buffer.concat([Buffer.from("tEXt", "ascii"), data]);
    const length = Buffer.alloc(4); length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(typeAndData));
    chunks.push(length, typeAndData, crc);
  }
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
