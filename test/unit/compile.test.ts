// The prompt compiler: one function from a sent workflow to a flat, checked plan, or the reasons why not.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRegistry } from "../../nodes/index.ts";
import { buildCatalog, compilePrompt } from "../../server/engine/index.ts";

const catalog = buildCatalog(createRegistry(), { outputsDir: "/nowhere", uploadsDir: "/nowhere", tempDir: "/nowhere" });
const lookup = (type: string) => catalog.find((s) => s.type === type);
const L = (node: string, output: string) => ({ node, output });
const wf = (extra: Record<string, unknown>) => ({ format: "sluice.workflow", version: "1.0.0", ...extra });

const tinted = wf({
  nodes: [
    { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8 } },
    { id: "2", type: "component/tint", inputs: { image: L("1", "image") } },
    { id: "3", type: "PreviewImage", inputs: { image: L("2", "image") } },
  ],
  components: {
    tint: {
      name: "Tint",
      nodes: [
        { id: "c", type: "EmptyImage", inputs: { width: 8, height: 8, color: "#ff0000" } },
        { id: "b", type: "ImageBlend", inputs: { a: L("in", "image"), b: L("c", "image"), factor: 0.5 } },
      ],
      inputs: [{ name: "image", type: "IMAGE", targets: [{ node: "b", input: "a" }] }],
      outputs: [{ name: "image", type: "IMAGE", source: L("b", "image") }],
    },
  },
  params: [{ name: "size", node: "1", input: "width" }],
});

describe("compilePrompt", () => {
  it("gives the workflow as sent and the flat graph the executor runs, components expanded", () => {
    const compiled = compilePrompt(tinted, { lookup });
    assert.ok(compiled.ok);
    assert.deepEqual(compiled.plan.workflow.nodes.map((n) => n.id), ["1", "2", "3"]);
    assert.deepEqual(compiled.plan.flat.nodes.map((n) => n.id), ["1", "2/c", "2/b", "3"]);
    assert.deepEqual(compiled.plan.flat.nodes.find((n) => n.id === "3")!.inputs.image, L("2/b", "image"));
  });

  it("sets parameters, coercing text to the input's type, in both the stored and the flat workflow", () => {
    const compiled = compilePrompt(tinted, { lookup, params: { size: "16" } });
    assert.ok(compiled.ok);
    assert.equal(compiled.plan.workflow.nodes[0].inputs.width, 16);
    assert.equal(compiled.plan.flat.nodes[0].inputs.width, 16);
  });

  it("keeps the requested outputs in the plan", () => {
    const compiled = compilePrompt(tinted, { lookup, outputs: ["3"] });
    assert.ok(compiled.ok);
    assert.deepEqual(compiled.plan.outputs, ["3"]);
  });

  it("refuses a file that is not a workflow, naming the field", () => {
    const compiled = compilePrompt({ format: "sluice.workflow", version: "1.0.0", nodes: "none" }, { lookup });
    assert.equal(compiled.ok, false);
    assert.ok(!compiled.ok && compiled.status === 400 && /nodes/.test(compiled.message));
  });

  it("refuses an unknown parameter, listing the workflow's", () => {
    const compiled = compilePrompt(tinted, { lookup, params: { colour: "red" } });
    assert.ok(!compiled.ok && /unknown parameter "colour" \(this workflow's parameters: size/.test(compiled.message));
  });

  it("refuses an undefined component on the instance", () => {
    const compiled = compilePrompt(wf({ nodes: [{ id: "9", type: "component/missing", inputs: {} }] }), { lookup });
    assert.ok(!compiled.ok);
    assert.match(compiled.nodeErrors["9"][0].message, /component "missing" is not defined/);
  });

  it("reports every problem at once, one inside a component on its instance", () => {
    const bad = structuredClone(tinted) as any;
    bad.nodes[0].inputs.width = 1;
    bad.components.tint.nodes[1].inputs.factor = 7;
    const compiled = compilePrompt(bad, { lookup });
    assert.ok(!compiled.ok);
    assert.equal(compiled.nodeErrors["1"][0].input, "width");
    assert.match(compiled.nodeErrors["2"][0].message, /inside the component, node b input "factor": value 7 is above the maximum/);
    assert.match(compiled.message, /^the workflow has 2 problems: node 1: width: /);
  });
});
