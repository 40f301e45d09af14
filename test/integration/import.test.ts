// POST /api/workflows/import through a real server: ComfyUI files as JSON bodies and as PNGs in a
// multipart form, Sluice's own PNGs, garbage refused with reasons, and an imported ComfyUI Stable
// Cascade workflow that runs to the end on the fixture pack.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { addPngText } from "../../server/media/png.ts";
import { ROOT, startServer, type Running } from "./harness.ts";

const FIXTURES = join(ROOT, "test", "fixtures", "comfyui");
const UI_TEXT = readFileSync(join(FIXTURES, "cascade-text-to-image.workflow.json"), "utf8");
const API_TEXT = readFileSync(join(FIXTURES, "cascade-text-to-image.prompt.json"), "utf8");
const MAX_SEED = "18446744073709551615";

describe("POST /api/workflows/import", () => {
  let s: Running;
  before(async () => { s = await startServer({ modelsDir: join(ROOT, "test", "fixtures", "packs") }); });
  after(async () => { await s.stop(); });

  /** The body exactly as the file holds it (not re-serialized, so big seeds keep their digits). */
  const postText = async (text: string, contentType = "application/json") => {
    const res = await fetch(`${s.url}/api/workflows/import`, { method: "POST", headers: { "content-type": contentType }, body: text });
    return { status: res.status, body: await res.json() };
  };
  const postFile = async (bytes: Buffer | string, filename: string, type: string) => {
    const form = new FormData();
    form.append("file", new Blob([typeof bytes === "string" ? bytes : new Uint8Array(bytes)], { type }), filename);
    const res = await fetch(`${s.url}/api/workflows/import`, { method: "POST", body: form });
    return { status: res.status, body: await res.json() };
  };
  const png = () => sharp({ create: { width: 8, height: 8, channels: 3, background: "#406080" } }).png().toBuffer();

  it("imports a ComfyUI UI workflow sent as the JSON body, with the seed exact and warnings", async () => {
    const { status, body } = await postText(UI_TEXT);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.workflow.format, "sluice.workflow");
    const sampler = body.workflow.nodes.find((n: { id: string }) => n.id === "6");
    assert.equal(sampler.inputs.seed, MAX_SEED);
    assert.equal(body.workflow.nodes.find((n: { id: string }) => n.id === "1").inputs.pack, "random", "the server's first pack is the default");
    assert.ok(body.warnings.includes("node 1 (CheckpointLoaderSimple): checkpoint 'stable_cascade_stage_c.safetensors' is not among the packs (random); using 'random'"), body.warnings.join("\n"));
    assert.ok(body.warnings.some((w: string) => w.startsWith("node 14 (ImageSaverPro|custom): kept as a placeholder")));
  });

  it("imports a ComfyUI API prompt sent as the JSON body", async () => {
    const { status, body } = await postText(API_TEXT);
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.workflow.extra.importedFrom, { app: "ComfyUI", format: "api" });
    assert.equal(body.workflow.nodes.find((n: { id: string }) => n.id === "6").inputs.seed, MAX_SEED);
    assert.ok(body.workflow.nodes.every((n: { ui?: { pos?: number[] } }) => Array.isArray(n.ui?.pos)), "every node placed");
  });

  it("imports a ComfyUI PNG sent as multipart field \"file\", naming the workflow after the file", async () => {
    const bytes = addPngText(await png(), { prompt: API_TEXT, workflow: UI_TEXT });
    const { status, body } = await postFile(bytes, "ComfyUI_00042_.png", "image/png");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.workflow.name, "ComfyUI_00042_");
    assert.deepEqual(body.workflow.extra.importedFrom, { app: "ComfyUI", format: "ui" });
    assert.equal(body.workflow.nodes.find((n: { id: string }) => n.id === "6").inputs.seed, MAX_SEED);
    assert.equal(body.workflow.groups.length, 2);
  });

  it("imports a ComfyUI workflow .json sent as multipart field \"file\"", async () => {
    const { status, body } = await postFile(UI_TEXT, "cascade.json", "application/json");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.workflow.name, "cascade");
    assert.equal(body.workflow.nodes.find((n: { id: string }) => n.id === "6").inputs.seed, MAX_SEED);
  });

  it("refuses a garbage body, a PNG without a workflow and a multipart form without \"file\" with 400 and reasons", async () => {
    const garbage = await postText("this is { not json");
    assert.equal(garbage.status, 400);
    assert.equal(garbage.body.error, "the file is not JSON");
    assert.ok(Array.isArray(garbage.body.reasons) && garbage.body.reasons.length > 0);

    const unknown = await postText('{"hello": "world"}');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, "unknown workflow format");
    assert.equal(unknown.body.reasons.length, 3);

    const bare = await postFile(await png(), "photo.png", "image/png");
    assert.equal(bare.status, 400);
    assert.equal(bare.body.error, "the PNG carries no workflow (no sluice.workflow, workflow or prompt text chunk)");
    assert.ok(bare.body.reasons.length > 0);

    const form = new FormData();
    form.append("other", "x");
    const res = await fetch(`${s.url}/api/workflows/import`, { method: "POST", body: form });
    assert.equal(res.status, 400);
    assert.ok(Array.isArray((await res.json()).reasons));
  });

  // What a person does after importing: delete the placeholder the warnings named, then run.
  let run: Promise<{ workflow: any; entry: any }> | undefined;
  const importAndRun = () => (run ??= (async () => {
    const { body } = await postText(UI_TEXT);
    const workflow = { ...body.workflow, nodes: body.workflow.nodes.filter((n: { placeholder?: unknown }) => !n.placeholder) };
    const queued = await s.post("/api/prompt", { workflow });
    assert.equal(queued.status, 200, JSON.stringify(queued.body));
    return { workflow, entry: await s.waitSettled(queued.body.promptId, 120000) };
  })());

  it("A ComfyUI Stable Cascade text-to-image workflow (UI format) imports and RUNS", async () => {
    const { entry } = await importAndRun();
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    for (const id of ["1", "2", "3", "4", "5", "6", "7:0", "7:1", "9", "10"]) assert.ok([...entry.executed, ...entry.cached].includes(id), `node ${id} ran (executed ${entry.executed}, cached ${entry.cached})`);
    const image = entry.outputs["10"].images[0];
    assert.deepEqual([image.width, image.height], [64, 64]);
  });

  it("round-trips an image Sluice made from the imported workflow back into that workflow", async () => {
    const { workflow, entry } = await importAndRun();
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    const file = entry.outputs["10"].images[0].file;
    const bytes = Buffer.from(await (await fetch(`${s.url}/api/view?file=${encodeURIComponent(file)}`)).arrayBuffer());
    const { status, body } = await postFile(bytes, file, "image/png");
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.warnings, []);
    assert.deepEqual(body.workflow.nodes, workflow.nodes);
    assert.equal(body.workflow.nodes.find((n: { id: string }) => n.id === "6").inputs.seed, MAX_SEED);
  });
});
