// Sluice's runtime against PyTorch on the same weights: one Stage C and one Stage B step (a CFG
// batch of two), same shapes, same thread count, side by side in one run.
//
//   npm run bench:torch [-- --runs 30 --threads N]
//
// Needs Debian's python3-torch (with libopenblas0-pthread) and the tiny pack's training checkpoint
// (tools/tiny/checkpoints/final.pt, which models/tiny was exported from). PyTorch runs in its best
// configuration here: OpenBLAS, and both OpenMP wait policies tried (spinning threads can halve its
// speed on two cores); the faster one counts.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { loadPack, SessionCache } from "../server/runtime/index.ts";
import { option } from "./options.ts";

const ROOT = join(import.meta.dirname, "..");
const runs = Number(option("runs", "30"));
const threads = Number(option("threads", String(availableParallelism())));
const ckpt = option("ckpt", join(ROOT, "tools", "tiny", "checkpoints", "final.pt"));
if (!existsSync(ckpt)) {
  console.error(`no training checkpoint at ${ckpt}: train the tiny pack first (tools/tiny/EVAL.md says how), or pass --ckpt`);
  process.exit(2);
}

const sessions = new SessionCache({ device: "cpu" });
const pack = await loadPack(join(ROOT, "models", "tiny"), { sessions });
const D = pack.manifest.textEncoder.width;
const h = 8;
const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
const xc = { data: rand(2 * 16 * h * h), shape: [2, 16, h, h] };
const r = new Float32Array([0.5, 0.5]);
const pooled = { data: rand(2 * D), shape: [2, 1, D] };
const text = { data: rand(2 * 77 * D), shape: [2, 77, D] };
const img = { data: new Float32Array(2 * 768), shape: [2, 1, 768] };
const xb = { data: rand(2 * 4 * 4 * h * h), shape: [2, 4, 2 * h, 2 * h] };

async function timed(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

// Interleave the two sides so a noisy machine affects both alike: ORT, torch, ORT again.
const ort1 = { c: await timed(() => pack.runStageC(xc, r, text, pooled, img)), b: await timed(() => pack.runStageB(xb, r, pooled, xc)) };
interface TorchSide { torch: string; blas: string; stageCMs: number; stageBMs: number; policy: string }
const torchRuns: TorchSide[] = ["ACTIVE", "PASSIVE"].map((policy) => {
  const py = spawnSync("/usr/bin/python3", [join(ROOT, "bench", "torch", "step_torch.py"), "--threads", String(threads), "--runs", String(runs), "--ckpt", ckpt],
    { encoding: "utf8", env: { ...process.env, OMP_WAIT_POLICY: policy } });
  if (py.status !== 0) {
    console.error(`PyTorch side failed:\n${py.stderr}`);
    process.exit(1);
  }
  return { ...JSON.parse(py.stdout.trim().split("\n").at(-1)!), policy };
});
const best = (stage: "stageCMs" | "stageBMs") => torchRuns.reduce((a, b) => (b[stage] < a[stage] ? b : a));
const torch = { torch: torchRuns[0].torch, blas: torchRuns[0].blas, stageCMs: best("stageCMs").stageCMs, stageBMs: best("stageBMs").stageBMs };
const policies = `OpenMP waits: Stage C ${best("stageCMs").policy.toLowerCase()}, Stage B ${best("stageBMs").policy.toLowerCase()}`;
const ort2 = { c: await timed(() => pack.runStageC(xc, r, text, pooled, img)), b: await timed(() => pack.runStageB(xb, r, pooled, xc)) };
const ortC = Math.min(ort1.c, ort2.c), ortB = Math.min(ort1.b, ort2.b);

const row = (name: string, t: number, o: number) => `${name.padEnd(26)} ${t.toFixed(2).padStart(10)} ${o.toFixed(2).padStart(12)} ${(t / o).toFixed(2).padStart(8)}×`;
console.log(`\none sampler step, CFG batch of 2, ${threads} threads (median of ${runs}); PyTorch ${torch.torch} (${torch.blas}; ${policies})`);
console.log(`${"".padEnd(26)} ${"torch ms".padStart(10)} ${"sluice ms".padStart(12)} ${"speed-up".padStart(9)}`);
console.log(row(`Stage C [2,16,${h},${h}]`, torch.stageCMs, ortC));
console.log(row(`Stage B [2,4,${2 * h},${2 * h}]`, torch.stageBMs, ortB));

mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "torch-compare.json"), JSON.stringify({
  date: new Date().toISOString(), threads, runs, torch: torch.torch, blas: torch.blas,
  torchRuns: torchRuns.map(({ policy, stageCMs, stageBMs }) => ({ ompWaitPolicy: policy, stageCMs, stageBMs })),
  stageC: { torchMs: torch.stageCMs, sluiceMs: ortC, ratio: torch.stageCMs / ortC },
  stageB: { torchMs: torch.stageBMs, sluiceMs: ortB, ratio: torch.stageBMs / ortB },
}, null, 2) + "\n");
await sessions.clear();
