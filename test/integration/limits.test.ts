// Workflows built to exhaust the server are refused with a 400 that names the node, and the
// server keeps answering.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startServer, type Running } from "./harness.ts";

describe("limits on what a prompt may expand to", () => {
  let s: Running;
  before(async () => { s = await startServer(); });
  after(async () => { await s.stop(); });

  it("refuses a few-kilobyte workflow whose components fan out to a million nodes, naming the instance", async () => {
    const components: Record<string, unknown> = {};
    for (let level = 0; level < 6; level++) {
      const nodes = level === 5 ? [{ id: "n", type: "EmptyImage", inputs: {} }] : Array.from({ length: 10 }, (_, i) => ({ id: String(i), type: `component/l${level + 1}`, inputs: {} }));
      components[`l${level}`] = { name: `l${level}`, nodes, inputs: [], outputs: [] };
    }
    const workflow = { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "fan", type: "component/l0", inputs: {} }, { id: "p", type: "PreviewImage", inputs: {} }], components };
    const res = await s.post("/api/prompt", { workflow });
    assert.equal(res.status, 400);
    assert.match(res.body.nodeErrors.fan[0].message, /more than 10,000 nodes/);
    assert.equal((await s.get("/api/system")).status, 200);
  });

  it("refuses a 100 000-node chain with the limit, naming a node", async () => {
    const nodes = Array.from({ length: 100_000 }, (_, i) => ({ id: `n${i}`, type: "EmptyImage", inputs: {} }));
    const res = await s.post("/api/prompt", { workflow: { format: "sluice.workflow", version: "1.0.0", nodes } });
    assert.equal(res.status, 400);
    assert.match(res.body.error, /node n10000: the workflow has 100,000 nodes; at most 10,000 can run/);
  });
});
