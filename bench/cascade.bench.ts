// Benchmark of the text-to-image template on a pack (the bundled tiny pack by default):
// time per stage, model time against everything else per sampler step, executor overhead (wall
// time minus time inside ONNX Runtime, for prompts queued through the server's own store,
// dispatcher and executor process, and for the engine run in-process), the cost of previews, and the
// re-run after changing only Stage B's seed.
//
//   npm run bench [-- --pack tiny --models DIR --runs 11 --warmups 3]
//
// Prints tables and writes bench/results/latest.json.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Workflow } from "../nodes/schema.ts";
import { buildCatalog, compilePrompt, executeWorkflow, OutputCache, parseWorkflow, type ExecutionResult } from "../server/engine/index.ts";
import { createRegistry } from "../nodes/index.ts";
import { createNodeHost } from "../server/executor/node-host.ts";
import { Dispatcher, encodePreview } from "../server/executor/dispatcher.ts";
import { DEFAULT_PREVIEW_INTERVAL_MS } from "../server/executor/protocol.ts";
import { Store } from "../server/store/store.ts";
import { NoisePrefetcher } from "../server/executor/noise-prefetch.ts";
import { batchNoise } from "../server/diffusion/index.ts";
import { modelTimings, resetModelTimings, STAGE_FILES } from "../server/runtime/index.ts";
import { option } from "./options.ts";

const ROOT = join(import.meta.dirname, "..");
const packName = option("pack", "tiny");
const modelsDir = option("models", join(ROOT, "models"));
const runs = Number(option("runs", "11"));
// A server runs many prompts: the first few after start-up run cold (sessions' first runs, and
// JavaScript the JIT has not compiled yet, which costs several milliseconds per prompt here), so
// each path is measured after this many prompts, in the steady state a server reaches.
const warmups = Number(option("warmups", "3"));

const temp = mkdtempSync(join(tmpdir(), "sluice-bench-"));
// As the CLI runs it: in-process, with the noise helper thread.
const host = await createNodeHost({ outputsDir: temp, uploadsDir: temp, tempDir: temp, modelsDir, device: option("device", "cpu"), noiseThread: true }, () => {});

function template(): Workflow {
  const wf = parseWorkflow(JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8")));
  for (const n of wf.nodes) if (n.type === "LoadCascadePack") n.inputs.pack = packName;
  return wf;
}
const withSeed = (wf: Workflow, node: string, seed: number): Workflow => {
  const copy = structuredClone(wf);
  copy.nodes.find((n) => n.id === node)!.inputs.seed = seed;
  return copy;
};

interface Measured { wallMs: number; modelMs: number; samplerModelMs: number; result: ExecutionResult; stepsC: number; stepsB: number; previews: number }

/** One run as the executor does it: throttled previews encoded off the sampling path. */
async function measure(workflow: Workflow, cache: OutputCache, previews: boolean): Promise<Measured> {
  resetModelTimings();
  const encodes: Promise<unknown>[] = [];
  const last = new Map<string, number>();
  let stepsC = 0, stepsB = 0, sent = 0;
  const started = performance.now();
  const result = await executeWorkflow({
    promptId: "bench", workflow, registry: host.registry, cache, services: host.servicesFor("bench"),
    hooks: {
      onNodeProgress: (id) => { if (id === "5") stepsC++; if (id === "7") stepsB++; },
      onNodePreview: previews ? (id, frame) => {
        const t = performance.now();
        const final = frame.step !== undefined && frame.step === frame.total;
        if (!final && t - (last.get(id) ?? -Infinity) < DEFAULT_PREVIEW_INTERVAL_MS) return;
        last.set(id, t);
        sent++;
        encodes.push(encodePreview(frame.rgb(), frame.width, frame.height));
      } : undefined,
    },
  });
  const wallMs = performance.now() - started;
  await Promise.all(encodes);
  const timings = modelTimings();
  const modelMs = Object.values(timings).reduce((sum, t) => sum + t.ms, 0);
  const samplerModelMs = [STAGE_FILES.stageC, STAGE_FILES.stageB].reduce((sum, file) => sum + (timings[file]?.ms ?? 0), 0);
  return { wallMs, modelMs, samplerModelMs, result, stepsC, stepsB, previews: sent };
}

interface ThroughExecutor { wallMs: number; nodeMs: number; modelMs: number }

/**
 * Prompts queued as the server queues them: the SQLite store, the dispatcher in this process, the
 * executor child process with its own sessions, progress events and JPEG previews relayed back. Wall time
 * runs from enqueue to `execution:done`, which carries the time the executor spent inside ONNX
 * Runtime; node time is the sum the executor reports per node, so wall − node time is the executor's
 * bookkeeping: queue pickup, messages between processes, the graph walk, signatures and caching,
 * and the store's writes.
 */
async function throughExecutor(workflows: Workflow[]): Promise<ThroughExecutor[]> {
  const store = new Store(mkdtempSync(join(tmpdir(), "sluice-bench-home-")));
  let nodeMs = 0;
  let modelMs = 0;
  let endedAt = 0;
  let done: (() => void) | undefined;
  const sink = {
    emit(name: string, event: object) {
      const payload = event as { ms?: number; modelMs?: number };
      if (name === "node:done") nodeMs += payload.ms as number;
      else if (name === "execution:done" || name === "execution:error") {
        // Stamped as clients hear it; the store's record is written after, in the same turn.
        endedAt = performance.now();
        modelMs = (payload.modelMs as number | undefined) ?? NaN;
        done?.();
      }
    },
  };
  const registry = createRegistry();
  const catalog = buildCatalog(registry, { outputsDir: store.paths.outputs, uploadsDir: store.paths.uploads, tempDir: store.paths.temp, listOptions: () => [packName] });
  const lookup = (type: string) => catalog.find((s) => s.type === type);
  const compile = (workflow: unknown, outputs?: string[]) => compilePrompt(workflow, { lookup, outputs });
  const dispatcher = new Dispatcher(store, sink, {
    executor: {
      outputsDir: store.paths.outputs, uploadsDir: store.paths.uploads, tempDir: store.paths.temp, modelsDir,
      device: option("device", "cpu"), cacheBytes: 0, previewIntervalMs: DEFAULT_PREVIEW_INTERVAL_MS,
    },
    compile,
    registry,
    log: () => {},
  });
  await dispatcher.ready();
  const out: ThroughExecutor[] = [];
  for (const workflow of workflows) {
    nodeMs = 0;
    const finished = new Promise<void>((resolve) => { done = resolve; });
    const started = performance.now();
    const compiled = compile(workflow);
    if (!compiled.ok) throw new Error(compiled.message);
    dispatcher.submit({ plan: compiled.plan });
    await finished;
    out.push({ wallMs: endedAt - started, nodeMs, modelMs });
  }
  await dispatcher.close();
  store.close();
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The run with the median wall time. */
const pick = <T extends { wallMs: number }>(m: T[]): T => m.find((x) => x.wallMs === median(m.map((y) => y.wallMs)))!;
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
function table(title: string, rows: [string, string][]) {
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n${title}`);
  console.log(`${"-".repeat(w + 2 + Math.max(...rows.map((r) => r[1].length)))}`);
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

// Warm up: load sessions, let ONNX Runtime settle and the JIT compile the hot paths.
for (let i = 0; i < warmups; i++) await measure(withSeed(template(), "5", 1 + i), new OutputCache(0), true);

const full: Measured[] = [], noPreview: Measured[] = [], rerun: Measured[] = [];
for (let i = 0; i < runs; i++) {
  const seed = 100 + i;
  const cache = new OutputCache(1024 ** 3);
  // Interleaved so drift on a shared machine hits both sides alike.
  full.push(await measure(withSeed(template(), "5", seed), cache, true));
  rerun.push(await measure(withSeed(withSeed(template(), "5", seed), "7", 999 + i), cache, true));
  noPreview.push(await measure(withSeed(template(), "5", seed + 1000), new OutputCache(0), false));
}

// The in-process host's sessions and helper thread are let go first, so each path runs alone.
const { device, deviceNote } = host;
await host.dispose();

// The executor process loads its own sessions and compiles its own code: its first prompts are warm-ups.
const executorRuns = (await throughExecutor(Array.from({ length: warmups + runs }, (_, i) => withSeed(template(), "5", 500 + i)))).slice(warmups);
// Each column's own median over the prompts, as the overhead is.
const E = { wallMs: median(executorRuns.map((r) => r.wallMs)), nodeMs: median(executorRuns.map((r) => r.nodeMs)), modelMs: median(executorRuns.map((r) => r.modelMs)) };
const bookkeeping = median(executorRuns.map((r) => (r.wallMs - r.nodeMs) / r.wallMs));
// Overhead is taken per prompt and its median reported: on a shared machine one prompt's model time
// swings by tens of milliseconds, and the prompt with the median wall time is not the one with the
// median overhead.
const overheadOf = (m: { wallMs: number; modelMs: number }) => (m.wallMs - m.modelMs) / m.wallMs;
const overheads = executorRuns.map(overheadOf);
const overhead = median(overheads);

const F = pick(full), R = pick(rerun), N = pick(noPreview);
const stage = (m: Measured, ids: string[]) => ids.reduce((sum, id) => sum + (m.result.timings[id] ?? 0), 0);
const C = stage(F, ["5"]), B = stage(F, ["6", "7"]), A = stage(F, ["8"]), text = stage(F, ["1", "2", "3", "4"]), save = stage(F, ["9"]);
const inProcessOverhead = median(full.map(overheadOf));
const rerunRatio = R.wallMs / F.wallMs;
const bound = (B + A + save) / (C + B + A + save);
const previewCost = (median(full.map((m) => m.wallMs)) - median(noPreview.map((m) => m.wallMs))) / median(noPreview.map((m) => m.wallMs));
// The same from the time outside ONNX Runtime, where previews do their work here (small ones are
// encoded on this thread): free of the model runs' swings, which are larger than previews cost.
const outside = (m: Measured) => m.wallMs - m.modelMs;
const previewCostOutside = (median(full.map(outside)) - median(noPreview.map(outside))) / median(noPreview.map((m) => m.wallMs));

// Per sampler step: model time vs the rest (sampler math, tensor copies, previews).
const steps = F.stepsC + F.stepsB;
const samplerMs = C + stage(F, ["7"]);

table(`text-to-image on pack "${packName}" (median of ${runs} runs after ${warmups} warm-ups, ${deviceNote})`, [
  ["text encode + loader + latents", fmt(text)],
  [`Stage C sampler (${F.stepsC} steps)`, fmt(C)],
  [`Stage B sampler (${F.stepsB} steps) + conditioning`, fmt(B)],
  ["Stage A decode", fmt(A)],
  ["save (PNG + workflow)", fmt(save)],
  ["wall time", fmt(F.wallMs)],
]);
table("per sampler step", [
  ["wall per step", fmt(samplerMs / steps)],
  ["inside ONNX Runtime per step (Stage C and B models)", fmt(F.samplerModelMs / steps)],
  ["everything else per step (the samplers' own work, previews, set-up)", fmt((samplerMs - F.samplerModelMs) / steps)],
]);
table("executor", [
  ["executor overhead (wall − ONNX time) / wall, through the server's executor", pct(overhead)],
  [`  its ${overheads.length} prompts, lowest to highest`, [...overheads].sort((a, b) => a - b).map(pct).join(" ")],
  ["the same, engine in-process (previews encoded on the sampling thread)", pct(inProcessOverhead)],
  ["previews sent", `${F.previews}`],
  ["preview cost: time outside ONNX Runtime, with vs without previews, / wall", pct(previewCostOutside)],
  ["preview cost: wall with vs without previews (swings with the model runs)", pct(previewCost)],
  ["Stage-B-only re-run / full run", pct(rerunRatio)],
  ["bound: (B + A) / (C + B + A)", pct(bound)],
]);
table(`through the server's executor (store, dispatcher, executor process; each row the median of ${executorRuns.length} prompts)`, [
  ["wall, enqueue to execution:done", fmt(E.wallMs)],
  ["time inside nodes (as the executor reports it)", fmt(E.nodeMs)],
  ["time inside ONNX Runtime (as the executor reports it)", fmt(E.modelMs)],
  ["bookkeeping (wall − node time) / wall", pct(bookkeeping)],
]);

// Per-step noise on the sampler's thread: drawn inline, or taken from the helper thread that drew it
// during the step's model run (here a 30 ms wait, as a GPU step leaves the CPU idle). At the
// template's size it is small either way; at a real pack's 1024² Stage B latent it is not.
const noiseRows: [string, string][] = [];
const noiseHelper = NoisePrefetcher.start();
const noiseMs: Record<string, { inline: number; helper: number }> = {};
for (const [label, length] of [["tiny pack Stage C latent (16×8×8)", 16 * 8 * 8], ["Stage B latent at 1024² (4×256×256)", 4 * 256 * 256]] as const) {
  const inline: number[] = [], helper: number[] = [];
  for (let stream = 1; stream <= 6; stream++) {
    let t = performance.now();
    batchNoise(7, length, stream);
    inline.push(performance.now() - t);
    noiseHelper.prefetch(7, length, stream + 100);
    noiseHelper.wake();
    await new Promise((r) => setTimeout(r, 30));
    t = performance.now();
    noiseHelper.draw(7, length, stream + 100);
    helper.push(performance.now() - t);
  }
  noiseMs[label] = { inline: median(inline), helper: median(helper) };
  noiseRows.push([label, `${fmt(median(inline))} inline, ${fmt(median(helper))} from the helper thread`]);
}
await noiseHelper.close();
table("per-step noise on the sampler's thread (median of 6)", noiseRows);

mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
const out = {
  date: new Date().toISOString(),
  pack: packName,
  device,
  runs,
  warmups,
  wallMs: F.wallMs,
  stageMs: { text, c: C, b: B, a: A, save },
  modelMs: F.modelMs,
  stepsC: F.stepsC,
  stepsB: F.stepsB,
  executorOverheadPct: overhead * 100,
  inProcessOverheadPct: inProcessOverhead * 100,
  throughExecutor: { wallMs: E.wallMs, nodeMs: E.nodeMs, modelMs: E.modelMs, bookkeepingPct: bookkeeping * 100 },
  previewCostPct: previewCost * 100,
  previewCostOutsidePct: previewCostOutside * 100,
  stageBRerunRatio: rerunRatio,
  stageBRerunBound: bound,
  noiseMs,
};
writeFileSync(join(ROOT, "bench", "results", "latest.json"), JSON.stringify(out, null, 2) + "\n");
console.log(`\nwrote bench/results/latest.json`);
