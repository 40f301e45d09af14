// One child process of bench/real.bench.ts: text-to-image on a real-size pack as the CLI runs it
// (in-process node host and engine), under a memory budget for model sessions, with progress lines
// on stderr while sessions load and samplers step. Prints one JSON line: wall time per prompt, per
// node and inside ONNX Runtime, session loads (each with its time), peak RSS.
//
//   tsx bench/real/cascade-run.ts --models DIR --pack NAME --image 1024 --steps-c 20 --steps-b 10 --prompts 1 --budget-gb 6
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Workflow } from "../../nodes/schema.ts";
import { executeWorkflow, OutputCache, parseWorkflow } from "../../server/engine/index.ts";
import { createNodeHost } from "../../server/executor/node-host.ts";
import { type CascadeRuntime, type LoadProgress, modelTimings, resetModelTimings } from "../../server/runtime/index.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const image = Number(arg("image", "1024"));
const budgetBytes = Number(arg("budget-gb", "0")) * 1e9 || undefined;
const say = (line: string) => process.stderr.write(`${line}\n`);

const temp = mkdtempSync(join(tmpdir(), "sluice-real-run-"));
const host = await createNodeHost({
  outputsDir: temp, uploadsDir: temp, tempDir: arg("converted-parent", temp), modelsDir: arg("models", ""), device: "cpu", noiseThread: true,
  modelMemoryBudgetBytes: budgetBytes,
}, (_level, message) => say(`  ${message}`));
const runtime = host.servicesFor("bench").runtime as CascadeRuntime;
const loads: { label: string; ms: number; bytes: number; prompt: number }[] = [];
let prompt = 0;
runtime.sessions.onLoadProgress((p: LoadProgress) => {
  if (p.phase === "loaded") loads.push({ label: p.label, ms: p.elapsedMs, bytes: p.bytes, prompt });
});

function workflow(seed: number): Workflow {
  const wf = parseWorkflow(JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8")));
  for (const n of wf.nodes) {
    if (n.type === "LoadCascadePack") n.inputs.pack = arg("pack", "lite-fp32");
    if (n.id === "4") Object.assign(n.inputs, { width: image, height: image, compression: 42 });
    if (n.id === "5") Object.assign(n.inputs, { steps: Number(arg("steps-c", "20")), seed });
    if (n.id === "7") Object.assign(n.inputs, { steps: Number(arg("steps-b", "10")), seed });
    if (n.id === "9") n.inputs.prefix = `real-${seed}`;
  }
  return wf;
}

const prompts = [];
for (let i = 0; i < Number(arg("prompts", "1")); i++) {
  prompt = i;
  resetModelTimings();
  const nodeMs: Record<string, number> = {};
  const started = performance.now();
  await executeWorkflow({
    promptId: `real-${i}`, workflow: workflow(1000 + i), registry: host.registry, cache: new OutputCache(0), services: host.servicesFor(`real-${i}`),
    hooks: {
      onNodeStart: (id, type) => say(`node ${id} ${type}`),
      onNodeProgress: (id, step, total) => say(`  node ${id}: step ${step}/${total} (${((performance.now() - started) / 1000).toFixed(0)} s)`),
      onNodeDone: (id, _r, ms) => { nodeMs[id] = ms; },
    },
  });
  const wallMs = performance.now() - started;
  const timings = modelTimings();
  prompts.push({
    wallMs, nodeMs, model: timings,
    modelMs: Object.values(timings).reduce((s, t) => s + t.ms, 0),
    loadMs: loads.filter((l) => l.prompt === i).reduce((s, l) => s + l.ms, 0),
    loads: loads.filter((l) => l.prompt === i).map((l) => l.label),
  });
}
const stats = runtime.sessions.stats();
console.log(JSON.stringify({ image, budgetBytes: stats.budgetBytes, prompts, loads, evictions: stats.evictions, peakRssBytes: process.resourceUsage().maxRSS * 1024 }));
await host.dispose();
rmSync(temp, { recursive: true, force: true });
