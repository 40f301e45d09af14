// The text chunks of a PNG that can carry a workflow: tEXt (Latin-1), zTXt (Latin-1, deflated) and
// iTXt (UTF-8, optionally deflated), keyword → text. A chunk that cannot be read is named with why.
import { inflateSync } from "node:zlib";
import { pngChunks } from "../media/png.ts";

export interface PngTexts {
  texts: Record<string, string>;
  /** "zTXt chunk "workflow": its compressed text is corrupt (...)" */
  unusable: string[];
}

export function readPngTexts(png: Buffer): PngTexts {
  const texts: Record<string, string> = {};
  const unusable: string[] = [];
  for (const { type, data } of pngChunks(png)) {
    if (type !== "tEXt" && type !== "zTXt" && type !== "iTXt") continue;
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
  return { texts, unusable };
}
