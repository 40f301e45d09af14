// Bounded fuzzing of POST /api/prompt: a fixed-seed generator mutates the bundled templates (ids,
// types, inputs, links, components, nesting, numbers, prototype names) and posts every mutation to
// a real server. No answer may be a 5xx, and every refusal must say where the problem is: a node,
// an input, or the request body.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startServer } from "./harness.ts";

const MUTATIONS = 300;
const SEED = 0x5eed1;

/** mulberry32: a small PRNG with a fixed seed, so every run posts the same mutations. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)],
  };
}

const PROTO_NAMES = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "prototype", "component/__proto__", "component/constructor", "__defineGetter__"];
const WEIRD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 1.5, "", "x".repeat(10_000), "🙂\u0000\u202e", [], [1, 2], {}, { node: "1" }, { output: "x" },
  { node: "constructor", output: "toString" }, { node: "__proto__", output: "__proto__" }, { node: 1, output: 2 }, "18446744073709551616", "-5",
];

function nested(depth: number): unknown {
  let v: unknown = "leaf";
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

type Mutation = (wf: any, r: ReturnType<typeof prng>) => void;

const nodeOf = (wf: any, r: ReturnType<typeof prng>) => (wf.nodes.length ? r.pick(wf.nodes) : undefined) as any;

const MUTATORS: Record<string, Mutation> = {
  idToProtoName(wf, r) { const n = nodeOf(wf, r); if (n) n.id = r.pick(PROTO_NAMES); },
  idEverywhere(wf, r) {
    const n = nodeOf(wf, r); if (!n) return;
    const name = r.pick(PROTO_NAMES), old = n.id;
    n.id = name;
    for (const m of wf.nodes) for (const v of Object.values(m.inputs ?? {}) as any[]) if (v && typeof v === "object" && v.node === old) v.node = name;
  },
  typeToProtoName(wf, r) { const n = nodeOf(wf, r); if (n) n.type = r.pick(PROTO_NAMES); },
  typeToOther(wf, r) { const n = nodeOf(wf, r); if (n) n.type = r.pick(["SaveImage", "KSampler", "", "component/x", "Note", 42, null]); },
  inputWeird(wf, r) { const n = nodeOf(wf, r); if (!n) return; const keys = Object.keys(n.inputs ?? {}); if (keys.length) n.inputs[r.pick(keys)] = r.pick(WEIRD_VALUES); },
  inputProtoName(wf, r) { const n = nodeOf(wf, r); if (n) Object.defineProperty(n.inputs, r.pick(PROTO_NAMES), { value: r.pick(WEIRD_VALUES), enumerable: true, writable: true, configurable: true }); },
  inputsNotObject(wf, r) { const n = nodeOf(wf, r); if (n) n.inputs = r.pick([null, [], "x", 3]); },
  linkToMissing(wf, r) { const n = nodeOf(wf, r); if (!n) return; const keys = Object.keys(n.inputs ?? {}); if (keys.length) n.inputs[r.pick(keys)] = { node: r.pick([...PROTO_NAMES, "999"]), output: r.pick(["image", "__proto__", "constructor", "latent"]) }; },
  linkToSelf(wf, r) { const n = nodeOf(wf, r); if (!n) return; const keys = Object.keys(n.inputs ?? {}); if (keys.length) n.inputs[r.pick(keys)] = { node: n.id, output: "latent" }; },
  cycle(wf, r) {
    if (wf.nodes.length < 2) return;
    const a = nodeOf(wf, r), b = nodeOf(wf, r);
    a.inputs.loop = { node: b.id, output: "x" };
    b.inputs.loop = { node: a.id, output: "x" };
  },
  removeNode(wf, r) { if (wf.nodes.length) wf.nodes.splice(r.int(wf.nodes.length), 1); },
  duplicateId(wf, r) { if (wf.nodes.length > 1) wf.nodes[1].id = wf.nodes[0].id; },
  dropField(wf, r) { const n = nodeOf(wf, r); if (n) delete n[r.pick(["id", "type", "inputs"])]; },
  deepValue(wf, r) { const n = nodeOf(wf, r); if (!n) return; const keys = Object.keys(n.inputs ?? {}); if (keys.length) n.inputs[r.pick(keys)] = nested(20 + r.int(35)); },
  hugeNumber(wf, r) { const n = nodeOf(wf, r); if (!n) return; for (const k of Object.keys(n.inputs ?? {})) if (typeof n.inputs[k] === "number") n.inputs[k] = r.pick([1e308, -1e308, 2 ** 64, 1e-320, 123456789012]); },
  nodesNotArray(wf, r) { wf.nodes = r.pick([{}, "nodes", null, 5]); },
  formatOrVersion(wf, r) { if (r.next() < 0.5) wf.format = r.pick(["comfy", "", null, "__proto__"]); else wf.version = r.pick(["2", "99.0.0", "", null, "0.0.1"]); },
  componentProtoKey(wf, r) {
    const n = nodeOf(wf, r); if (!n) return;
    const key = r.pick(PROTO_NAMES);
    wf.components = wf.components ?? {};
    Object.defineProperty(wf.components, key, { value: { name: "c", nodes: [structuredClone(n)], inputs: [], outputs: [] }, enumerable: true, writable: true, configurable: true });
    wf.nodes.push({ id: `c${r.int(100)}`, type: `component/${key}`, inputs: {} });
  },
  componentUndefined(wf, r) { wf.nodes.push({ id: r.pick(["c", "__proto__", "constructor"]), type: `component/${r.pick(PROTO_NAMES)}`, inputs: {} }); },
  componentFanOut(wf) {
    // 10 instances per level, 6 levels: a million nodes if expanded without a limit.
    wf.components = {};
    for (let level = 0; level < 6; level++) {
      const inner = level === 5 ? [{ id: "n", type: "EmptyImage", inputs: {} }] : Array.from({ length: 10 }, (_, i) => ({ id: `i${i}`, type: `component/l${level + 1}`, inputs: {} }));
      wf.components[`l${level}`] = { name: `l${level}`, nodes: inner, inputs: [], outputs: [] };
    }
    wf.nodes.push({ id: "fan", type: "component/l0", inputs: {} });
  },
  componentSelf(wf) {
    wf.components = { loop: { name: "loop", nodes: [{ id: "a", type: "component/loop", inputs: {} }], inputs: [], outputs: [] } };
    wf.nodes.push({ id: "self", type: "component/loop", inputs: {} });
  },
  componentBadPorts(wf, r) {
    wf.components = { p: { name: "p", nodes: [{ id: "a", type: "EmptyImage", inputs: {} }], inputs: [{ name: "__proto__", type: "INT", targets: [{ node: r.pick(["a", "zz", "__proto__"]), input: r.pick(["width", "__proto__", "constructor"]) }] }], outputs: [{ name: "o", type: "IMAGE", source: { node: r.pick(["a", "__proto__"]), output: r.pick(["image", "constructor"]) } }] } };
    const inst: any = { id: "pi", type: "component/p", inputs: {} };
    Object.defineProperty(inst.inputs, "__proto__", { value: 64, enumerable: true, writable: true, configurable: true });
    wf.nodes.push(inst);
  },
  paramsProto(wf, r) { wf.params = [{ name: r.pick(PROTO_NAMES), node: r.pick([...PROTO_NAMES, "4"]), input: r.pick([...PROTO_NAMES, "width"]) }]; },
  legacyFormat(wf, r) {
    // The 0.1.0 layout (nodes keyed by id, links as pairs), broken in the ways a hand-edited file is.
    wf.version = "0.1.0";
    wf.nodes = r.pick([
      { a: null }, { a: { type: "EmptyImage", links: { x: null } } }, { a: { type: "EmptyImage", links: { x: [1] } } },
      { a: { type: "EmptyImage", widgets: "text", links: "text" } }, JSON.parse('{"__proto__": {"type": "EmptyImage"}, "constructor": {"type": 5}}'),
      JSON.parse('{"a": {"type": "PreviewImage", "links": {"__proto__": ["b", "image"]}}}'), [],
    ]);
  },
  extraProto(wf, r) { wf.extra = JSON.parse(`{"__proto__": {"polluted": ${r.int(9)}}, "constructor": {"prototype": {"x": 1}}}`); },
};

/** The request around a mutated workflow, itself sometimes mutated. */
function requestBody(wf: any, r: ReturnType<typeof prng>): unknown {
  const roll = r.next();
  if (roll < 0.05) return r.pick([null, [], "workflow", 5, { workflow: "text" }]);
  if (roll < 0.1) return { workflow: wf, outputs: [r.pick(PROTO_NAMES)] };
  if (roll < 0.15) return JSON.parse(`{"workflow": ${JSON.stringify(wf)}, "params": {"__proto__": 1, "constructor": 2, "toString": "x", "4.width": 1e308}}`);
  if (roll < 0.18) return { workflowId: r.pick(PROTO_NAMES) };
  return { workflow: wf };
}

/** True when the refusal says where: a node (nodeErrors or the message), an input, or the body. */
function namesWhere(body: any): boolean {
  if (typeof body?.error !== "string" || body.error.length === 0) return false;
  if (body.nodeErrors && Object.keys(body.nodeErrors).length > 0) return true;
  return /\bnode\b|\binput\b|body|request|workflow|params?\b|output|format|version|component/i.test(body.error);
}

test("a few hundred mutated templates posted to /api/prompt: no 5xx, every refusal says where", async () => {
  const templates = readdirSync(join(ROOT, "templates")).filter((f) => f.endsWith(".json")).sort()
    .map((f) => JSON.parse(readFileSync(join(ROOT, "templates", f), "utf8")));
  const s = await startServer({ modelsDir: join(ROOT, "models") });
  const r = prng(SEED);
  const names = Object.keys(MUTATORS);
  const failures: string[] = [];
  const counts = { accepted: 0, refused: 0 };
  try {
    for (let i = 0; i < MUTATIONS; i++) {
      const wf = structuredClone(r.pick(templates));
      const applied: string[] = [];
      for (let k = 1 + r.int(3); k > 0; k--) {
        const name = r.pick(names);
        applied.push(name);
        if (Array.isArray(wf.nodes)) MUTATORS[name](wf, r);
      }
      const body = requestBody(wf, r);
      const res = await s.post("/api/prompt", body);
      if (res.status >= 500) failures.push(`#${i} [${applied}] answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
      else if (res.status >= 400) {
        counts.refused++;
        if (!namesWhere(res.body)) failures.push(`#${i} [${applied}] ${res.status} names nothing: ${JSON.stringify(res.body).slice(0, 300)}`);
      } else {
        counts.accepted++;
        // A mutation that is still a good workflow is not the subject here: do not spend time running it.
        await fetch(`${s.url}/api/queue/${res.body.promptId}`, { method: "DELETE" });
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${MUTATIONS} answers were wrong`);
    assert.ok(counts.refused > MUTATIONS / 2, `most mutations should be refused (${JSON.stringify(counts)})`);
    // The server is still up and answers.
    assert.equal((await s.get("/api/system")).status, 200);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype was not polluted");
  } finally {
    await s.stop();
  }
});

test("imports whose ids, types and input names are prototype names are converted or refused, never a 5xx", async () => {
  const s = await startServer({ modelsDir: join(ROOT, "models") });
  const r = prng(SEED + 1);
  try {
    for (let i = 0; i < 40; i++) {
      const name = () => r.pick(PROTO_NAMES);
      const body = r.pick([
        () => ({ nodes: [{ id: name(), type: name(), widgets_values: [r.pick(WEIRD_VALUES)] }], links: [[1, name(), 0, name(), 0, name()]] }),
        () => JSON.parse(`{"${name()}": {"class_type": "${name()}", "inputs": {"${name()}": ["${name()}", 0]}}}`),
        () => ({ nodes: [{ id: 1, type: r.pick(["KSampler", "StableCascade_EmptyLatentImage", name()]), widgets_values: r.pick(WEIRD_VALUES) }], links: r.pick(WEIRD_VALUES) }),
        () => ({ format: "sluice.workflow", version: "0.1.0", nodes: { a: r.pick(WEIRD_VALUES) } }),
      ])();
      const res = await s.post("/api/workflows/import", body);
      assert.ok(res.status < 500, `#${i} ${JSON.stringify(body).slice(0, 200)} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
      if (res.status >= 400) assert.equal(typeof res.body.error, "string");
    }
  } finally {
    await s.stop();
  }
});
