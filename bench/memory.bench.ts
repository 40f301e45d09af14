// Memory estimates against measured peak RSS: templates/text-to-image.json on a pack (the tiny
// pack by default) at sizes from 64 px up, each run in its own child process (bench/memory-child.ts)
// so each peak is that size's own. Sizes whose estimate exceeds --max are not run, only listed as
// refused: the estimate is what keeps a big size from taking the machine down.
//
//   npm run bench:memory [-- --pack tiny --sizes 64,128,256 --max 4GB]
//
// Prints "size | estimate | measured | ratio | RSS after" and writes bench/results/memory.json.
// measured = peak RSS of the child minus its RSS before the run (the runtime loaded, no session);
// RSS after = what the run left resident, on the same basis.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRegistry } from "../nodes/index.ts";
import { estimatePlan, formatBytes, parseWorkflow } from "../server/engine/index.ts";
import { parseByteSize, readPackMemoryInfo } from "../server/runtime/index.ts";
import { option } from "./options.ts";

const ROOT = join(import.meta.dirname, "..");
const packName = option("pack", "tiny");
const modelsDir = option("models", join(ROOT, "models"));
const maxBytes = parseByteSize(option("max", "4GB"));
// Square sizes at the tiny pack's compression 8, then the two sizes known to take a server down.
const square = option("sizes", "64,128,192,256,320,384,448,512,768,1024").split(",").map(Number);
const cases = [
  ...square.map((s) => ({ width: s, height: s, compression: 8 })),
  { width: 8192, height: 64, compression: 8 },
  { width: 1024, height: 1024, compression: 42 },
];

const registry = createRegistry();
const template = JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8"));
function estimate(c: { width: number; height: number; compression: number }): number {
  const wf = parseWorkflow(structuredClone(template));
  for (const n of wf.nodes) {
    if (n.type === "LoadCascadePack") n.inputs.pack = packName;
    if (n.type === "EmptyCascadeLatent") Object.assign(n.inputs, c);
  }
  return estimatePlan(wf, (t) => registry.get(t), (name) => readPackMemoryInfo(modelsDir, name)).peakBytes;
}

interface Row { size: string; compression: number; estimate: number; measured?: number; peakRss?: number; rssAfter?: number; ratio?: number; ms?: number; refused?: boolean }
const rows: Row[] = [];
// Written after every row, so a long run interrupted keeps what it measured.
const save = () => {
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "memory.json"), `${JSON.stringify({ pack: packName, maxBytes, date: new Date().toISOString(), rows }, null, 2)}\n`);
};
const mb = (b: number) => `${(b / 1024 ** 2).toFixed(0)} MB`;
console.log(`pack ${packName}; sizes with an estimate over ${formatBytes(maxBytes)} are not run\n`);
console.log("| size | estimate | measured | ratio | RSS after | peak RSS | time |");
console.log("|---|---|---|---|---|---|---|");
// Sizes refused by the limit first (they take no time), then the runs from small to large.
const planned = cases.map((c) => ({ ...c, est: estimate(c) }));
for (const c of [...planned.filter((p) => p.est > maxBytes), ...planned.filter((p) => p.est <= maxBytes)]) {
  const size = `${c.width}×${c.height} c${c.compression}`;
  const est = c.est;
  if (est > maxBytes) {
    rows.push({ size, compression: c.compression, estimate: est, refused: true });
    console.log(`| ${size} | ${formatBytes(est)} | refused by budget (estimate ${formatBytes(est)}) | | | | |`);
    save();
    continue;
  }
  const out = execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", join(import.meta.dirname, "memory-child.ts"),
    "--pack", packName, "--models", modelsDir, "--width", String(c.width), "--height", String(c.height), "--compression", String(c.compression)], { encoding: "utf8" });
  const m = JSON.parse(out.trim().split("\n").at(-1)!) as { before: number; peak: number; after: number; ms: number };
  const measured = m.peak - m.before;
  const row: Row = { size, compression: c.compression, estimate: est, measured, peakRss: m.peak, rssAfter: m.after - m.before, ratio: measured / est, ms: m.ms };
  rows.push(row);
  console.log(`| ${size} | ${mb(est)} | ${mb(measured)} | ${row.ratio!.toFixed(2)} | ${mb(row.rssAfter!)} | ${mb(m.peak)} | ${(m.ms / 1000).toFixed(1)} s |`);
  save();
}
const over = rows.filter((r) => r.ratio !== undefined && r.ratio > 1);
console.log(over.length ? `\nNOT CONSERVATIVE: measured above the estimate at ${over.map((r) => r.size).join(", ")}` : "\nevery size run measured at or under its estimate");
