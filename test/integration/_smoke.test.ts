import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { startRedis, type RedisProcess } from "./redis-harness.ts";
import { startWorker, type WorkerProcess } from "./worker-process.ts";
import { startServer, template, withInputs, type Running } from "./harness.ts";
let redis: RedisProcess, w: WorkerProcess, s: Running;
before(async () => { redis = await startRedis(); w = await startWorker(redis.url, "w1"); s = await startServer({ redisUrl: redis.url, log: (l, m) => console.log(l, m) }); });
after(async () => { await s?.stop(); await w?.stop(); await redis?.dispose(); });
it("runs one", async () => {
  const t0 = Date.now();
  const { body } = await s.post("/api/prompt", { workflow: withInputs(template("text-to-image", "tiny"), "5", { steps: 4 }) });
  const entry = await s.waitSettled(body.promptId);
  console.log(Date.now() - t0, JSON.stringify(entry).slice(0, 500));
  console.log(s.events.map((e) => e.name).join(" "));
  console.log(w.output());
  assert.equal(entry.status, "done");
});
