// The memory budget on a real server and the real CLI with the tiny pack: oversized prompts are
// refused before they run, naming the node, the estimate and the budget; normal ones still run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startServer, template, withInputs, type Running } from "./harness.ts";

const oversized = () => withInputs(template("text-to-image", "tiny"), "4", { width: 1024, height: 1024, compression: 42 });

describe("memory budget (default: a share of available RAM)", () => {
  let s: Running;
  before(async () => { s = await startServer(); });
  after(async () => { await s.stop(); });

  it("GET /api/system reports the budget and how it was decided", async () => {
    const { status, body } = await s.get("/api/system");
    assert.equal(status, 200);
    assert.ok(Number.isInteger(body.memoryBudget) && body.memoryBudget > 0);
    assert.equal(body.memoryBudgetFrom.source, "ram");
    assert.match(body.memoryBudgetFrom.note, /70% of available RAM at start/);
  });

  it("refuses text-to-image at 1024×1024, compression 42 with a 400 naming node 7, the estimate and the budget, within a second", async () => {
    const started = performance.now();
    const { status, body } = await s.post("/api/prompt", { workflow: oversized() });
    const ms = performance.now() - started;
    assert.equal(status, 400);
    assert.match(body.error, /^node 7 CascadeSampler: Stage B at a 256×256 latent needs about \d+ GB; budget [\d.]+ [GM]B; lower width\/height\/batch on node 4$/);
    assert.match(body.nodeErrors["7"][0].message, /needs about \d+ GB of memory; the budget is/);
    assert.equal(body.nodeErrors["4"][0].input, "width");
    assert.ok(ms < 1000, `answered in ${ms.toFixed(0)} ms`);
    const system = await s.get("/api/system");
    assert.equal(system.status, 200);
    const queue = (await s.get("/api/queue")).body;
    assert.deepEqual([...queue.pending, ...queue.running], []);
  });

  it("still runs the template at its own size", async () => {
    const { status, body } = await s.post("/api/prompt", { workflow: template("text-to-image", "tiny") });
    assert.equal(status, 200, JSON.stringify(body));
    const entry = await s.waitSettled(body.promptId, 120000);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
  });
});

describe("--memory-budget", () => {
  let s: Running;
  before(async () => { s = await startServer({ memoryBudget: "1MB" }); });
  after(async () => { await s.stop(); });

  it("is reported by /api/system", async () => {
    const { body } = await s.get("/api/system");
    assert.equal(body.memoryBudget, 1024 ** 2);
    assert.deepEqual(body.memoryBudgetFrom, { source: "flag", note: "--memory-budget 1MB" });
  });

  it("a tiny budget refuses even the normal template, saying so", async () => {
    const { status, body } = await s.post("/api/prompt", { workflow: template("text-to-image", "tiny") });
    assert.equal(status, 400);
    assert.match(body.error, /^node \d+ \w+: .* needs about \d+ MB; budget 1 MB/);
  });
});

describe("sluice run --memory-budget", () => {
  const file = () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-cli-mem-"));
    const path = join(dir, "wf.json");
    writeFileSync(path, JSON.stringify(template("text-to-image", "tiny")));
    return { dir, path };
  };

  it("refuses a workflow over the budget before running it, naming the node and the budget", () => {
    const { dir, path } = file();
    const r = spawnSync(process.execPath, ["bin/sluice.js", "run", path, "--out", join(dir, "out"), "--home", join(dir, "home"), "--device", "cpu", "--memory-budget", "1MB"], { encoding: "utf8" });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /node \d+ \w+: .* needs about \d+ MB; budget 1 MB/);
    assert.doesNotMatch(r.stderr, /done in/);
  });

  it("names a budget that is not a size", () => {
    const { dir, path } = file();
    const r = spawnSync(process.execPath, ["bin/sluice.js", "run", path, "--out", join(dir, "out"), "--home", join(dir, "home"), "--memory-budget", "lots"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--memory-budget: "lots" is not a memory size/);
  });
});
