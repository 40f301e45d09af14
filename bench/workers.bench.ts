// Throughput of BullMQ workers: the same prompts (the tiny pack's text-to-image template, few
// steps, one seed each) through a server on Redis with one worker process, then with two.
// On a machine with two cores, two CPU workers share them, so expect a ratio up to 2 (one worker
// already uses both cores inside ONNX Runtime); on two GPUs, near 2.
//
//   npm run bench:workers [-- --prompts 12 --steps 4]
//
// Prints a table and "workers: 2 vs 1 throughput ratio: X.XX"; writes bench/results/workers.json.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { startServer, template, withInputs, type Running } from "../test/integration/harness.ts";
import { startRedis } from "../test/integration/redis-harness.ts";
import { startWorker, type WorkerProcess } from "../test/integration/worker-process.ts";
import { option } from "./options.ts";

const ROOT = join(import.meta.dirname, "..");
const prompts = Number(option("prompts", "12"));
const steps = Number(option("steps", "4"));

const prompt = (seed: number) => withInputs(withInputs(template("text-to-image", "tiny"), "5", { steps, seed }), "7", { steps });

/** Queues `count` prompts at once and returns prompts per second from the first queued to the last done. */
async function throughput(s: Running, firstSeed: number, count: number): Promise<number> {
  const started = performance.now();
  const ids = await Promise.all(Array.from({ length: count }, async (_, i) => (await s.post("/api/prompt", { workflow: prompt(firstSeed + i) })).body.promptId as string));
  for (const id of ids) {
    const entry = await s.waitSettled(id, 600000);
    if (entry.status !== "done") throw new Error(`prompt ${id} ended ${entry.status}: ${JSON.stringify(entry.error)}`);
  }
  return count / ((performance.now() - started) / 1000);
}

const redis = await startRedis();
const workers: WorkerProcess[] = [];
const s = await startServer({ redisUrl: redis.url });
try {
  workers.push(await startWorker(redis.url, "bench-1"));
  // Warm-up: sessions load and the JIT compiles before anything is timed.
  await throughput(s, 1, 2);
  const one = await throughput(s, 100, prompts);
  workers.push(await startWorker(redis.url, "bench-2"));
  await throughput(s, 2000, 2);
  const two = await throughput(s, 3000, prompts);
  const ratio = two / one;
  console.log(`\nprompts per second (${prompts} prompts each, tiny pack, ${steps} steps per stage, ${cpus().length} cores)`);
  console.log(`  1 worker    ${one.toFixed(2)}`);
  console.log(`  2 workers   ${two.toFixed(2)}`);
  console.log(`\nworkers: 2 vs 1 throughput ratio: ${ratio.toFixed(2)}`);
  writeFileSync(join(ROOT, "bench", "results", "workers.json"), JSON.stringify({
    date: new Date().toISOString(), cores: cpus().length, prompts, steps, promptsPerSecond: { oneWorker: one, twoWorkers: two }, ratio,
  }, null, 2) + "\n");
  console.log("wrote bench/results/workers.json");
} finally {
  await s.stop();
  await Promise.all(workers.map((w) => w.stop()));
  await redis.dispose();
}
