// Prompts waiting at gates: a limit on how many wait at once, and a gate's timeout answering it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { link, startServer, workflow, type Running } from "./harness.ts";

const gated = (color: string, gate: Record<string, unknown> = {}) => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "5", type: "Gate", inputs: { value: link("1", "image"), ...gate } },
  { id: "3", type: "PreviewImage", inputs: { image: link("5", "value") } },
]);

describe("waiting prompts", () => {
  let s: Running;
  before(async () => { s = await startServer({ maxWaiting: 1 }); });
  after(async () => { await s.stop(); });

  it("fails a prompt that reaches a gate while the limit of waiting prompts is reached, saying so", async () => {
    const first = (await s.post("/api/prompt", { workflow: gated("#111111") })).body.promptId;
    await s.waitFor("gate:waiting", (p) => p.promptId === first);
    const second = (await s.post("/api/prompt", { workflow: gated("#222222") })).body.promptId;
    const entry = await s.waitSettled(second);
    assert.equal(entry.status, "failed");
    assert.equal(entry.error.node, "5");
    assert.match(entry.error.message, /^1 prompts already wait at gates \(the limit, --max-waiting\)/);
    assert.equal((await s.get(`/api/history/${first}`)).body.status, "waiting");
    assert.equal((await fetch(`${s.url}/api/queue/${first}`, { method: "DELETE" })).status, 200);
    assert.equal((await s.waitSettled(first)).status, "cancelled");
  });

  it("answers a gate whose timeout passed as its on_timeout input says", async () => {
    const id = (await s.post("/api/prompt", { workflow: gated("#333333", { timeout: 1, on_timeout: "continue" }) })).body.promptId;
    await s.waitFor("gate:waiting", (p) => p.promptId === id);
    const entry = await s.waitSettled(id, 15000);
    assert.equal(entry.status, "done");
    assert.ok(entry.outputs["3"].images.length === 1);
  });
});
