// Intervening mid-cascade through the server: gates that pause, answer, re-roll and cancel, and
// samplers told to finish now. Runs on the fixture pack (real tensor names, random weights).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { crash, FIXTURE_PACKS, imageBytes, startServer, template, withInputs, type Running } from "./harness.ts";

async function waitStatus(s: Running, promptId: string, status: string, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { body } = await s.get(`/api/history/${promptId}`);
    if (body.status === status) return body;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`prompt ${promptId} never became ${status}`);
}

/** Queues a workflow and waits until it is paused at its gate (event and stored status); its id. */
async function queueToGate(s: Running, workflow: unknown): Promise<string> {
  const id = (await s.post("/api/prompt", { workflow })).body.promptId;
  await s.waitFor("gate:waiting", (p) => p.promptId === id);
  await waitStatus(s, id, "waiting");
  return id;
}

describe("gates", () => {
  let s: Running;
  before(async () => { s = await startServer({ modelsDir: FIXTURE_PACKS }); });
  after(async () => { await s.stop(); });

  it("pauses at the gate with status waiting and a preview, lets other prompts finish, and continue resumes without re-running Stage C", async () => {
    const wf = withInputs(template("gated-review"), "5", { seed: 1001, steps: 4 });
    const gated = (await s.post("/api/prompt", { workflow: wf })).body.promptId;
    const waiting = await s.waitFor("gate:waiting", (p) => p.promptId === gated);
    assert.equal(waiting.nodeId, "10");
    assert.equal(waiting.kind, "latent");
    assert.ok(Buffer.isBuffer(waiting.image) && waiting.image[0] === 0xff, "a JPEG preview");
    const record = await waitStatus(s, gated, "waiting");
    assert.equal(record.gate.nodeId, "10");
    const queue = await s.get("/api/queue");
    assert.ok(queue.body.waiting.some((p: { promptId: string; gate?: { preview?: string } }) => p.promptId === gated && p.gate?.preview));

    // Another prompt runs to the end while the gate waits.
    const other = (await s.post("/api/prompt", { workflow: withInputs(template("text-to-image"), "5", { seed: 2002, steps: 3 }) })).body.promptId;
    assert.equal((await s.waitSettled(other)).status, "done");
    assert.equal((await s.get(`/api/history/${gated}`)).body.status, "waiting");

    const answer = await s.post(`/api/prompt/${gated}/gate/10`, { action: "continue" });
    assert.equal(answer.status, 200);
    const entry = await s.waitSettled(gated);
    assert.equal(entry.status, "done");
    assert.equal(entry.executed.filter((id: string) => id === "5").length, 1, "Stage C ran once");
    assert.ok(entry.outputs["9"].images.length === 1);
  });

  it("re-roll re-runs only what is upstream with the next seed and pauses again", async () => {
    const wf = withInputs(template("gated-review"), "5", { seed: 3003, steps: 4 });
    const id = await queueToGate(s, wf);
    const before = s.events.filter((e) => e.name === "gate:waiting" && e.payload.promptId === id).length;
    assert.equal((await s.post(`/api/prompt/${id}/gate/10`, { action: "reroll" })).status, 200);
    await s.waitFor("gate:waiting", (p) => p.promptId === id && s.events.filter((e) => e.name === "gate:waiting" && e.payload.promptId === id).length > before);
    const paused = await waitStatus(s, id, "waiting");
    assert.equal(paused.workflow.nodes.find((n: { id: string }) => n.id === "5").inputs.seed, 3004, "Stage C moved to the next seed");
    assert.equal((await s.post(`/api/prompt/${id}/gate/10`, { action: "continue" })).status, 200);
    const entry = await s.waitSettled(id);
    assert.equal(entry.status, "done");
    assert.ok(entry.executed.includes("5"), "Stage C re-ran");
    for (const upstream of ["1", "2", "3", "4"]) assert.ok(entry.cached.includes(upstream), `${upstream} came from the cache`);
  });

  it("continue with an edited latent uses the edit", async () => {
    const wf = withInputs(template("gated-review"), "5", { seed: 4004, steps: 3 });
    const id = await queueToGate(s, wf);
    const shape = [1, 16, 2, 2]; // the fixture pack compresses 64 px by 32
    const data = Buffer.alloc(4 * 16 * 2 * 2);
    const bad = await s.post(`/api/prompt/${id}/gate/10`, { action: "continue", value: { shape: [1, 16, 2, 2], data: "AAAA" } });
    assert.equal(bad.status, 200, "the answer is taken; the bad edit fails the prompt with a reason");
    const failed = await s.waitSettled(id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.error.node, "10");
    assert.match(failed.error.message, /edited latent's data holds 0.75 floats|holds/);

    const id2 = await queueToGate(s, withInputs(wf, "5", { seed: 4005 }));
    assert.equal((await s.post(`/api/prompt/${id2}/gate/10`, { action: "continue", value: { shape, data: data.toString("base64") } })).status, 200);
    assert.equal((await s.waitSettled(id2)).status, "done");
  });

  it("cancel at the gate ends the prompt as cancelled", async () => {
    const id = await queueToGate(s, withInputs(template("gated-review"), "5", { seed: 5005, steps: 2 }));
    assert.equal((await s.post(`/api/prompt/${id}/gate/10`, { action: "cancel" })).status, 200);
    assert.equal((await s.waitSettled(id)).status, "cancelled");
  });

  it("answers that do not fit are refused with the reason", async () => {
    const done = (await s.post("/api/prompt", { workflow: withInputs(template("text-to-image"), "5", { steps: 2, seed: 6006 }) })).body.promptId;
    await s.waitSettled(done);
    const r1 = await s.post(`/api/prompt/${done}/gate/10`, { action: "continue" });
    assert.equal(r1.status, 409);
    assert.match(r1.body.error, /is done, not waiting/);
    const r2 = await s.post(`/api/prompt/${done}/gate/10`, { action: "jump" });
    assert.equal(r2.status, 400);
    assert.match(r2.body.error, /action/);
  });

  it("a sampler told to finish now returns within one step and the cascade goes on", async () => {
    const s = await startServer();
    try {
      // On its own server with the tiny pack, whose steps take milliseconds (the random pack's,
      // microseconds): a thousand of them outlast the request however slowly this process hears
      // the progress.
      const wf = withInputs(template("text-to-image", "tiny"), "5", { steps: 1000, seed: 7007 });
      const id = (await s.post("/api/prompt", { workflow: wf })).body.promptId;
      await s.waitFor("node:progress", (p) => p.promptId === id && p.nodeId === "5" && p.step >= 3);
      assert.equal((await s.post(`/api/prompt/${id}/finish/5`, {})).status, 200);
      const entry = await s.waitSettled(id);
      assert.equal(entry.status, "done");
      const steps = s.events.filter((e) => e.name === "node:progress" && e.payload.promptId === id && e.payload.nodeId === "5").map((e) => e.payload.step);
      assert.ok(Math.max(...steps) < 1000, `stopped at step ${Math.max(...steps)}`);
      assert.ok(entry.executed.includes("7"), "Stage B ran after the early finish");
    } finally {
      await s.stop();
    }
  });
});

describe("painting at a latent gate (tiny pack)", () => {
  let s: Running;
  before(async () => { s = await startServer(); });
  after(async () => { await s.stop(); });

  /** Runs the gated-review template to its gate, answers it, and returns the image's mean RGB per half. */
  async function halves(answer: Record<string, unknown>): Promise<{ left: number[]; right: number[] }> {
    const wf = withInputs(template("gated-review", "tiny"), "2", { text: "a white circle in the center on a black background" });
    const id = await queueToGate(s, withInputs(wf, "5", { seed: 77 }));
    assert.equal((await s.post(`/api/prompt/${id}/gate/10`, answer)).status, 200);
    const entry = await s.waitSettled(id);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    const { data, info } = await sharp(await imageBytes(s, entry)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const mean = (x0: number, x1: number) => [0, 1, 2].map((k) => {
      let sum = 0;
      for (let y = 0; y < info.height; y++) for (let x = x0; x < x1; x++) sum += data[(y * info.width + x) * 3 + k];
      return sum / (info.height * (x1 - x0));
    });
    return { left: mean(0, info.width / 2), right: mean(info.width / 2, info.width) };
  }

  it("colours painted over the Stage C preview carry through Stage B and A to that part of the image", async (t) => {
    const plain = await halves({ action: "continue" });
    // Paint: the left half opaque green, the right half untouched (transparent).
    const paint = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .composite([{ input: { create: { width: 32, height: 64, channels: 4, background: { r: 30, g: 170, b: 50, alpha: 1 } } }, left: 0, top: 0 }])
      .png().toBuffer();
    const painted = await halves({ action: "continue", value: { paint: `data:image/png;base64,${paint.toString("base64")}` } });
    const greenness = (rgb: number[]) => rgb[1] - (rgb[0] + rgb[2]) / 2;
    t.diagnostic(`green excess, left: ${greenness(plain.left).toFixed(1)} → ${greenness(painted.left).toFixed(1)}; right: ${greenness(plain.right).toFixed(1)} → ${greenness(painted.right).toFixed(1)}`);
    assert.ok(greenness(painted.left) > greenness(plain.left) + 40, `left half: green excess ${greenness(plain.left).toFixed(1)} → ${greenness(painted.left).toFixed(1)}`);
    assert.ok(Math.abs(greenness(painted.right) - greenness(plain.right)) < Math.abs(greenness(painted.left) - greenness(plain.left)) / 2,
      `the unpainted right half changes less: ${greenness(plain.right).toFixed(1)} → ${greenness(painted.right).toFixed(1)}`);
  });

  it("paint that is not an image data URL fails the prompt at the gate with the reason", async () => {
    const id = await queueToGate(s, withInputs(template("gated-review", "tiny"), "5", { seed: 78, steps: 2 }));
    assert.equal((await s.post(`/api/prompt/${id}/gate/10`, { action: "continue", value: { paint: "red please" } })).status, 200);
    const entry = await s.waitSettled(id);
    assert.equal(entry.status, "failed");
    assert.equal(entry.error.node, "10");
    assert.match(entry.error.message, /paint over a latent must be a PNG, JPEG or WebP data URL/);
  });
});

describe("gates across a restart", () => {
  it("a prompt waiting at a gate when the server stops still waits, and finishes from its checkpoint when continued", async () => {
    const s1 = await startServer({ modelsDir: FIXTURE_PACKS });
    const id = await queueToGate(s1, withInputs(template("gated-review"), "5", { steps: 2, seed: 8008 }));
    await crash(s1);
    const s2 = await startServer({ modelsDir: FIXTURE_PACKS, home: s1.home });
    try {
      const waiting = (await s2.get(`/api/history/${id}`)).body;
      assert.equal(waiting.status, "waiting");
      assert.equal(waiting.gate.nodeId, "10");
      assert.equal((await s2.post(`/api/prompt/${id}/gate/10`, { action: "continue" })).status, 200);
      const entry = await s2.waitSettled(id);
      assert.equal(entry.status, "done", JSON.stringify(entry.error));
      const ranAfterRestart = s2.events.filter((e) => e.name === "node:start" && e.payload.promptId === id).map((e) => e.payload.nodeId);
      assert.ok(!ranAfterRestart.includes("5"), `Stage C ran again: ${ranAfterRestart.join(", ")}`);
      assert.ok(ranAfterRestart.includes("7"), `Stage B ran: ${ranAfterRestart.join(", ")}`);
    } finally {
      await s2.stop();
    }
  });
});
