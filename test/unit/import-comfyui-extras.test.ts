// ComfyUI import: group nodes' external links, PNG zTXt / iTXt chunks and unusable chunks, sizes
// scaled to the pack a checkpoint falls back to, and ComfyUI's latent rounding.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { EmptyCascadeLatent } from "../../nodes/cascade.ts";
import { addPngText } from "../../server/media/png.ts";
import type { ExecContext, Latent } from "../../nodes/schema.ts";
import { importComfyUi, importPng, type ImportContext } from "../../server/import/index.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "comfyui");
const CTX: ImportContext = { packs: ["tiny"], defaultPack: "tiny", packSizes: { tiny: { width: 64, height: 64, compression: 8, effnetCompression: 8 } } };
const uiText = () => readFileSync(join(FIXTURES, "cascade-text-to-image.workflow.json"), "utf8");
const promptText = () => readFileSync(join(FIXTURES, "cascade-text-to-image.prompt.json"), "utf8");

/** A PNG chunk of a type with its CRC. */
function chunk(type: string, data: Buffer): Buffer {
  const { crc32 } = zlibCrc();
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}
function zlibCrc() {
  const table = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  return { crc32: (b: Buffer) => { let c = 0xffffffff; for (const x of b) c = table[(c ^ x) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; } };
}
/** A PNG with extra chunks before IEND. */
async function pngWith(...chunks: Buffer[]): Promise<Buffer> {
  const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: "#808080" } }).png().toBuffer();
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), ...chunks, png.subarray(iend)]);
}

describe("group nodes", () => {
  it("takes the links from outside a group (source null in its definition) without a warning", () => {
    const raw = JSON.parse(uiText());
    const def = raw.extra.groupNodes["Stage B"];
    def.links.push([null, 0, 0, 0, 3, "CONDITIONING"], [null, 1, 1, 2, 4, "CONDITIONING"]);
    const { warnings } = importComfyUi(raw, CTX);
    assert.equal(warnings.some((w) => w.includes("inner link")), false, warnings.join("\n"));
  });
});

describe("PNG chunks", () => {
  it("reads a workflow from a zTXt chunk and from a compressed iTXt chunk", async () => {
    const z = chunk("zTXt", Buffer.concat([Buffer.from("workflow\0\0", "latin1"), deflateSync(Buffer.from(uiText(), "latin1"))]));
    assert.equal((importPng(await pngWith(z), CTX)).workflow.extra?.importedFrom && true, true);
    const i = chunk("iTXt", Buffer.concat([Buffer.from("prompt\0\x01\x00\0\0", "latin1"), deflateSync(Buffer.from(promptText(), "utf8"))]));
    const r = importPng(await pngWith(i), CTX);
    assert.equal((r.workflow.extra as { importedFrom: { format: string } }).importedFrom.format, "api");
  });

  it("names an unusable workflow chunk when it falls back to the prompt chunk", async () => {
    const png = addPngText(await pngWith(), { workflow: "{ this is not json", prompt: promptText() });
    const { warnings } = importPng(png, CTX);
    assert.ok(warnings.some((w) => w.startsWith('text chunk "workflow": the file is not JSON') && w.includes('imported the "prompt" chunk instead (API format: no positions or groups)')), warnings.join("\n"));
  });

  it("names a corrupt zTXt chunk", async () => {
    const bad = chunk("zTXt", Buffer.from("workflow\0\0not deflate", "latin1"));
    const png = addPngText(await pngWith(bad), { prompt: promptText() });
    const { warnings } = importPng(png, CTX);
    assert.ok(warnings.some((w) => w.startsWith('zTXt chunk "workflow":')), warnings.join("\n"));
  });
});

describe("sizes", () => {
  it("scales a fallen-back checkpoint's latent size to the pack's native size, keeping the aspect, and warns with both", () => {
    const prompt = JSON.parse(promptText());
    const empty = Object.values(prompt).find((n) => (n as { class_type: string }).class_type === "StableCascade_EmptyLatentImage") as { inputs: Record<string, number> };
    Object.assign(empty.inputs, { width: 1024, height: 768, compression: 42 });
    const { workflow, warnings } = importComfyUi(prompt, CTX);
    const latent = workflow.nodes.find((n) => n.type === "EmptyCascadeLatent")!;
    assert.deepEqual([latent.inputs.width, latent.inputs.height, latent.inputs.compression], [72, 56, 8]);
    assert.ok(warnings.some((w) => w.includes("(1024×768 at compression 42); scaled to pack 'tiny': 72×56 at compression 8")), warnings.join("\n"));
  });

  it("rounds Stage C latent sizes down as ComfyUI does (h // c)", async () => {
    const out = (await EmptyCascadeLatent.execute({ width: 1024, height: 1024, compression: 42, batch: 1 }, {} as ExecContext)) as { stage_c: Latent; stage_b: Latent };
    assert.deepEqual(out.stage_c.samples.shape, [1, 16, 24, 24]);
    assert.deepEqual(out.stage_b.samples.shape, [1, 4, 256, 256]);
  });
});
