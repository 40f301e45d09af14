// Files on a hostile or full disk: symbolic links in outputs/ and uploads/ are not followed, an
// image whose header promises too many pixels is refused before decoding, and a full disk (a small
// tmpfs mounted over the folder; an unwritable folder where mounting is not allowed) answers with a
// message, leaves no half-written file and keeps the server up, for uploads and for a gate preview.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, crc32 } from "node:zlib";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { FIXTURE_PACKS, link, startServer, template, withInputs, workflow, type Running } from "./harness.ts";

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A PNG whose header says width×height; only its first rows are present (no need to build the rest). */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2;
  const rows = Buffer.alloc(4 * (1 + width * 3));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

/** A PNG of random pixels: it does not compress, so its file is about width×height×3 bytes. */
async function noisePng(width: number, height: number): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  let x = 12345;
  for (let i = 0; i < px.length; i++) { x = (x * 1103515245 + 12345) >>> 0; px[i] = x >>> 24; }
  return sharp(px, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
}

async function upload(s: Running, bytes: Buffer, name: string) {
  const form = new FormData();
  form.append("image", new Blob([new Uint8Array(bytes)], { type: "image/png" }), name);
  const res = await fetch(`${s.url}/api/upload`, { method: "POST", body: form });
  return { status: res.status, body: await res.json() };
}

/** Makes `dir` a full disk: a tmpfs of `bytes` mounted over it; else (no mount allowed) read-only. */
function fillUp(dir: string, bytes: number): { mounted: boolean; release(): void } {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], { stdio: "ignore" });
    return { mounted: true, release: () => execFileSync("umount", ["-l", dir], { stdio: "ignore" }) };
  } catch {
    chmodSync(dir, 0o555);
    return { mounted: false, release: () => chmodSync(dir, 0o755) };
  }
}

describe("symbolic links and oversized images", () => {
  let s: Running;
  let outside: string;
  before(async () => {
    s = await startServer();
    outside = mkdtempSync(join(tmpdir(), "sluice-outside-"));
    writeFileSync(join(outside, "secret.png"), await sharp({ create: { width: 4, height: 4, channels: 3, background: "#f00" } }).png().toBuffer());
  });
  after(async () => { await s.stop(); rmSync(outside, { recursive: true, force: true }); });

  it("/api/view refuses a link in outputs/ and a linked folder in uploads/ with 403, and serves a plain file", async () => {
    mkdirSync(s.server.store.paths.outputs, { recursive: true });
    mkdirSync(s.server.store.paths.uploads, { recursive: true });
    symlinkSync(join(outside, "secret.png"), join(s.server.store.paths.outputs, "link.png"));
    symlinkSync(outside, join(s.server.store.paths.uploads, "folder"));
    const file = await s.get("/api/view?file=link.png");
    assert.equal(file.status, 403);
    assert.match(file.body.error, /symbolic link/);
    const folder = await s.get("/api/view?file=folder/secret.png");
    assert.equal(folder.status, 403);
    assert.match(folder.body.error, /linked folder/);
    writeFileSync(join(s.server.store.paths.outputs, "plain.png"), await sharp({ create: { width: 2, height: 2, channels: 3, background: "#00f" } }).png().toBuffer());
    assert.equal((await fetch(`${s.url}/api/view?file=plain.png`)).status, 200);
  });

  it("LoadImage does not follow a link in uploads/: the prompt fails naming the node", async () => {
    symlinkSync(join(outside, "secret.png"), join(s.server.store.paths.uploads, "linked.png"));
    const wf = workflow([
      { id: "1", type: "LoadImage", inputs: { image: "linked.png" } },
      { id: "2", type: "PreviewImage", inputs: { image: link("1", "image") } },
    ]);
    const entry = await s.waitSettled((await s.post("/api/prompt", { workflow: wf })).body.promptId);
    assert.equal(entry.status, "failed");
    assert.equal(entry.error.nodeId ?? entry.error.node, "1");
    assert.match(entry.error.message, /symbolic link/);
  });

  it("refuses an upload whose header claims 16000×16000 pixels with 413, before decoding it", async () => {
    const res = await upload(s, pngClaiming(16000, 16000), "huge.png");
    assert.equal(res.status, 413);
    assert.match(res.body.error, /16000×16000 pixels; the largest image Sluice decodes/);
    assert.deepEqual(readdirSync(s.server.store.paths.uploads).filter((f) => f.startsWith("huge")), []);
  });
});

describe("a full disk", () => {
  let s: Running;
  before(async () => { s = await startServer({ modelsDir: FIXTURE_PACKS }); });
  after(async () => { await s.stop(); });

  it("an upload to a full uploads/ answers 507 (500 when only unwritable) with a message, leaves no file, and the server stays up", async () => {
    const dir = s.server.store.paths.uploads;
    mkdirSync(dir, { recursive: true });
    const disk = fillUp(dir, 64 * 1024);
    try {
      const res = await upload(s, await noisePng(160, 160), "noise.png");
      assert.equal(res.status, disk.mounted ? 507 : 500);
      assert.match(res.body.error, disk.mounted ? /no space left on the disk while writing noise_/ : /is not writable/);
      assert.deepEqual(readdirSync(dir), [], "no file and no temporary file left");
      assert.equal((await s.get("/api/system")).status, 200);
    } finally {
      disk.release();
    }
  });

  it("a gate whose preview cannot be written still waits and sends its picture; the server stays up and the gate can be answered", async () => {
    const dir = s.server.store.paths.temp;
    mkdirSync(dir, { recursive: true });
    const disk = fillUp(dir, 4096);
    try {
      if (disk.mounted) writeFileSync(join(dir, "filler"), Buffer.alloc(4096)); // the tmpfs is now full
      const wf = withInputs(template("gated-review"), "5", { seed: 5, steps: 2 });
      const id = (await s.post("/api/prompt", { workflow: wf })).body.promptId;
      const waiting = await s.waitFor("gate:waiting", (p) => p.promptId === id);
      assert.ok(Buffer.isBuffer(waiting.image) && waiting.image.length > 0, "the picture travels with the event");
      assert.equal(waiting.preview, undefined, "no preview file is named");
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith("gate_") || f.startsWith(".gate_")), [], "no half-written preview");
      assert.equal((await s.get("/api/system")).status, 200);
      assert.equal((await s.post(`/api/prompt/${id}/gate/10`, { action: "cancel" })).status, 200);
      assert.equal((await s.waitSettled(id)).status, "cancelled");
    } finally {
      disk.release();
    }
  });
});
