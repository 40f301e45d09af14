// Resuming from gate checkpoints: an answered gate no longer takes its input from the plan.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cutAtGates, planExecution } from "../../server/engine/index.ts";
import type { Workflow } from "../../nodes/schema.ts";

const wf: Workflow = {
  format: "sluice.workflow", version: "1.0.0", groups: [], components: {}, params: [],
  nodes: [
    { id: "1", type: "EmptyImage", inputs: { width: 8 } },
    { id: "2", type: "Gate", inputs: { value: { node: "1", output: "image" }, timeout: 5 } },
    { id: "3", type: "PreviewImage", inputs: { image: { node: "2", output: "value" } } },
  ],
};

describe("cutAtGates", () => {
  it("removes the value link of the named gates and keeps their other inputs", () => {
    const cut = cutAtGates(wf, ["2"]);
    assert.deepEqual(cut.nodes[1].inputs, { timeout: 5 });
    assert.deepEqual(cut.nodes[2].inputs, wf.nodes[2].inputs);
  });

  it("leaves the workflow it was given unchanged", () => {
    cutAtGates(wf, ["2"]);
    assert.deepEqual(wf.nodes[1].inputs, { value: { node: "1", output: "image" }, timeout: 5 });
  });

  it("plans nothing upstream of a resumed gate", () => {
    assert.deepEqual(planExecution(cutAtGates(wf, ["2"]).nodes, ["3"], () => false), ["2", "3"]);
    assert.deepEqual(planExecution(wf.nodes, ["3"], () => false), ["1", "2", "3"]);
  });

  it("returns the same workflow when no gate is named", () => {
    assert.equal(cutAtGates(wf, []), wf);
  });
});
