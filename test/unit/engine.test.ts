// The engine with toy nodes: validation reports, caching, partial runs, cancellation, failures.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeDef, Workflow } from "../../nodes/schema.ts";
import { Workflow as WorkflowSchema } from "../../nodes/schema.ts";
import {
  buildCatalog, executeWorkflow, ExecutionCancelled, ExecutionFailed, OutputCache, validateWorkflow,
} from "../../server/engine/index.ts";

const services = { outputsDir: "/nonexistent", uploadsDir: "/nonexistent", tempDir: "/nonexistent" };

function toyRegistry(counter: Map<string, number>) {
  const count = (id: string) => counter.set(id, (counter.get(id) ?? 0) + 1);
  const defs: NodeDef[] = [
    {
      type: "Number", displayName: "Number", category: "toy", description: "a constant",
      inputs: [{ name: "value", type: "FLOAT", default: 1, min: -100, max: 100 }],
      outputs: [{ name: "value", type: "FLOAT" }],
      execute({ value }, ctx) { count(ctx.nodeId); return { value }; },
    },
    {
      type: "Add", displayName: "Add", category: "toy", description: "a + b",
      inputs: [{ name: "a", type: "FLOAT" }, { name: "b", type: "FLOAT", default: 0 }],
      outputs: [{ name: "sum", type: "FLOAT" }],
      execute({ a, b }, ctx) { count(ctx.nodeId); return { sum: (a as number) + (b as number) }; },
    },
    {
      type: "Mode", displayName: "Mode", category: "toy", description: "a combo",
      inputs: [{ name: "mode", type: "COMBO", default: "x", options: ["x", "y"] }, { name: "flag", type: "BOOLEAN", default: false }, { name: "text", type: "STRING", default: "" }, { name: "n", type: "INT", default: 0 }, { name: "seed", type: "INT", default: 0, seed: true }],
      outputs: [{ name: "value", type: "FLOAT" }],
      execute(_i, ctx) { count(ctx.nodeId); return { value: 0 }; },
    },
    {
      type: "Show", displayName: "Show", category: "toy", description: "an output", output: true,
      inputs: [{ name: "value", type: "FLOAT" }],
      outputs: [],
      execute({ value }, ctx) { count(ctx.nodeId); return { ui: { value } }; },
    },
    {
      type: "Image", displayName: "Image", category: "toy", description: "an image socket",
      inputs: [], outputs: [{ name: "image", type: "IMAGE" }],
      execute() { return { image: null }; },
    },
    {
      type: "Slow", displayName: "Slow", category: "toy", description: "waits, checking the signal",
      inputs: [{ name: "a", type: "FLOAT" }],
      outputs: [{ name: "a", type: "FLOAT" }],
      async execute({ a }, ctx) {
        for (let i = 0; i < 100; i++) { ctx.signal.throwIfAborted(); ctx.progress(i + 1, 100); await new Promise((r) => setTimeout(r, 5)); }
        return { a };
      },
    },
    {
      type: "Boom", displayName: "Boom", category: "toy", description: "throws",
      inputs: [{ name: "a", type: "FLOAT" }], outputs: [{ name: "a", type: "FLOAT" }],
      execute() { throw new Error("boom"); },
    },
  ];
  return new Map(defs.map((d) => [d.type, d]));
}

const wf = (nodes: unknown[]): Workflow => WorkflowSchema.parse({ format: "sluice.workflow", version: "1.0.0", nodes });
const L = (node: string, output: string) => ({ node, output });

function setup() {
  const counter = new Map<string, number>();
  const registry = toyRegistry(counter);
  const catalog = buildCatalog(registry, services);
  const lookup = (t: string) => catalog.find((s) => s.type === t);
  return { counter, registry, lookup, cache: new OutputCache(1e6) };
}

describe("validation", () => {
  const { lookup } = setup();
  const errorsOf = (w: Workflow) => validateWorkflow(w, lookup);

  it("accepts a valid graph", () => {
    const r = errorsOf(wf([{ id: "1", type: "Number" }, { id: "2", type: "Show", inputs: { value: L("1", "value") } }]));
    assert.equal(r.ok, true, JSON.stringify(r));
  });
  it("names an unknown node type", () => {
    const r = errorsOf(wf([{ id: "7", type: "Nope" }, { id: "2", type: "Show", inputs: { value: 1 } }]));
    assert.match(r.nodeErrors["7"][0].message, /unknown node type "Nope"/);
  });
  it("names a missing required input", () => {
    const r = errorsOf(wf([{ id: "2", type: "Show" }]));
    assert.deepEqual(r.nodeErrors["2"][0].input, "value");
    assert.match(r.nodeErrors["2"][0].message, /required input "value"/);
  });
  it("names a link to a missing node", () => {
    const r = errorsOf(wf([{ id: "2", type: "Show", inputs: { value: L("9", "value") } }]));
    assert.match(r.nodeErrors["2"][0].message, /node "9", which does not exist/);
  });
  it("names a link to a missing output", () => {
    const r = errorsOf(wf([{ id: "1", type: "Number" }, { id: "2", type: "Show", inputs: { value: L("1", "nope") } }]));
    assert.match(r.nodeErrors["2"][0].message, /no such output/);
  });
  it("names a type mismatch", () => {
    const r = errorsOf(wf([{ id: "1", type: "Image" }, { id: "2", type: "Show", inputs: { value: L("1", "image") } }]));
    assert.match(r.nodeErrors["2"][0].message, /IMAGE cannot feed an input of type FLOAT/);
    assert.equal(r.nodeErrors["2"][0].input, "value");
  });
  it("names a value out of range", () => {
    const r = errorsOf(wf([{ id: "1", type: "Number", inputs: { value: 1000 } }, { id: "2", type: "Show", inputs: { value: L("1", "value") } }]));
    assert.match(r.nodeErrors["1"][0].message, /above the maximum 100/);
  });
  it("names a value not among the options", () => {
    const r = errorsOf(wf([{ id: "1", type: "Mode", inputs: { mode: "z" } }, { id: "2", type: "Show", inputs: { value: L("1", "value") } }]));
    assert.match(r.nodeErrors["1"][0].message, /"z" is not among the options/);
  });
  it("names a literal of the wrong type", () => {
    const r = errorsOf(wf([{ id: "1", type: "Mode", inputs: { flag: "yes", text: 3, n: 1.5 } }, { id: "2", type: "Show", inputs: { value: L("1", "value") } }]));
    const inputs = r.nodeErrors["1"].map((e) => e.input).sort();
    assert.deepEqual(inputs, ["flag", "n", "text"]);
  });
  it("accepts a seed of 2^64−1 as a decimal string", () => {
    const r = errorsOf(wf([{ id: "1", type: "Mode", inputs: { seed: "18446744073709551615" } }, { id: "2", type: "Show", inputs: { value: L("1", "value") } }]));
    assert.equal(r.ok, true, JSON.stringify(r));
  });
  it("names a seed beyond 2^64−1 and a seed number JavaScript cannot hold exactly", () => {
    for (const [seed, why] of [["18446744073709551616", /above 2\^64−1/], [2 ** 60, /not exact.*decimal string/], [-3, /non-negative/]] as const) {
      const r = errorsOf(wf([{ id: "1", type: "Mode", inputs: { seed } }, { id: "2", type: "Show", inputs: { value: L("1", "value") } }]));
      assert.equal(r.nodeErrors["1"][0].input, "seed");
      assert.match(r.nodeErrors["1"][0].message, /expects a seed/);
      assert.match(r.nodeErrors["1"][0].message, why);
    }
  });
  it("names every node of a cycle", () => {
    const r = errorsOf(wf([
      { id: "a", type: "Add", inputs: { a: L("b", "sum") } },
      { id: "b", type: "Add", inputs: { a: L("a", "sum") } },
      { id: "s", type: "Show", inputs: { value: L("a", "sum") } },
    ]));
    assert.match(r.nodeErrors["a"].at(-1)!.message, /cycle: .*a.*b/);
    assert.ok(r.nodeErrors["b"]);
  });
  it("reports a workflow without an output node", () => {
    const r = errorsOf(wf([{ id: "1", type: "Number" }]));
    assert.match(r.errors[0], /no output node/);
  });
  it("reports every problem at once", () => {
    const r = errorsOf(wf([{ id: "1", type: "Nope" }, { id: "2", type: "Number", inputs: { value: 1e9 } }, { id: "3", type: "Show" }]));
    assert.deepEqual(Object.keys(r.nodeErrors).sort(), ["1", "2", "3"]);
  });
});

describe("execution", () => {
  it("reads a node's outside state when the node runs, not when the prompt starts", async () => {
    const { registry } = setup();
    let outside = "before";
    registry.set("Changer", {
      type: "Changer", displayName: "Changer", category: "toy", description: "changes outside state while it runs",
      inputs: [], outputs: [{ name: "value", type: "FLOAT" }],
      execute() { outside = "after"; return { value: 1 }; },
    });
    registry.set("Reader", {
      type: "Reader", displayName: "Reader", category: "toy", description: "reads outside state",
      inputs: [{ name: "a", type: "FLOAT" }], outputs: [{ name: "value", type: "STRING" }],
      fingerprint: () => outside,
      execute() { return { value: outside }; },
    });
    const w = wf([{ id: "1", type: "Changer" }, { id: "2", type: "Reader", inputs: { a: L("1", "value") } }, { id: "3", type: "Show", inputs: { value: L("2", "value") } }]);
    const cache = new OutputCache(1e6);
    const first = await executeWorkflow({ promptId: "p", workflow: w, registry, cache, services });
    // Run again, the state still as the first run's Reader saw it: the same key, so a cache hit.
    const again = await executeWorkflow({ promptId: "p", workflow: w, registry, cache, services });
    assert.equal(again.keys["2"], first.keys["2"]);
    assert.ok(again.cached.includes("2"));
  });

  const chain = (value: number, b = 0) => wf([
    { id: "1", type: "Number", inputs: { value } },
    { id: "2", type: "Add", inputs: { a: L("1", "value"), b } },
    { id: "3", type: "Show", inputs: { value: L("2", "sum") } },
  ]);

  it("runs nodes in order and returns output results", async () => {
    const { registry, cache } = setup();
    const r = await executeWorkflow({ promptId: "p", workflow: chain(2, 3), registry, cache, services });
    assert.deepEqual(r.outputs["3"], { value: 5 });
    assert.deepEqual(r.executed, ["1", "2", "3"]);
  });

  it("re-running an unchanged workflow executes nothing", async () => {
    const { registry, cache, counter } = setup();
    await executeWorkflow({ promptId: "p1", workflow: chain(2), registry, cache, services });
    const r = await executeWorkflow({ promptId: "p2", workflow: chain(2), registry, cache, services });
    assert.deepEqual(r.executed, []);
    assert.deepEqual(r.cached, ["3"]);
    assert.deepEqual(r.outputs["3"], { value: 2 });
    assert.equal(counter.get("1"), 1);
  });

  it("changing one widget re-runs that node and its dependents only", async () => {
    const { registry, cache } = setup();
    await executeWorkflow({ promptId: "p1", workflow: chain(2, 0), registry, cache, services });
    const r = await executeWorkflow({ promptId: "p2", workflow: chain(2, 1), registry, cache, services });
    assert.deepEqual(r.cached, ["1"]);
    assert.deepEqual(r.executed, ["2", "3"]);
  });

  it("runs only the part a chosen output needs", async () => {
    const { registry, cache } = setup();
    const w = wf([
      { id: "1", type: "Number", inputs: { value: 1 } },
      { id: "2", type: "Number", inputs: { value: 2 } },
      { id: "a", type: "Show", inputs: { value: L("1", "value") } },
      { id: "b", type: "Show", inputs: { value: L("2", "value") } },
    ]);
    const r = await executeWorkflow({ promptId: "p", workflow: w, registry, cache, services, outputs: ["b"] });
    assert.deepEqual(r.executed, ["2", "b"]);
  });

  it("a throwing node fails with node, type, message and inputs and keeps the cache", async () => {
    const { registry, cache } = setup();
    const w = wf([
      { id: "1", type: "Number", inputs: { value: 4 } },
      { id: "2", type: "Boom", inputs: { a: L("1", "value") } },
      { id: "3", type: "Show", inputs: { value: L("2", "a") } },
    ]);
    await assert.rejects(executeWorkflow({ promptId: "p", workflow: w, registry, cache, services }), (err: unknown) => {
      assert.ok(err instanceof ExecutionFailed);
      assert.deepEqual(err.detail, { node: "2", type: "Boom", message: "boom", inputs: { a: 4 } });
      return true;
    });
    const again = await executeWorkflow({ promptId: "q", workflow: chain(4), registry, cache, services });
    assert.deepEqual(again.cached, ["1"]);
  });

  it("cancellation stops inside a long node", async () => {
    const { registry, cache } = setup();
    const w = wf([
      { id: "1", type: "Number" },
      { id: "2", type: "Slow", inputs: { a: L("1", "value") } },
      { id: "3", type: "Show", inputs: { value: L("2", "a") } },
    ]);
    const controller = new AbortController();
    let steps = 0;
    const run = executeWorkflow({ promptId: "p", workflow: w, registry, cache, services, signal: controller.signal, hooks: { onNodeProgress: (_id, step) => { steps = step; if (step === 5) controller.abort(); } } });
    await assert.rejects(run, (err: unknown) => err instanceof ExecutionCancelled && err.node === "2");
    assert.ok(steps < 10, `stopped after ${steps} steps`);
  });

  it("a cached node's evicted ancestors do not run", async () => {
    const { registry, counter } = setup();
    const cache = new OutputCache(1e6);
    const first = await executeWorkflow({ promptId: "p1", workflow: chain(2, 3), registry, cache, services });
    cache.delete(first.keys["1"]!);
    cache.delete(first.keys["3"]!);
    const r = await executeWorkflow({ promptId: "p2", workflow: chain(2, 3), registry, cache, services });
    assert.deepEqual(r.executed, ["3"]);
    assert.deepEqual(r.cached, ["2"]);
    assert.deepEqual(r.outputs["3"], { value: 5 });
    assert.equal(counter.get("1"), 1);
  });

  it("a cached node's ancestors need not be present in the cache", async () => {
    const { registry, counter } = setup();
    const cache = new OutputCache(1e6);
    const first = await executeWorkflow({ promptId: "p1", workflow: chain(2, 3), registry, cache, services });
    cache.delete(first.keys["1"]!);
    cache.delete(first.keys["2"]!);
    const r = await executeWorkflow({ promptId: "p2", workflow: chain(2, 3), registry, cache, services });
    assert.deepEqual(r.executed, []);
    assert.deepEqual(r.cached, ["3"]);
    assert.equal(counter.get("1"), 1);
    assert.equal(counter.get("2"), 1);
  });

  it("records how long each node that ran took", async () => {
    const { registry, cache } = setup();
    const r = await executeWorkflow({ promptId: "p", workflow: chain(2, 3), registry, cache, services });
    assert.deepEqual(Object.keys(r.timings).sort(), ["1", "2", "3"]);
    for (const ms of Object.values(r.timings)) assert.ok(ms >= 0);
  });

  it("the cache keeps an expensive entry over a cheap one of the same size", () => {
    const cache = new OutputCache(3000);
    cache.set("expensive", { x: new Float32Array(250) }, 5000);
    cache.set("cheap", { x: new Float32Array(250) }, 5);
    // Both entries were set; "cheap" is the more recent, yet it is the one to go.
    cache.set("new", { x: new Float32Array(250) }, 5);
    assert.equal(cache.has("expensive"), true);
    assert.equal(cache.has("cheap"), false);
    assert.equal(cache.has("new"), true);
  });

  it("an expensive entry nobody reads ages out as cheaper entries come and go", () => {
    const cache = new OutputCache(3000);
    cache.set("expensive", { x: new Float32Array(250) }, 50);
    for (let i = 0; i < 20; i++) cache.set(`cheap${i}`, { x: new Float32Array(250) }, 10);
    assert.equal(cache.has("expensive"), false);
  });

  it("the cache evicts least recently used entries of equal cost beyond its byte budget", () => {
    const cache = new OutputCache(3000);
    cache.set("a", { x: new Float32Array(250) });
    cache.set("b", { x: new Float32Array(250) });
    cache.get("a");
    cache.set("c", { x: new Float32Array(250) });
    assert.equal(cache.has("a"), true);
    assert.equal(cache.has("b"), false);
    assert.equal(cache.has("c"), true);
    assert.ok(cache.bytes <= 3000);
  });
});
