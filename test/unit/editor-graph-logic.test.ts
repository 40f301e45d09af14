// The editor's pure graph logic (no browser): workflow ⇄ canvas round trip, layout, connection
// rules, fuzzy search, seeds.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as schema from "../../nodes/schema.ts";
import { checkConnection, compatibleSocket, reaches } from "../../client/src/graph/connect.ts";
import { flowToWorkflow, workflowToFlow, type Catalog } from "../../client/src/graph/convert.ts";
import { searchNodes } from "../../client/src/graph/fuzzy.ts";
import type { FlowEdge } from "../../client/src/graph/types.ts";
import { seedOrZero, seedValue, useGraph } from "../../client/src/store/graph.ts";

const specs: schema.NodeSpec[] = [
  { type: "EmptyImage", displayName: "Empty Image", category: "image", description: "A blank image.", inputs: [{ name: "width", type: "INT", default: 512, min: 8, max: 8192 }, { name: "color", type: "STRING", default: "#000000", color: true }], outputs: [{ name: "image", type: "IMAGE" }] },
  { type: "LoadImage", displayName: "Load Image", category: "image", description: "An uploaded image.", inputs: [{ name: "image", type: "STRING", default: "", upload: true }], outputs: [{ name: "image", type: "IMAGE" }, { name: "mask", type: "MASK" }] },
  { type: "ImageScale", displayName: "Scale Image", category: "image", description: "Resizes images.", inputs: [{ name: "image", type: "IMAGE" }, { name: "width", type: "INT", default: 512 }], outputs: [{ name: "image", type: "IMAGE" }] },
  { type: "SaveImage", displayName: "Save Image", category: "image", description: "Writes PNG files.", output: true, inputs: [{ name: "image", type: "IMAGE" }, { name: "prefix", type: "STRING", default: "sluice" }], outputs: [] },
  { type: "Gate", displayName: "Gate", category: "control", description: "Pauses the run for a look.", inputs: [{ name: "value", type: "*" }], outputs: [{ name: "value", type: "*" }] },
];
const catalog: Catalog = new Map(specs.map((s) => [s.type, s]));

const wf: schema.Workflow = {
  format: "sluice.workflow", version: "1.0.0", name: "t",
  nodes: [
    { id: "1", type: "EmptyImage", inputs: { width: 64, color: "#ff0000" }, ui: { pos: [0, 0], seedControl: {} } },
    { id: "2", type: "ImageScale", inputs: { image: { node: "1", output: "image" }, width: { node: "9", output: "x" } }, ui: { pos: [300, 0], title: "Scale", collapsed: true } },
    { id: "3", type: "SaveImage", inputs: { image: { node: "2", output: "image" }, prefix: "p" }, ui: { pos: [600, 0], size: [320, 0] } },
    { id: "4", type: "Note", inputs: { text: "hi" }, ui: { pos: [0, 300], size: [200, 100] } },
  ],
  groups: [{ title: "G", bounds: [-10, -40, 500, 300] }],
  components: {}, params: [],
};

describe("editor graph logic", () => {
  test("workflow → canvas → workflow keeps nodes, links, values and ui", () => {
    const { nodes, edges } = workflowToFlow(wf, catalog);
    assert.equal(nodes.filter((n) => n.type === "frame").length, 1);
    assert.equal(edges.length, 3);
    const back = flowToWorkflow(nodes, edges, { name: "t" });
    assert.equal(back.name, "t");
    assert.deepEqual(back.groups, wf.groups);
    const byId = new Map(back.nodes.map((n) => [n.id, n]));
    assert.deepEqual(byId.get("2")!.inputs.image, { node: "1", output: "image" });
    assert.deepEqual(byId.get("2")!.inputs.width, { node: "9", output: "x" });
    assert.equal(byId.get("2")!.ui!.title, "Scale");
    assert.equal(byId.get("2")!.ui!.collapsed, true);
    assert.equal(byId.get("3")!.inputs.prefix, "p");
    assert.equal(byId.get("3")!.ui!.size![0], 320);
    assert.deepEqual(byId.get("4")!.ui!.size, [200, 100]);
    assert.equal(byId.get("1")!.inputs.color, "#ff0000");
    assert.ok(schema.Workflow.safeParse(back).success, "the result is a valid workflow");
  });

  test("missing positions are laid out left to right; unknown types become placeholders", () => {
    const { nodes } = workflowToFlow({ ...wf, groups: [], nodes: [...wf.nodes.map((n) => ({ ...n, ui: undefined })), { id: "5", type: "Gone", inputs: {} }] }, catalog);
    const x = (id: string) => nodes.find((n) => n.id === id)!.position.x;
    assert.ok(x("1") < x("2") && x("2") < x("3"));
    const gone = nodes.find((n) => n.id === "5")!;
    assert.equal(gone.type === "frame" ? null : gone.data.placeholder?.originalType, "Gone");
  });

  test("connections: type mismatch, cycles, replacement, wildcard", () => {
    const { nodes, edges } = workflowToFlow(wf, catalog);
    const mismatch = checkConnection({ source: "1", sourceHandle: "image", target: "3", targetHandle: "prefix" }, nodes, edges, catalog);
    assert.equal(mismatch.ok, false);
    assert.match(mismatch.ok ? "" : mismatch.reason, /mismatch/i);
    const cycle = checkConnection({ source: "2", sourceHandle: "image", target: "2", targetHandle: "image" }, nodes, edges, catalog);
    assert.equal(cycle.ok, false);
    const replace = checkConnection({ source: "1", sourceHandle: "image", target: "3", targetHandle: "image" }, nodes, edges, catalog);
    assert.ok(replace.ok && replace.replaces?.source === "2");
    const loopEdges: FlowEdge[] = [...edges, { id: "x", source: "3", target: "1", sourceHandle: "a", targetHandle: "b" }];
    assert.ok(reaches(loopEdges, "1", "3") && reaches(loopEdges, "3", "2"));
    assert.equal(compatibleSocket(catalog.get("Gate")!, { kind: "source", type: "LATENT" }), "value");
    assert.equal(compatibleSocket(catalog.get("SaveImage")!, { kind: "source", type: "MASK" }), undefined);
    assert.equal(compatibleSocket(catalog.get("LoadImage")!, { kind: "target", type: "MASK" }), "mask");
    // An input accepting several types (a sampler's model: STAGE_C or STAGE_B).
    const sampler: schema.NodeSpec = { type: "Sampler", displayName: "Sampler", category: "t", description: "", inputs: [{ name: "model", type: "STAGE_C", accepts: ["STAGE_B"] }], outputs: [] };
    const loader: schema.NodeSpec = { type: "Pack", displayName: "Pack", category: "t", description: "", inputs: [], outputs: [{ name: "stage_b", type: "STAGE_B" }, { name: "stage_a", type: "STAGE_A" }] };
    const cat2: Catalog = new Map([[sampler.type, sampler], [loader.type, loader]]);
    const two = workflowToFlow({ format: "sluice.workflow", version: "1.0.0", groups: [], components: {}, params: [], nodes: [
      { id: "p", type: "Pack", inputs: {}, ui: { pos: [0, 0] } }, { id: "s", type: "Sampler", inputs: {}, ui: { pos: [300, 0] } },
    ] }, cat2);
    assert.ok(checkConnection({ source: "p", sourceHandle: "stage_b", target: "s", targetHandle: "model" }, two.nodes, two.edges, cat2).ok);
    assert.equal(checkConnection({ source: "p", sourceHandle: "stage_a", target: "s", targetHandle: "model" }, two.nodes, two.edges, cat2).ok, false);
    assert.equal(compatibleSocket(loader, { kind: "target", type: "STAGE_C", accepts: ["STAGE_B"] }), "stage_b");
    assert.equal(compatibleSocket(sampler, { kind: "source", type: "STAGE_B" }), "model");
  });

  test("fuzzy search ranks names over descriptions and tolerates gaps", () => {
    assert.equal(searchNodes(specs, "scale")[0]!.type, "ImageScale");
    assert.equal(searchNodes(specs, "svimg")[0]!.type, "SaveImage");
    assert.equal(searchNodes(specs, "pauses")[0]!.type, "Gate");
    assert.equal(searchNodes(specs, "zzzz").length, 0);
    assert.equal(searchNodes(specs, "").length, specs.length);
  });

  test("seed after-run controls: increment wraps at 2^64-1, randomize stays in range, fixed stays", () => {
    const seeded: schema.NodeSpec = { type: "S", displayName: "S", category: "t", description: "", inputs: [{ name: "seed", type: "INT", default: 0, seed: true }], outputs: [] };
    const g = useGraph.getState();
    g.setCatalog([seeded]);
    g.load({ format: "sluice.workflow", version: "1.0.0", groups: [], components: {}, params: [], nodes: [
      { id: "a", type: "S", inputs: { seed: "18446744073709551614" }, ui: { pos: [0, 0], seedControl: { seed: "increment" } } },
      { id: "b", type: "S", inputs: { seed: 5 }, ui: { pos: [0, 0], seedControl: { seed: "randomize" } } },
      { id: "c", type: "S", inputs: { seed: 9 }, ui: { pos: [0, 0] } },
    ] });
    const seedOf = (id: string) => useGraph.getState().workflow().nodes.find((n) => n.id === id)!.inputs.seed;
    useGraph.getState().applySeedControls();
    assert.equal(seedOf("a"), "18446744073709551615");
    useGraph.getState().applySeedControls();
    assert.equal(seedOf("a"), 0);
    const b = seedOrZero(seedOf("b"));
    assert.ok(b >= 0n && b <= schema.MAX_SEED);
    assert.equal(seedOf("c"), 9);
    assert.equal(seedValue(2n ** 53n), "9007199254740992");
    assert.equal(seedValue(2n ** 53n - 1n), 9007199254740991);
  });

  test("component ports: a renamed output keeps its links, the new name names the node type, one undo restores both", () => {
    const g = useGraph.getState();
    g.setCatalog(specs);
    const inner = { id: "i", type: "EmptyImage", inputs: { width: 64, color: "#ff0000" } };
    g.load({ format: "sluice.workflow", version: "1.0.0", groups: [], params: [], nodes: [
      { id: "c", type: "component/red", inputs: {}, ui: { pos: [0, 0] } },
      { id: "s", type: "SaveImage", inputs: { image: { node: "c", output: "image" } }, ui: { pos: [300, 0] } },
    ], components: { red: { name: "Red", nodes: [inner], inputs: [], outputs: [{ name: "image", type: "IMAGE", source: { node: "i", output: "image" } }] } } });
    useGraph.getState().setComponentPorts("red", [], [{ name: "picture", type: "IMAGE", source: { node: "i", output: "image" } }], { inputs: {}, outputs: { image: "picture" } }, "Crimson");
    const after = useGraph.getState().workflow();
    assert.deepEqual(after.nodes.find((n) => n.id === "s")!.inputs.image, { node: "c", output: "picture" });
    assert.equal(after.components.red!.name, "Crimson");
    assert.equal(useGraph.getState().catalog.get("component/red")!.displayName, "Crimson");
    useGraph.getState().undo();
    const before = useGraph.getState().workflow();
    assert.deepEqual(before.nodes.find((n) => n.id === "s")!.inputs.image, { node: "c", output: "image" });
    assert.equal(before.components.red!.name, "Red");
  });

  test("undo and redo walk graph snapshots; paste remaps ids and keeps inner links", () => {
    const g = useGraph.getState();
    g.setCatalog(specs);
    g.load(wf);
    const before = useGraph.getState().workflow().nodes.length;
    useGraph.getState().deleteNodes(["2"]);
    assert.equal(useGraph.getState().workflow().nodes.length, before - 1);
    useGraph.getState().undo();
    assert.equal(useGraph.getState().workflow().nodes.length, before);
    useGraph.getState().redo();
    assert.equal(useGraph.getState().workflow().nodes.length, before - 1);
    useGraph.getState().undo();
    useGraph.getState().paste({ ...wf, nodes: wf.nodes.slice(0, 3), groups: [] });
    const after = useGraph.getState().workflow();
    assert.equal(after.nodes.length, before + 3);
    const pasted = after.nodes.slice(-3);
    assert.deepEqual(pasted[1]!.inputs.image, { node: pasted[0]!.id, output: "image" });
    assert.equal(pasted[1]!.inputs.width, 512, "links to nodes outside the pasted set are dropped (the widget shows its default)");
  });
});
