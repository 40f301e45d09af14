// Components: instances expand into their inner nodes, run exactly like the flat graph, follow
// their definition, nest, and report errors on the instance.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createRegistry } from "../../nodes/index.ts";
import { Workflow as WorkflowSchema, type ComponentDef, type Tensor, type Workflow } from "../../nodes/schema.ts";
import { buildCatalog, ComponentError, executeWorkflow, expandComponents, foldComponentErrors, OutputCache, validateWorkflow } from "../../server/engine/index.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-components-"));
const services = { outputsDir: dir, uploadsDir: dir, tempDir: dir };
let captured: Tensor | undefined;
const registry = createRegistry();
registry.set("Capture", { type: "Capture", displayName: "Capture", category: "test", description: "keeps its input for the test", inputs: [{ name: "image", type: "IMAGE" }], outputs: [], output: true, execute({ image }) { captured = image as Tensor; return { ui: {} }; } });
const catalog = buildCatalog(registry, services);
const lookup = (t: string) => catalog.find((s) => s.type === t);
const L = (node: string, output: string) => ({ node, output });
const wf = (w: Partial<Workflow>): Workflow => WorkflowSchema.parse({ format: "sluice.workflow", version: "1.0.0", ...w });

// "tint": blends its input with a colour; exposes the colour and the factor.
const tint: ComponentDef = {
  name: "Tint",
  nodes: [
    { id: "c", type: "EmptyImage", inputs: { width: 8, height: 8, color: "#ff0000" } },
    { id: "b", type: "ImageBlend", inputs: { a: L("in", "image"), b: L("c", "image"), factor: 0.5, mode: "normal" } },
  ],
  inputs: [
    { name: "image", type: "IMAGE" as const, targets: [{ node: "b", input: "a" }] },
    { name: "color", type: "STRING" as const, targets: [{ node: "c", input: "color" }] },
  ],
  outputs: [{ name: "image", type: "IMAGE" as const, source: L("b", "image") }],
};

async function run(w: Workflow, node = "out"): Promise<Tensor> {
  const flat = expandComponents(w);
  const report = validateWorkflow(flat, lookup);
  assert.equal(report.ok, true, JSON.stringify(report));
  captured = undefined;
  await executeWorkflow({ promptId: "t", workflow: flat, registry, cache: new OutputCache(1e8), services, outputs: [node] });
  return captured!;
}

describe("components", () => {
  const source = { id: "src", type: "EmptyImage", inputs: { width: 8, height: 8, color: "#0000ff" } };

  it("an instance runs exactly like the same nodes placed flat", async () => {
    const flat = wf({ nodes: [
      source,
      { id: "c", type: "EmptyImage", inputs: { width: 8, height: 8, color: "#00ff00" } },
      { id: "b", type: "ImageBlend", inputs: { a: L("src", "image"), b: L("c", "image"), factor: 0.5, mode: "normal" } },
      { id: "out", type: "SaveImage", inputs: { image: L("b", "image") } },
    ] });
    const withComponent = wf({
      nodes: [source, { id: "t", type: "component/tint", inputs: { image: L("src", "image"), color: "#00ff00" } }, { id: "out", type: "SaveImage", inputs: { image: L("t", "image") } }],
      components: { tint },
    });
    const [a, b] = [flat, withComponent].map((w) => { w.nodes.find((n) => n.id === "out")!.type = "Capture"; return w; });
    assert.deepEqual((await run(a)).data, (await run(b)).data);
  });

  it("instances are linked: editing the definition changes every instance", () => {
    const w = wf({
      nodes: [source, { id: "t1", type: "component/tint", inputs: { image: L("src", "image") } }, { id: "t2", type: "component/tint", inputs: { image: L("t1", "image") } }],
      components: { tint: { ...tint, nodes: tint.nodes.map((n) => (n.id === "b" ? { ...n, inputs: { ...n.inputs, factor: 0.9 } } : n)) } },
    });
    const flat = expandComponents(w);
    assert.equal(flat.nodes.find((n) => n.id === "t1/b")!.inputs.factor, 0.9);
    assert.equal(flat.nodes.find((n) => n.id === "t2/b")!.inputs.factor, 0.9);
    assert.deepEqual(flat.nodes.find((n) => n.id === "t2/b")!.inputs.a, L("t1/b", "image"));
  });

  it("components nest", async () => {
    const doubleTint: ComponentDef = {
      name: "Double tint",
      nodes: [
        { id: "x", type: "component/tint", inputs: { color: "#00ff00" } },
        { id: "y", type: "component/tint", inputs: { image: L("x", "image"), color: "#00ff00" } },
      ],
      inputs: [{ name: "image", type: "IMAGE" as const, targets: [{ node: "x", input: "image" }] }],
      outputs: [{ name: "image", type: "IMAGE" as const, source: L("y", "image") }],
    };
    const nested = wf({ nodes: [source, { id: "d", type: "component/double", inputs: { image: L("src", "image") } }, { id: "out", type: "Capture", inputs: { image: L("d", "image") } }], components: { tint, double: doubleTint } });
    const chained = wf({ nodes: [source, { id: "t1", type: "component/tint", inputs: { image: L("src", "image"), color: "#00ff00" } }, { id: "t2", type: "component/tint", inputs: { image: L("t1", "image"), color: "#00ff00" } }, { id: "out", type: "Capture", inputs: { image: L("t2", "image") } }], components: { tint } });
    assert.ok(expandComponents(nested).nodes.some((n) => n.id === "d/y/b"));
    assert.deepEqual((await run(nested)).data, (await run(chained)).data);
  });

  it("a component that contains itself is refused naming the instance", () => {
    const loop = { ...tint, nodes: [...tint.nodes, { id: "again", type: "component/loop", inputs: {} }] };
    assert.throws(() => expandComponents(wf({ nodes: [{ id: "z", type: "component/loop", inputs: {} }], components: { loop } })), (err: unknown) => err instanceof ComponentError && err.nodeId === "z" && /contains itself/.test(err.message));
  });

  it("errors inside a component are reported on the instance", () => {
    const w = wf({ nodes: [{ id: "t", type: "component/tint", inputs: { color: "#00ff00" } }, { id: "out", type: "SaveImage", inputs: { image: L("t", "image") } }], components: { tint } });
    const report = validateWorkflow(expandComponents(w), lookup);
    const folded = foldComponentErrors(report.nodeErrors, w);
    assert.match(folded["t"][0].message, /inside the component, node b input "a"/);
  });
});
