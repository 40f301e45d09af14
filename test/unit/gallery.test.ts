// The gallery's view of the history: images with prompt, seed, pack and time; search, filter, forget.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Workflow } from "../../nodes/schema.ts";
import { forgetRun, galleryItems } from "../../server/store/gallery.ts";
import { Store } from "../../server/store/store.ts";

const home = mkdtempSync(join(tmpdir(), "sluice-gallery-"));
const store = new Store(home);
after(() => { store.close(); rmSync(home, { recursive: true, force: true }); });

const cascade = (text: string, pack: string, seed: number): Workflow => ({
  format: "sluice.workflow", version: "1.1.0", groups: [], components: {}, params: [],
  nodes: [
    { id: "1", type: "LoadCascadePack", inputs: { pack } },
    { id: "2", type: "TextEncode", inputs: { text_encoder: { node: "1", output: "text_encoder" }, text } },
    { id: "3", type: "TextEncode", inputs: { text_encoder: { node: "1", output: "text_encoder" }, text: "blurry" } },
    { id: "4", type: "CascadeSampler", inputs: { model: { node: "1", output: "stage_c" }, positive: { node: "2", output: "conditioning" }, negative: { node: "3", output: "conditioning" }, seed } },
  ],
});
const run = (wf: Workflow, file: string) => {
  const id = store.enqueue({ workflow: wf });
  store.markRunning(id);
  store.finish(id, "done", { outputs: { "9": { images: [{ file, width: 64, height: 64 }] } }, executed: [], cached: [], timings: {} });
  return id;
};
const red = run(cascade("a red circle", "tiny", 7), "red.png");
const blue = run(cascade("a blue square", "other", 8), "blue.png");

describe("gallery", () => {
  it("lists each image, newest first, with the positive prompt, the seed, the pack and the time", () => {
    const items = galleryItems(store.db);
    assert.deepEqual(items.map((i) => [i.promptId, i.file, i.prompt, i.seed, i.pack]), [[blue, "blue.png", "a blue square", "8", "other"], [red, "red.png", "a red circle", "7", "tiny"]]);
    assert.ok(items.every((i) => i.createdAt && i.finishedAt && i.width === 64));
  });

  it("searches the prompt text and filters by pack", () => {
    assert.deepEqual(galleryItems(store.db, { q: "RED" }).map((i) => i.file), ["red.png"]);
    assert.deepEqual(galleryItems(store.db, { pack: "other" }).map((i) => i.file), ["blue.png"]);
  });

  it("forgets a finished run and hands back its files; an unknown or running one is refused", () => {
    assert.deepEqual(forgetRun(store.db, red), ["red.png"]);
    assert.deepEqual(galleryItems(store.db).map((i) => i.file), ["blue.png"]);
    assert.equal(forgetRun(store.db, red), undefined);
    const pending = store.enqueue({ workflow: cascade("x", "tiny", 1) });
    assert.equal(forgetRun(store.db, pending), undefined);
  });
});
