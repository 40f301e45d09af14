// The cascade through the server: the text-to-image template on a pack with the real tensor
// names (random weights: test/fixtures/packs/random), with progress and previews for every step.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { FIXTURE_PACKS, imageBytes, startServer, template, withInputs, type Running } from "./harness.ts";

describe("cascade through the server", () => {
  let s: Running;
  before(async () => { s = await startServer({ modelsDir: FIXTURE_PACKS }); });
  after(async () => { await s.stop(); });

  it("runs the text-to-image template with progress and a preview for every step of both samplers", async () => {
    const wf = withInputs(template("text-to-image"), "5", { steps: 6 });
    const { status, body } = await s.post("/api/prompt", { workflow: wf });
    assert.equal(status, 200, JSON.stringify(body));
    const entry = await s.waitSettled(body.promptId);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    const mine = s.events.filter((e) => e.payload?.promptId === body.promptId);
    const progress = (node: string) => mine.filter((e) => e.name === "node:progress" && e.payload.nodeId === node).map((e) => e.payload.step);
    assert.deepEqual(progress("5"), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(progress("7"), Array.from({ length: 10 }, (_, i) => i + 1));
    // Previews are throttled, but the last step of each sampler always arrives.
    await s.waitFor("node:preview", (p) => p.promptId === body.promptId && p.nodeId === "5" && p.step === 6);
    await s.waitFor("node:preview", (p) => p.promptId === body.promptId && p.nodeId === "7" && p.step === 10);
    const meta = await sharp(await imageBytes(s, entry)).metadata();
    assert.deepEqual([meta.width, meta.height], [64, 64]);
  });

  it("gives a byte-identical image for the same seed and a different one for another seed", async () => {
    const wf = withInputs(template("text-to-image"), "5", { steps: 3, seed: "18446744073709551615" });
    // Distinct prefixes so the cache does not hand back the same node result.
    const a = await s.waitSettled((await s.post("/api/prompt", { workflow: withInputs(wf, "9", { prefix: "a" }) })).body.promptId);
    s.server.dispatcher.clearCache();
    const b = await s.waitSettled((await s.post("/api/prompt", { workflow: withInputs(wf, "9", { prefix: "b" }) })).body.promptId);
    assert.equal(b.executed.length, 9, "second run recomputed everything");
    const c = await s.waitSettled((await s.post("/api/prompt", { workflow: withInputs(withInputs(wf, "9", { prefix: "c" }), "5", { seed: "18446744073709551614" }) })).body.promptId);
    const [pa, pb, pc] = await Promise.all([a, b, c].map(async (e) => (await sharp(await imageBytes(s, e)).raw().toBuffer())));
    assert.ok(pa.equals(pb), "same seed → same pixels");
    assert.ok(!pa.equals(pc), "different seed → different pixels");
  });

  it("changing only Stage B's seed re-runs Stage B and Stage A only", async () => {
    const wf = withInputs(template("text-to-image"), "5", { steps: 4 });
    await s.waitSettled((await s.post("/api/prompt", { workflow: wf })).body.promptId);
    const entry = await s.waitSettled((await s.post("/api/prompt", { workflow: withInputs(wf, "7", { seed: 12345 }) })).body.promptId);
    assert.deepEqual(entry.executed, ["7", "8", "9"]);
    // Stage B's inputs come from the cache; what only fed them (the prompt, Stage C) is not visited.
    assert.deepEqual(entry.cached.sort(), ["1", "3", "4", "6"]);
  });

  it("cancels inside a sampler within a step", async () => {
    const s = await startServer();
    try {
      // On its own server with the tiny pack, whose steps take milliseconds (the random pack's,
      // microseconds): a thousand of them outlast the request however slowly this process hears
      // the progress.
      const wf = withInputs(template("text-to-image", "tiny"), "5", { steps: 1000, seed: 99 });
      const { body } = await s.post("/api/prompt", { workflow: wf });
      await s.waitFor("node:progress", (p) => p.promptId === body.promptId && p.nodeId === "5" && p.step >= 3);
      await s.post("/api/interrupt", { promptId: body.promptId });
      const entry = await s.waitSettled(body.promptId);
      assert.equal(entry.status, "cancelled");
      const steps = s.events.filter((e) => e.name === "node:progress" && e.payload.promptId === body.promptId).map((e) => e.payload.step);
      assert.ok(Math.max(...steps) < 1000);
    } finally {
      await s.stop();
    }
  });

  it("a Stage B latent given to a Stage C model fails naming the node and input", async () => {
    const wf = template("text-to-image");
    wf.nodes.find((n: { id: string }) => n.id === "5").inputs.latent = { node: "4", output: "stage_b" };
    const entry = await s.waitSettled((await s.post("/api/prompt", { workflow: wf })).body.promptId);
    assert.equal(entry.status, "failed");
    assert.equal(entry.error.node, "5");
    assert.match(entry.error.message, /input "latent" is a Stage B latent but the model is Stage C/);
  });

  it("branches Stage B and A over several seeds from one Stage C latent, each image keeping its seed", async () => {
    const wf = withInputs(template("text-to-image"), "5", { steps: 3, seed: 11 });
    wf.nodes.push({ id: "20", type: "BranchSeeds", inputs: { latent: { node: "4", output: "stage_b" }, seed: 0, count: 1, seeds: "5, 6, 18446744073709551615" } });
    wf.nodes.find((n: { id: string }) => n.id === "7").inputs.latent = { node: "20", output: "latent" };
    const entry = await s.waitSettled((await s.post("/api/prompt", { workflow: wf })).body.promptId);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    const images = entry.outputs["9"].images;
    assert.deepEqual(images.map((i: { seed: string }) => i.seed), ["5", "6", "18446744073709551615"]);
    const pixels = await Promise.all(images.map(async (i: { file: string }) => sharp(Buffer.from(await (await fetch(`${s.url}/api/view?file=${encodeURIComponent(i.file)}`)).arrayBuffer())).raw().toBuffer()));
    assert.ok(!pixels[0].equals(pixels[1]), "different seeds give different images");

    // Picking the second keeps its seed: a single run at that seed reproduces it.
    const single = withInputs(withInputs(template("text-to-image"), "5", { steps: 3, seed: 11 }), "7", { seed: 6 });
    const one = await s.waitSettled((await s.post("/api/prompt", { workflow: withInputs(single, "9", { prefix: "picked" }) })).body.promptId);
    const picked = await sharp(await imageBytes(s, one)).raw().toBuffer();
    assert.ok(picked.equals(pixels[1]), "the branch at seed 6 equals a plain run at seed 6");
  });

  it("lists the packs with their stages", async () => {
    const packs = await s.get("/api/packs");
    const random = packs.body.find((p: { name: string }) => p.name === "random");
    assert.ok(random.stages.includes("stageC") && random.stages.includes("stageB"));
  });
});
