// Model loads seen from outside the executor: the socket hears `model:loading` for the prompt
// whose node loads a model (a fresh fp16 pack: converted to float32, then loaded), and an executor
// that dies while a model loads fails that prompt naming the node and the model, while the server
// stays up and a new executor runs the next prompt. The slow-load pack is real-small with a Stage
// C that ONNX Runtime takes seconds to build a session of (tools/fixtures/make_slow_load_prior.py).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURE_PACKS, startServer, template, withInputs, type Running } from "./harness.ts";

const REAL_PACKS = path.join(FIXTURE_PACKS, "..", "real-packs");
const SLOW_PRIOR = path.join(FIXTURE_PACKS, "slow-load", "prior.onnx");

function realWorkflow(pack: string) {
  let wf = withInputs(template("text-to-image", pack), "4", { width: 128, height: 128, compression: 32 });
  wf = withInputs(wf, "5", { steps: 2 });
  return withInputs(wf, "7", { steps: 1 });
}

describe("model loads reported to the prompt's sockets", () => {
  let s: Running;
  let models: string;
  before(async () => {
    models = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-loading-models-"));
    for (const pack of ["real-small", "real-small-fp16"]) fs.cpSync(path.join(REAL_PACKS, pack), path.join(models, pack), { recursive: true });
    fs.cpSync(path.join(REAL_PACKS, "real-small"), path.join(models, "slow-load"), { recursive: true });
    fs.copyFileSync(SLOW_PRIOR, path.join(models, "slow-load", "prior", "model.onnx"));
    s = await startServer({ modelsDir: models });
  });
  after(async () => {
    await s.stop();
    fs.rmSync(models, { recursive: true, force: true });
  });

  it("a fresh fp16 pack: each model is announced converting, loading, then loaded, for the prompt and the node that loads it", async () => {
    const { status, body } = await s.post("/api/prompt", { workflow: realWorkflow("real-small-fp16") });
    assert.equal(status, 200, JSON.stringify(body));
    const entry = await s.waitSettled(body.promptId, 120_000);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    const loads = s.events.filter((e) => e.name === "model:loading" && e.payload.promptId === body.promptId).map((e) => e.payload);
    const prior = loads.filter((l) => l.label === "prior/model.onnx");
    assert.deepEqual([...new Set(prior.map((l) => l.phase))], ["converting", "loading", "loaded"]);
    const loaded = prior.at(-1);
    assert.equal(loaded.fraction, 1);
    assert.ok(loaded.bytes > 0 && loaded.elapsedMs >= 0);
    // Every load happened while a node of this prompt ran, and names it.
    const nodeIds = new Set(entry.workflow.nodes.map((n: { id: string }) => n.id));
    for (const l of loads) assert.ok(nodeIds.has(l.nodeId), `model:loading for ${l.label} names node ${l.nodeId}`);
    // Each model that began loading finished loading.
    const began = new Set(loads.filter((l) => l.phase === "loading").map((l) => l.label));
    const ended = new Set(loads.filter((l) => l.phase === "loaded").map((l) => l.label));
    assert.deepEqual([...began].sort(), [...ended].sort());
    assert.ok(began.has("text_encoder/model.onnx") && began.has("decoder/model.onnx"), [...began].join(", "));
  });

  it("a second prompt on the same pack loads nothing again", async () => {
    const { body } = await s.post("/api/prompt", { workflow: realWorkflow("real-small-fp16") });
    assert.equal((await s.waitSettled(body.promptId, 120_000)).status, "done");
    assert.deepEqual(s.events.filter((e) => e.name === "model:loading" && e.payload.promptId === body.promptId), []);
  });

  it("the executor killed while a model loads: the prompt fails naming the node and the model, the server stays up, the next prompt runs", async () => {
    const pid = (await s.get("/api/system")).body.executor.pid;
    const { body } = await s.post("/api/prompt", { workflow: realWorkflow("slow-load") });
    const victim = body.promptId;
    const loading = await s.waitFor("model:loading", (p) => p.promptId === victim && p.label === "prior/model.onnx" && p.phase === "loading", 60_000);
    process.kill(pid, "SIGKILL");

    const entry = await s.waitSettled(victim, 60_000);
    assert.equal(entry.status, "failed");
    assert.equal(entry.error.node, loading.nodeId);
    assert.match(entry.error.message, new RegExp(`^the executor was killed \\(SIGKILL, likely out of memory\\) while node ${loading.nodeId} \\w+ ran, loading the model prior/model\\.onnx \\([\\d.]+ [MG]B\\)$`));
    const event = await s.waitFor("execution:error", (p) => p.promptId === victim);
    assert.equal(event.message, entry.error.message);

    const system = await s.get("/api/system");
    assert.equal(system.status, 200);
    const next = await s.post("/api/prompt", { workflow: realWorkflow("real-small") });
    assert.equal(next.status, 200);
    assert.equal((await s.waitSettled(next.body.promptId, 120_000)).status, "done");
    const after = (await s.get("/api/system")).body.executor;
    assert.notEqual(after.pid, pid);
    assert.equal(after.restarts, 1);
  });
});
