// Executor workers on BullMQ: a real redis-server, real `sluice worker` processes, a real server.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { FIXTURE_PACKS, imageBytes, link, startServer, template, withInputs, workflow, type Running } from "./harness.ts";
import { startRedis, type RedisProcess } from "./redis-harness.ts";
import { startWorker, type WorkerProcess } from "./worker-process.ts";

/** The bundled text-to-image template on the tiny pack, few steps, one seed. */
const tinyPrompt = (seed: number) => withInputs(withInputs(template("text-to-image", "tiny"), "5", { steps: 3, seed }), "7", { steps: 2 });

const slow = (steps: number, ms: number, color = "#00ff00") => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "2", type: "TestSlowPassthrough", inputs: { image: link("1", "image"), steps, ms } },
  { id: "3", type: "SaveImage", inputs: { image: link("2", "image"), prefix: "slow" } },
]);

const startedOn = (s: Running, promptId: string) => s.events.filter((e) => e.name === "execution:start" && e.payload.promptId === promptId).map((e) => e.payload.worker as string);

describe("workers: two worker processes and a server", () => {
  let redis: RedisProcess;
  let workers: WorkerProcess[] = [];
  let s: Running;
  let local: Running;
  before(async () => {
    redis = await startRedis();
    workers = await Promise.all([startWorker(redis.url, "w1"), startWorker(redis.url, "w2", { extra: ["--memory-budget", "2GB"] })]);
    s = await startServer({ redisUrl: redis.url });
  });
  after(async () => {
    await s?.stop();
    await local?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.dispose();
  });

  it("spreads 20 prompts over both workers, and their images are byte-identical to the local executor's", async () => {
    const seeds = Array.from({ length: 20 }, (_, i) => 1000 + i);
    const ids = await Promise.all(seeds.map(async (seed) => (await s.post("/api/prompt", { workflow: tinyPrompt(seed) })).body.promptId as string));
    const entries = [];
    for (const id of ids) entries.push(await s.waitSettled(id, 180000));
    assert.deepEqual(entries.map((e) => e.status), seeds.map(() => "done"));
    const ranOn = new Map<string, number>();
    for (const id of ids) for (const w of startedOn(s, id)) ranOn.set(w, (ranOn.get(w) ?? 0) + 1);
    assert.ok((ranOn.get("w1") ?? 0) > 0 && (ranOn.get("w2") ?? 0) > 0, `each worker ran some: ${JSON.stringify([...ranOn])}`);
    // Each worker loaded Stage C for the first prompt it ran, and said so through Redis.
    const loadedFor = s.events.filter((e) => e.name === "model:loading" && e.payload.label === "prior/model.onnx" && e.payload.phase === "loaded").map((e) => e.payload.promptId);
    assert.deepEqual(new Set(loadedFor.flatMap((id) => startedOn(s, id))), new Set(["w1", "w2"]));

    local = await startServer();
    for (const [i, seed] of seeds.entries()) {
      const { body } = await local.post("/api/prompt", { workflow: tinyPrompt(seed) });
      const mine = await local.waitSettled(body.promptId, 60000);
      assert.equal(mine.status, "done");
      assert.ok((await imageBytes(s, entries[i])).equals(await imageBytes(local, mine)), `seed ${seed}: the worker's PNG differs from the local executor's`);
    }
  });

  it("a worker keeps its model sessions within its --memory-budget, and says so when it starts", () => {
    assert.match(workers.find((w) => w.name === "w2")!.output(), /worker w2 \(.*; model memory budget 2\.0 GB; packs/);
  });

  it("a prompt whose worker is SIGKILLed mid-run finishes on the other worker", async () => {
    const { body } = await s.post("/api/prompt", { workflow: slow(40, 100) });
    await s.waitFor("node:progress", (p) => p.promptId === body.promptId && p.step >= 3);
    const [first] = startedOn(s, body.promptId);
    const victim = workers.find((w) => w.name === first)!;
    await victim.kill();
    const entry = await s.waitSettled(body.promptId, 60000);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    const runs = startedOn(s, body.promptId);
    assert.equal(runs.length, 2, `started on ${runs.join(", ")}`);
    assert.notEqual(runs[1], first);
    assert.equal((await imageBytes(s, entry, "3")).length > 0, true);
    // The killed worker comes back for the tests after this one.
    workers[workers.indexOf(victim)] = await startWorker(redis.url, victim.name);
  });

  it("sends cancel to the worker running the prompt", async () => {
    const { body } = await s.post("/api/prompt", { workflow: slow(200, 50, "#0000ff") });
    await s.waitFor("node:progress", (p) => p.promptId === body.promptId && p.step >= 2);
    assert.equal((await fetch(`${s.url}/api/queue/${body.promptId}`, { method: "DELETE" })).status, 200);
    const entry = await s.waitSettled(body.promptId, 30000);
    assert.equal(entry.status, "cancelled");
  });

  it("fails a prompt whose pack no worker has, naming the pack", async () => {
    const other = await startServer({ redisUrl: redis.url, modelsDir: FIXTURE_PACKS });
    try {
      const wf = withInputs(withInputs(template("text-to-image", "random"), "5", { steps: 2 }), "7", { steps: 2 });
      const { status, body } = await other.post("/api/prompt", { workflow: wf });
      assert.equal(status, 200, JSON.stringify(body));
      const entry = await other.waitSettled(body.promptId, 30000);
      assert.equal(entry.status, "failed");
      assert.match(entry.error.message, /no worker has the pack.*"random"/);
    } finally {
      await other.stop();
    }
  });
});

describe("workers: gates as checkpoints", () => {
  let redis: RedisProcess;
  let worker: WorkerProcess;
  let s: Running | undefined;
  before(async () => {
    redis = await startRedis();
    worker = await startWorker(redis.url, "gw");
  });
  after(async () => {
    await s?.stop();
    await worker?.stop();
    await redis?.dispose();
  });

  it("a gate answered after a server restart resumes from its checkpoint without running Stage C again", async () => {
    const first = await startServer({ redisUrl: redis.url });
    const wf = withInputs(withInputs(template("gated-review", "tiny"), "5", { steps: 3, seed: 31 }), "7", { steps: 2 });
    const { body } = await first.post("/api/prompt", { workflow: wf });
    const waiting = await first.waitFor("gate:waiting", (p) => p.promptId === body.promptId, 60000);
    assert.equal(waiting.nodeId, "10");
    await first.stop({ keepHome: true });

    s = await startServer({ redisUrl: redis.url, home: first.home });
    const queue = (await s.get("/api/queue")).body;
    assert.deepEqual(queue.waiting.map((w: { promptId: string }) => w.promptId), [body.promptId], "the prompt still waits after the restart");
    const answer = await s.post(`/api/prompt/${body.promptId}/gate/10`, { action: "continue" });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const entry = await s.waitSettled(body.promptId, 60000);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
    const ranAfterRestart = s.events.filter((e) => e.name === "node:start" && e.payload.promptId === body.promptId).map((e) => e.payload.nodeId);
    assert.ok(!ranAfterRestart.includes("5"), `Stage C ran again: ${ranAfterRestart.join(", ")}`);
    assert.ok(ranAfterRestart.includes("7") && ranAfterRestart.includes("9"), `Stage B and the save ran: ${ranAfterRestart.join(", ")}`);
    assert.deepEqual(entry.executed.filter((id: string) => id === "5"), ["5"], "the record shows Stage C (it ran before the gate)");
    assert.ok((await imageBytes(s, entry)).length > 0);
  });
});

describe("workers: Redis restarted mid-queue", () => {
  let redis: RedisProcess;
  let worker: WorkerProcess;
  let s: Running;
  const logs: string[] = [];
  before(async () => {
    // No persistence: the restarted Redis is empty, as after losing its data.
    redis = await startRedis({ appendOnly: false });
    worker = await startWorker(redis.url, "rw");
    s = await startServer({ redisUrl: redis.url, log: (_level, message) => { logs.push(message); } });
  });
  after(async () => {
    await s?.stop();
    await worker?.stop();
    await redis?.dispose();
  });

  it("loses no queued prompt: the server queues again from SQLite what Redis lost", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await s.post("/api/prompt", { workflow: slow(8, 50, `#00${(i + 16).toString(16)}00`) })).body.promptId);
    await s.waitFor("node:progress", (p) => p.promptId === ids[0] && p.step >= 2);
    await redis.kill();
    await redis.start();
    for (const id of ids) {
      const entry = await s.waitSettled(id, 90000);
      assert.equal(entry.status, "done", `${id}: ${JSON.stringify(entry.error)}`);
    }
    assert.ok(logs.some((line) => /queued \d+ prompt\(s\) again that Redis had lost/.test(line)), `the server re-enqueued: ${logs.join("\n")}`);
  });
});

describe("workers: a prompt whose workers keep dying", () => {
  let redis: RedisProcess;
  let workers: WorkerProcess[] = [];
  let s: Running;
  before(async () => {
    redis = await startRedis();
    s = await startServer({ redisUrl: redis.url });
  });
  after(async () => {
    await s?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.dispose();
  });

  it("fails with a message saying so once it lost its worker more often than allowed", async () => {
    workers.push(await startWorker(redis.url, "doomed", { maxStalled: 0 }));
    const { body } = await s.post("/api/prompt", { workflow: slow(100, 100, "#ff00ff") });
    await s.waitFor("node:progress", (p) => p.promptId === body.promptId && p.step >= 2);
    await workers[0].kill();
    // The next worker's stalled-job check finds the dead worker's job and, allowed no losses, fails it.
    workers.push(await startWorker(redis.url, "witness", { maxStalled: 0 }));
    const entry = await s.waitSettled(body.promptId, 60000);
    assert.equal(entry.status, "failed");
    assert.match(entry.error.message, /^the workers running this prompt stopped before it finished, more often than allowed/);
  });
});
