// One child process of bench/real.bench.ts: text-to-image on a real-size pack through the server
// (its supervised executor process, HTTP to queue, socket.io for progress), under a memory budget,
// with a line on stderr for every model load and sampler step. Prints one JSON line: per prompt the
// wall time, time inside ONNX Runtime, per-node times, the sessions loaded (each with its time) and
// how much of that loading ran beside model work; the executor's peak RSS.
//
//   tsx bench/real/cascade-run.ts --models DIR --pack NAME --image 1024 --steps-c 20 --steps-b 10 --prompts 1 --budget-gb 6
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io } from "socket.io-client";
import { createSluiceServer } from "../../server/api/app.ts";
import { option } from "../options.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const image = Number(option("image", "1024"));
const budgetGB = Number(option("budget-gb", "0"));
const say = (line: string) => process.stderr.write(`${line}\n`);
const now = () => performance.now();

// The executor reports each load as a log line: "loaded prior/model.onnx on cpu (4122.3 MB, 33.4 s)".
const LOADED = /^loaded (\S+) on \S+ \(([\d.]+) MB, ([\d.]+) s\)/;
const loads: { label: string; ms: number; bytes: number; start: number; end: number }[] = [];
const evictions: string[] = [];
const home = mkdtempSync(join(tmpdir(), "sluice-real-run-"));
const server = await createSluiceServer({
  home, modelsDir: option("models", ""), device: "cpu",
  ...(budgetGB ? { memoryBudget: `${budgetGB}GB` } : {}),
  log: (_level, message) => {
    const m = LOADED.exec(message);
    if (m) {
      const end = now();
      loads.push({ label: m[1], bytes: Number(m[2]) * 1e6, ms: Number(m[3]) * 1000, start: end - Number(m[3]) * 1000, end });
    }
    if (/^(unloaded|released) /.test(message)) evictions.push(message);
    say(`  ${message}`);
  },
});
const { url } = await server.listen(0, "127.0.0.1");
await server.dispatcher.ready();
const socket = io(url, { transports: ["websocket"], forceNew: true });
await new Promise<void>((resolve, reject) => { socket.once("connect", () => resolve()); socket.once("connect_error", reject); });

function workflow(seed: number) {
  const wf = JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8"));
  for (const n of wf.nodes) {
    if (n.type === "LoadCascadePack") n.inputs.pack = option("pack", "lite-fp32");
    if (n.id === "4") Object.assign(n.inputs, { width: image, height: image, compression: 42 });
    if (n.id === "5") Object.assign(n.inputs, { steps: Number(option("steps-c", "20")), seed });
    if (n.id === "7") Object.assign(n.inputs, { steps: Number(option("steps-b", "10")), seed });
    if (n.id === "9") n.inputs.prefix = `real-${seed}`;
  }
  return wf;
}

// Busy intervals: a sampler step runs from the previous step's report to its own; the first step,
// whose start is not reported (the stage's load comes before it), is taken to last as long as the
// second.
let busy: [number, number][] = [];
let lastStep: { nodeId: string; at: number; first?: number } | undefined;
const nodeMs: Record<string, number> = {};
const nodeType = new Map<string, string>();
let runningNode = "";
socket.on("node:start", (e: { nodeId: string; type: string }) => {
  nodeType.set(e.nodeId, e.type);
  runningNode = `${e.nodeId} ${e.type}`;
  say(`node ${e.nodeId} ${e.type}`);
});
socket.on("node:progress", (e: { nodeId: string; step: number; total: number }) => {
  const t = now();
  if (lastStep?.nodeId === e.nodeId) {
    busy.push([lastStep.at, t]);
    if (lastStep.first !== undefined) busy.push([lastStep.first - (t - lastStep.at), lastStep.first]);
    lastStep = { nodeId: e.nodeId, at: t };
  } else {
    lastStep = { nodeId: e.nodeId, at: t, first: t };
  }
  say(`  node ${e.nodeId}: step ${e.step}/${e.total}`);
});
// The executor's resident memory, sampled, its peak kept per node.
const rssPeakByNode: Record<string, number> = {};
const sampler = setInterval(() => {
  const pid = server.dispatcher.executorPid;
  if (!pid || !runningNode) return;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    rssPeakByNode[runningNode] = Math.max(rssPeakByNode[runningNode] ?? 0, kb * 1024);
  } catch {
    // the executor is between processes
  }
}, 250);
socket.on("node:done", (e: { nodeId: string; ms: number }) => {
  nodeMs[`${e.nodeId} ${nodeType.get(e.nodeId) ?? ""}`.trim()] = e.ms;
});
const overlapMs = (start: number, end: number) => busy.reduce((s, [a, b]) => s + Math.max(0, Math.min(b, end) - Math.max(a, start)), 0);

const prompts = [];
try {
  for (let i = 0; i < Number(option("prompts", "1")); i++) {
    busy = [];
    for (const k of Object.keys(nodeMs)) delete nodeMs[k];
    const firstLoad = loads.length;
    const started = now();
    const res = await fetch(`${url}/api/prompt`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ workflow: workflow(1000 + i) }) });
    const body = await res.json() as { promptId?: string };
    if (!res.ok || !body.promptId) throw new Error(`the prompt was refused (${res.status}): ${JSON.stringify(body)}`);
    const done = await new Promise<{ modelMs?: number }>((resolve, reject) => {
      socket.on("execution:done", (e: { promptId: string; modelMs?: number }) => { if (e.promptId === body.promptId) resolve(e); });
      socket.on("execution:error", (e: { promptId: string; message: string }) => { if (e.promptId === body.promptId) reject(new Error(e.message)); });
    });
    socket.off("execution:done");
    socket.off("execution:error");
    const wallMs = now() - started;
    const mine = loads.slice(firstLoad);
    prompts.push({
      wallMs, nodeMs: { ...nodeMs }, modelMs: done.modelMs ?? 0,
      loadMs: mine.reduce((s, l) => s + l.ms, 0),
      loads: mine.map((l) => l.label),
      loadOverlapMs: mine.reduce((s, l) => s + overlapMs(l.start, l.end), 0),
    });
  }
  // The executor's peak resident memory (its models, arenas and tensors), from the kernel.
  const pid = server.dispatcher.executorPid;
  const status = pid ? readFileSync(`/proc/${pid}/status`, "utf8") : "";
  const hwmKB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const system = await (await fetch(`${url}/api/system`)).json() as { memoryBudget: number };
  console.log(JSON.stringify({ image, budgetBytes: system.memoryBudget, prompts, rssPeakByNode, loads: loads.map(({ label, ms, bytes }) => ({ label, ms, bytes })), evictions: evictions.length, peakRssBytes: hwmKB * 1024 }));
} finally {
  clearInterval(sampler);
  socket.close();
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
