// The graph logic on inputs built to break it: long chains, fan-out components, prototype names.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ComponentError, expandComponents } from "../../server/engine/components.ts";
import { executionOrder, findCycle, MAX_WORKFLOW_NODES } from "../../server/engine/graph.ts";
import { validateWorkflow } from "../../server/engine/validate.ts";
import { jsonDepth } from "../../server/api/json-body.ts";
import type { Workflow, WorkflowNode } from "../../nodes/schema.ts";

const chain = (n: number): WorkflowNode[] =>
  Array.from({ length: n }, (_, i): WorkflowNode => ({ id: String(i), type: "Step", inputs: i === 0 ? {} : { x: { node: String(i - 1), output: "x" } } }));

function fanOut(perLevel: number, levels: number): Workflow {
  const components: Workflow["components"] = {};
  for (let level = 0; level < levels; level++) {
    const nodes = level === levels - 1
      ? [{ id: "leaf", type: "EmptyImage", inputs: {} }]
      : Array.from({ length: perLevel }, (_, i) => ({ id: String(i), type: `component/l${level + 1}`, inputs: {} }));
    components[`l${level}`] = { name: `l${level}`, nodes, inputs: [], outputs: [] };
  }
  return { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "top", type: "component/l0", inputs: {} }], groups: [], components, params: [] };
}

describe("graph walks", () => {
  it("order a 100 000-node chain and find no cycle in it without overflowing the stack", () => {
    const nodes = chain(100_000);
    assert.equal(findCycle(nodes), undefined);
    const order = executionOrder(nodes, ["99999"]);
    assert.equal(order.length, 100_000);
    assert.equal(order[0], "0");
    assert.equal(order.at(-1), "99999");
  });

  it("find the cycle that closes a 100 000-node chain", () => {
    const nodes = chain(100_000);
    nodes[0].inputs = { x: { node: "99999", output: "x" } };
    const cycle = findCycle(nodes);
    assert.equal(cycle?.length, 100_000);
  });

  it("keep the sources-first order among independent nodes as the workflow lists them", () => {
    const nodes: WorkflowNode[] = [
      { id: "a", type: "T", inputs: {} },
      { id: "b", type: "T", inputs: {} },
      { id: "c", type: "T", inputs: { p: { node: "b", output: "o" }, q: { node: "a", output: "o" } } },
    ];
    assert.deepEqual(executionOrder(nodes, ["c"]), ["b", "a", "c"]);
  });
});

describe("component expansion", () => {
  it("refuses a fan-out of 10 instances per level, 10 levels deep, naming the instance, after at most the node limit", () => {
    const wf = fanOut(10, 10);
    assert.ok(JSON.stringify(wf).length < 6000, "a workflow of a few kilobytes");
    assert.throws(() => expandComponents(wf), (err: unknown) => err instanceof ComponentError && err.nodeId === "top" && /more than 10,000 nodes/.test(err.message));
  });

  it("refuses components with no leaves that only multiply instances", () => {
    const wf = fanOut(10, 12);
    wf.components.l11.nodes = [];
    assert.throws(() => expandComponents(wf), (err: unknown) => err instanceof ComponentError && err.nodeId === "top");
  });

  it("treats prototype names as undefined components, not as definitions", () => {
    for (const key of ["__proto__", "constructor", "toString"]) {
      const wf: Workflow = { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "constructor", type: `component/${key}`, inputs: {} }], groups: [], components: {}, params: [] };
      assert.throws(() => expandComponents(wf), (err: unknown) => err instanceof ComponentError && err.nodeId === "constructor" && /is not defined/.test(err.message));
    }
  });
});

describe("validation", () => {
  it("reports problems on nodes named __proto__, constructor and toString as plain keys", () => {
    const nodes = ["__proto__", "constructor", "toString"].map((id) => ({ id, type: "Missing", inputs: {} }));
    const report = validateWorkflow({ format: "sluice.workflow", version: "1.0.0", nodes, groups: [], components: {}, params: [] }, () => undefined);
    assert.equal(report.ok, false);
    assert.deepEqual(Object.keys(report.nodeErrors).sort(), ["__proto__", "constructor", "toString"]);
    assert.match(report.nodeErrors["__proto__"][0].message, /unknown node type "Missing"/);
  });

  it("refuses more nodes than the limit, naming the first node past it", () => {
    const report = validateWorkflow({ format: "sluice.workflow", version: "1.0.0", nodes: chain(MAX_WORKFLOW_NODES + 5), groups: [], components: {}, params: [] }, () => undefined);
    assert.equal(report.ok, false);
    assert.match(report.nodeErrors[String(MAX_WORKFLOW_NODES)][0].message, /at most 10,000 can run/);
  });
});

describe("JSON depth", () => {
  it("counts nesting of arrays and objects, not brackets inside strings", () => {
    assert.equal(jsonDepth("1"), 0);
    assert.equal(jsonDepth('{"a": [1, {"b": "[[[{{{"}]}'), 3);
    assert.equal(jsonDepth('["\\"[["]'), 1);
    assert.equal(jsonDepth("[".repeat(100_000) + "]".repeat(100_000), 64), 65, "stops counting past the limit");
  });
});
