// The text chunks of a PNG that can carry a workflow: tEXt (Latin-1), zTXt (Latin-1, deflated) and
// iTXt (UTF-8, optionally deflated), keyword → text. A chunk that cannot be read is named with why.
import { inflateSync } from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngTexts {
  texts: Record<string, string>;
  /** "zTXt chunk "workflow": its compressed text is corrupt (...)" */
  unusable: string[];
}

export function readPngTexts(png: Buffer): PngTexts {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG file");
  const texts: Record<string, string> = {};
  const unusable: string[] = [];
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("ascii", offset + 4, offset + 8);
    const start = offset + 8;
    if (start + length > png.length) throw new Error(`PNG chunk ${type} is truncated`);
    const data = png.subarray(start, start + length);
    if (type === "tEXt" || type === "zTXt" || type === "iTXt") {
      const zero = data.indexOf(0);
      const keyword = zero > 0 ? data.toString("latin1", 0, zero) : "";
      try {
        if (!keyword) throw new Error("it has no keyword");
        if (type === "tEXt") texts[keyword] = data.toString("latin1", zero + 1);
        else if (type === "zTXt") {
          if (data[zero + 1] !== 0) throw new Error(`compression method ${data[zero + 1]} is not deflate`);
          texts[keyword] = inflateSync(data.subarray(zero + 2)).toString("latin1");
        } else {
          const compressed = data[zero + 1] === 1;
          if (compressed && data[zero + 2] !== 0) throw new Error(`compression method ${data[zero + 2]} is not deflate`);
          const langEnd = data.indexOf(0, zero + 3);
          const transEnd = langEnd < 0 ? -1 : data.indexOf(0, langEnd + 1);
          if (transEnd < 0) throw new Error("its language or translated keyword is not terminated");
          const body = data.subarray(transEnd + 1);
          texts[keyword] = (compressed ? inflateSync(body) : body).toString("utf8");
        }
      } catch (err) {
        unusable.push(`${type} chunk${keyword ? ` "${keyword}"` : ""}: ${(err as Error).message}`);
      }
    }
    if (type === "IEND") break;
    offset = start + length + 4;
  }
  return { texts, unusable };
}
