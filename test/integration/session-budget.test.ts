// One memory budget on a real server: --memory-budget is what prompts are checked against and
// what the executor's loaded sessions stay within. Two copies of the real-architecture small pack:
// each prompt fits the budget, both packs' sessions do not, so the second prompt's models replace
// the first's (least recently used first); with room for both, nothing is released.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURE_PACKS, startServer, template, withInputs, type Running } from "./harness.ts";

const REAL_PACKS = path.join(FIXTURE_PACKS, "..", "real-packs");
const MB = 1024 ** 2;

function realWorkflow(pack: string) {
  let wf = withInputs(template("text-to-image", pack), "4", { width: 128, height: 128, compression: 32 });
  wf = withInputs(wf, "5", { steps: 2 });
  return withInputs(wf, "7", { steps: 1 });
}

/** A server on two copies of real-small ("first", "second") with a --memory-budget, and its log. */
async function twoPackServer(budget: string): Promise<{ s: Running; logs: string[]; models: string }> {
  const models = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-budget-models-"));
  for (const pack of ["first", "second"]) fs.cpSync(path.join(REAL_PACKS, "real-small"), path.join(models, pack), { recursive: true });
  const logs: string[] = [];
  const s = await startServer({ modelsDir: models, memoryBudget: budget, log: (_level, message) => logs.push(message) });
  return { s, logs, models };
}

async function runOn(s: Running, pack: string) {
  const { status, body } = await s.post("/api/prompt", { workflow: realWorkflow(pack) });
  assert.equal(status, 200, JSON.stringify(body));
  const entry = await s.waitSettled(body.promptId, 120_000);
  assert.equal(entry.status, "done", JSON.stringify(entry.error));
  return (await s.get("/api/system")).body.executor.sessions;
}

const packOf = (file: string) => path.basename(path.dirname(path.dirname(file)));

describe("--memory-budget bounds the sessions the executor keeps loaded", () => {
  let server: Awaited<ReturnType<typeof twoPackServer>>;
  // Each prompt's check: 4 models of about 65 MB each as the pack's profile counts them, plus the
  // working memory: about 282 MB. Both packs' sessions: about 540 MB.
  before(async () => { server = await twoPackServer("300MB"); });
  after(async () => {
    await server.s.stop();
    fs.rmSync(server.models, { recursive: true, force: true });
  });

  it("GET /api/system reports the budget, and the executor's session cache has the same", async () => {
    const { body } = await server.s.get("/api/system");
    assert.equal(body.memoryBudget, 300 * MB);
    assert.deepEqual(body.memoryBudgetFrom, { source: "flag", note: "--memory-budget 300MB" });
    assert.equal(body.executor.sessions.budgetBytes, 300 * MB);
    assert.deepEqual(body.executor.sessions.loaded, []);
  });

  it("a prompt within the budget keeps its models loaded, counted as the prompt check counts them", async () => {
    const sessions = await runOn(server.s, "first");
    assert.deepEqual(sessions.loaded.map((m: { label: string }) => m.label).sort(), ["decoder/model.onnx", "prior/model.onnx", "text_encoder/model.onnx", "vae_decoder/model.onnx"]);
    assert.ok(sessions.loaded.every((m: { file: string }) => packOf(m.file) === "first"));
    // The manifest has no memory profile: the release profile's 1.25 × file + 64 MiB each.
    for (const m of sessions.loaded) assert.ok(m.bytes > 64 * MB && m.bytes < 66 * MB, `${m.label}: ${m.bytes}`);
    assert.equal(sessions.evictions, 0);
    assert.ok(sessions.totalBytes <= 300 * MB);
  });

  it("the next pack's prompt releases the first pack's sessions, least recently used first, and stays within the budget", async () => {
    const logStart = server.logs.length;
    const sessions = await runOn(server.s, "second");
    assert.ok(sessions.loaded.every((m: { file: string }) => packOf(m.file) === "second"), JSON.stringify(sessions.loaded));
    assert.equal(sessions.loaded.length, 4);
    assert.equal(sessions.evictions, 4);
    assert.ok(sessions.totalBytes <= 300 * MB);
    const unloaded = server.logs.slice(logStart).filter((l) => l.startsWith("unloaded "));
    assert.deepEqual(unloaded, ["text_encoder/model.onnx", "prior/model.onnx", "decoder/model.onnx", "vae_decoder/model.onnx"].map((l) => `unloaded ${l} (over the memory budget)`));
  });
});

describe("--memory-budget with room for both packs", () => {
  let server: Awaited<ReturnType<typeof twoPackServer>>;
  before(async () => { server = await twoPackServer("1GB"); });
  after(async () => {
    await server.s.stop();
    fs.rmSync(server.models, { recursive: true, force: true });
  });

  it("keeps the first pack's sessions loaded beside the second's", async () => {
    await runOn(server.s, "first");
    const sessions = await runOn(server.s, "second");
    assert.equal(sessions.evictions, 0);
    assert.deepEqual(sessions.loaded.map((m: { file: string }) => packOf(m.file)).sort(), ["first", "first", "first", "first", "second", "second", "second", "second"]);
    assert.ok(sessions.totalBytes <= 1024 * MB);
  });
});
