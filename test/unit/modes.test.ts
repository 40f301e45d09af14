// Node modes (mute, bypass) and Reroute nodes, resolved as a rewrite of the workflow.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeSpec, Workflow, WorkflowNode } from "../../nodes/schema.ts";
import { applyNodeModes } from "../../server/engine/modes.ts";

const spec = (type: string, inputs: NodeSpec["inputs"], outputs: NodeSpec["outputs"], output = false): NodeSpec =>
  ({ type, displayName: type, category: "test", description: "", inputs, outputs, ...(output ? { output: true } : {}) });

const SPECS = new Map<string, NodeSpec>([
  ["Make", spec("Make", [{ name: "width", type: "INT", default: 8 }], [{ name: "image", type: "IMAGE" }])],
  ["Blend", spec("Blend", [{ name: "a", type: "IMAGE" }, { name: "b", type: "IMAGE" }, { name: "mask", type: "MASK", optional: true }], [{ name: "image", type: "IMAGE" }])],
  ["Mask", spec("Mask", [], [{ name: "mask", type: "MASK" }])],
  ["Scale", spec("Scale", [{ name: "factor", type: "FLOAT", default: 2 }, { name: "image", type: "IMAGE" }], [{ name: "image", type: "IMAGE" }])],
  ["ToMask", spec("ToMask", [{ name: "image", type: "IMAGE" }], [{ name: "mask", type: "MASK" }])],
  ["Save", spec("Save", [{ name: "image", type: "IMAGE" }], [], true)],
  ["Reroute", spec("Reroute", [{ name: "input", type: "*" }], [{ name: "output", type: "*" }])],
]);
const lookup = (t: string) => SPECS.get(t);
const link = (node: string, output = "image") => ({ node, output });
const wf = (nodes: WorkflowNode[]): Workflow => ({ format: "sluice.workflow", version: "1.1.0", nodes, groups: [], components: {}, params: [] });
const ids = (w: Workflow) => w.nodes.map((n) => n.id);
const byId = (w: Workflow, id: string) => w.nodes.find((n) => n.id === id)!;

describe("node modes", () => {
  it("returns a workflow without modes or reroutes unchanged", () => {
    const w = wf([{ id: "1", type: "Make", inputs: {} }, { id: "2", type: "Save", inputs: { image: link("1") } }]);
    const r = applyNodeModes(w, lookup);
    assert.equal(r.workflow, w);
    assert.deepEqual(r.skipped, []);
  });

  it("bypass: each consumer of the node reads the first input of the same type instead", () => {
    const r = applyNodeModes(wf([
      { id: "1", type: "Make", inputs: {} },
      { id: "2", type: "Scale", inputs: { image: link("1"), factor: 3 }, mode: 4 },
      { id: "3", type: "Save", inputs: { image: link("2") } },
    ]), lookup);
    assert.deepEqual(ids(r.workflow), ["1", "3"]);
    assert.deepEqual(byId(r.workflow, "3").inputs.image, link("1"));
  });

  it("bypass picks the first input of the output's type, not the first input", () => {
    const r = applyNodeModes(wf([
      { id: "1", type: "Make", inputs: {} },
      { id: "2", type: "Make", inputs: {} },
      { id: "3", type: "Blend", inputs: { a: link("1"), b: link("2") }, mode: 4 },
      { id: "4", type: "Save", inputs: { image: link("3") } },
    ]), lookup);
    assert.deepEqual(byId(r.workflow, "4").inputs.image, link("1"));
  });

  it("a chain of bypassed nodes and reroutes resolves to the node that makes the value", () => {
    const r = applyNodeModes(wf([
      { id: "1", type: "Make", inputs: {} },
      { id: "2", type: "Reroute", inputs: { input: link("1") } },
      { id: "3", type: "Scale", inputs: { image: { node: "2", output: "output" } }, mode: 4 },
      { id: "4", type: "Reroute", inputs: { input: link("3") } },
      { id: "5", type: "Save", inputs: { image: { node: "4", output: "output" } } },
    ]), lookup);
    assert.deepEqual(ids(r.workflow), ["1", "5"]);
    assert.deepEqual(byId(r.workflow, "5").inputs.image, link("1"));
  });

  it("mute: the node and everything that needs it are removed, and output nodes that cannot run are reported", () => {
    const r = applyNodeModes(wf([
      { id: "1", type: "Make", inputs: {}, mode: 2 },
      { id: "2", type: "Scale", inputs: { image: link("1") } },
      { id: "3", type: "Save", inputs: { image: link("2") } },
      { id: "4", type: "Make", inputs: {} },
      { id: "5", type: "Save", inputs: { image: link("4") } },
    ]), lookup);
    assert.deepEqual(ids(r.workflow), ["4", "5"]);
    assert.deepEqual(r.skipped, [{ node: "3", type: "Save", reason: "it needs node 1 (Make), which is muted" }]);
  });

  it("an optional input fed by a muted node is left unconnected and the node still runs", () => {
    const r = applyNodeModes(wf([
      { id: "1", type: "Make", inputs: {} },
      { id: "2", type: "Mask", inputs: {}, mode: 2 },
      { id: "3", type: "Blend", inputs: { a: link("1"), b: link("1"), mask: link("2", "mask") } },
      { id: "4", type: "Save", inputs: { image: link("3") } },
    ]), lookup);
    assert.deepEqual(ids(r.workflow), ["1", "3", "4"]);
    assert.equal(byId(r.workflow, "3").inputs.mask, undefined);
  });

  it("a bypassed node with no input of its output's type takes its consumers with it, saying why", () => {
    const r = applyNodeModes(wf([
      { id: "1", type: "Make", inputs: {} },
      { id: "2", type: "ToMask", inputs: { image: link("1") }, mode: 4 },
      { id: "3", type: "Blend", inputs: { a: link("1"), b: link("1"), mask: link("2", "mask") } },
      { id: "4", type: "Scale", inputs: { image: link("1") } },
      { id: "5", type: "Save", inputs: { image: link("4") } },
    ]), lookup);
    assert.deepEqual(ids(r.workflow), ["1", "3", "4", "5"], "the optional mask is dropped; the rest runs");
    const r2 = applyNodeModes(wf([
      { id: "1", type: "Mask", inputs: {} },
      { id: "2", type: "Blend", inputs: { mask: link("1", "mask") }, mode: 4 },
      { id: "3", type: "Save", inputs: { image: link("2") } },
    ]), lookup);
    assert.match(r2.skipped[0]!.reason, /node 2 \(Blend\), which is bypassed and has no connected input of the type of its output "image"/);
  });

  it("parameters of removed nodes are dropped; a node's mode does not reach the executor", () => {
    const w = wf([
      { id: "1", type: "Make", inputs: {}, mode: 0 },
      { id: "2", type: "Make", inputs: {}, mode: 2 },
      { id: "3", type: "Save", inputs: { image: link("1") } },
    ]);
    w.params = [{ name: "w1", node: "1", input: "width" }, { name: "w2", node: "2", input: "width" }];
    const r = applyNodeModes(w, lookup);
    assert.deepEqual(r.workflow.params.map((p) => p.name), ["w1"]);
    assert.equal("mode" in byId(r.workflow, "1"), false);
  });
});
