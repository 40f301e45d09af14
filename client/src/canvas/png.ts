// Reads a Sluice workflow embedded in a PNG's tEXt / iTXt chunks (any keyword whose text is a
// Sluice workflow JSON). Returns the JSON text, or null.
export function readPngWorkflow(buf: ArrayBuffer): string | null {
  const bytes = new Uint8Array(buf);
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) return null;
  const view = new DataView(buf);
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8");
  let off = 8;
  while (off + 8 <= bytes.length) {
    const len = view.getUint32(off);
    const type = latin1.decode(bytes.subarray(off + 4, off + 8));
    const data = bytes.subarray(off + 8, off + 8 + len);
    if (type === "tEXt" || type === "iTXt") {
      const nul = data.indexOf(0);
      if (nul > 0) {
        let text: string | null = null;
        if (type === "tEXt") text = utf8.decode(data.subarray(nul + 1));
        else {
          // iTXt: keyword\0 compressionFlag compressionMethod languageTag\0 translatedKeyword\0 text
          const compressed = data[nul + 1] === 1;
          let p = nul + 3;
          p = data.indexOf(0, p) + 1;
          p = data.indexOf(0, p) + 1;
          if (!compressed && p > 0) text = utf8.decode(data.subarray(p));
        }
        if (text && text.includes("sluice.workflow")) return text;
      }
    }
    if (type === "IEND") break;
    off += 12 + len;
  }
  return null;
}

/** Whether a PNG carries a "workflow" or "prompt" text chunk (ComfyUI's keywords). */
export async function pngHasText(file: Blob): Promise<boolean> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const latin1 = new TextDecoder("latin1");
  const view = new DataView(bytes.buffer);
  let off = 8;
  while (off + 8 <= bytes.length) {
    const len = view.getUint32(off);
    const type = latin1.decode(bytes.subarray(off + 4, off + 8));
    if (type === "tEXt" || type === "iTXt" || type === "zTXt") {
      const data = bytes.subarray(off + 8, off + 8 + Math.min(len, 40));
      const key = latin1.decode(data.subarray(0, Math.max(0, data.indexOf(0))));
      if (key === "workflow" || key === "prompt") return true;
    }
    if (type === "IEND") break;
    off += 12 + len;
  }
  return false;
}
