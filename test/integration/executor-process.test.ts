// The executor as a supervised child process: killed, crashed or stuck, it takes only the prompts
// it held with it (failed or cancelled with the cause), a new executor starts and the queue goes on.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { link, startServer, workflow, type Running } from "./harness.ts";

const slow = (steps: number, ms: number, color = "#00ff00") => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "7", type: "TestSlowPassthrough", inputs: { image: link("1", "image"), steps, ms } },
  { id: "3", type: "PreviewImage", inputs: { image: link("7", "image") } },
]);

const quick = (color: string) => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "2", type: "PreviewImage", inputs: { image: link("1", "image") } },
]);

const gated = (color: string) => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "5", type: "Gate", inputs: { value: link("1", "image") } },
  { id: "3", type: "PreviewImage", inputs: { image: link("5", "value") } },
]);

/** Waits until the server runs a new executor (after a death) that is ready. */
async function newExecutor(s: Running, oldPid: number): Promise<number> {
  for (;;) {
    const { body } = await s.get("/api/system");
    if (body.executor.pid !== oldPid && body.device !== "starting") return body.executor.pid;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the executor process", () => {
  let s: Running;
  before(async () => { s = await startServer(); });
  after(async () => { await s.stop(); });

  it("runs in its own process, not the server's", async () => {
    const { body } = await s.get("/api/system");
    assert.equal(typeof body.executor.pid, "number");
    assert.notEqual(body.executor.pid, process.pid);
  });

  it("killed with SIGKILL during a run: that prompt fails naming the cause and the node, and the next prompt finishes", async () => {
    const pid = s.server.dispatcher.executorPid!;
    const victim = (await s.post("/api/prompt", { workflow: slow(500, 20) })).body.promptId;
    const next = (await s.post("/api/prompt", { workflow: quick("#102030") })).body.promptId;
    await s.waitFor("node:progress", (p) => p.promptId === victim && p.nodeId === "7");
    process.kill(pid, "SIGKILL");

    const entry = await s.waitSettled(victim);
    assert.equal(entry.status, "failed");
    assert.match(entry.error.message, /^the executor was killed \(SIGKILL, likely out of memory\) while node 7 TestSlowPassthrough ran \(step \d+ of 500\)$/);
    assert.equal(entry.error.node, "7");
    const event = await s.waitFor("execution:error", (p) => p.promptId === victim);
    assert.match(event.message, /SIGKILL/);

    assert.equal((await s.waitSettled(next)).status, "done");
    assert.notEqual(await newExecutor(s, pid), pid);
    const after = (await s.post("/api/prompt", { workflow: quick("#203040") })).body.promptId;
    assert.equal((await s.waitSettled(after)).status, "done", "the queue goes on after the restart");
  });

  it("an uncaught error in the executor fails the running prompt with that error, and a new executor runs the next", async () => {
    const pid = s.server.dispatcher.executorPid!;
    const crashing = workflow([
      { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8 } },
      { id: "4", type: "TestCrashesExecutor", inputs: { image: link("1", "image"), reason: "native heap corrupted" } },
      { id: "3", type: "PreviewImage", inputs: { image: link("4", "image") } },
    ]);
    const victim = (await s.post("/api/prompt", { workflow: crashing })).body.promptId;
    const entry = await s.waitSettled(victim);
    assert.equal(entry.status, "failed");
    assert.equal(entry.error.message, "the executor stopped on an error (native heap corrupted) while node 4 TestCrashesExecutor ran");
    await newExecutor(s, pid);
    assert.equal((await s.waitSettled((await s.post("/api/prompt", { workflow: quick("#304050") })).body.promptId)).status, "done");
  });

  it("a prompt paused at a gate holds nothing in the executor: it survives the executor's death and finishes when continued", async () => {
    const pid = s.server.dispatcher.executorPid!;
    const waiting = (await s.post("/api/prompt", { workflow: gated("#405060") })).body.promptId;
    await s.waitFor("gate:waiting", (p) => p.promptId === waiting);
    process.kill(pid, "SIGKILL");
    await newExecutor(s, pid);
    assert.equal((await s.get(`/api/history/${waiting}`)).body.status, "waiting");
    assert.equal((await s.post(`/api/prompt/${waiting}/gate/5`, { action: "continue" })).status, 200);
    const entry = await s.waitSettled(waiting);
    assert.equal(entry.status, "done", JSON.stringify(entry.error));
  });

  it("cancel of a running prompt is answered and the prompt ends cancelled", async () => {
    const running = (await s.post("/api/prompt", { workflow: slow(500, 20, "#506070") })).body.promptId;
    await s.waitFor("node:progress", (p) => p.promptId === running);
    const res = await s.post("/api/interrupt", { promptId: running });
    assert.deepEqual(res.body, { interrupted: true });
    const entry = await s.waitSettled(running);
    assert.equal(entry.status, "cancelled");
    assert.equal(entry.error, undefined, "a sampler that stops within a step needs no restart");
  });

  it("cancel of a node stuck in one long call ends its executor, cancels the prompt, and the queue goes on", async () => {
    const pid = s.server.dispatcher.executorPid!;
    // Steps that block the executor's thread for 10 s each, as a native call does.
    const stuck = (await s.post("/api/prompt", { workflow: slow(6, 10000, "#607080") })).body.promptId;
    const next = (await s.post("/api/prompt", { workflow: quick("#708090") })).body.promptId;
    await s.waitFor("node:start", (p) => p.promptId === stuck && p.nodeId === "7");
    const del = await fetch(`${s.url}/api/queue/${stuck}`, { method: "DELETE" });
    assert.equal(del.status, 200);
    // Settles before the blocked call returns.
    const entry = await s.waitSettled(stuck, 9000);
    assert.equal(entry.status, "cancelled");
    assert.match(entry.error.message, /did not stop when cancelled, so it was ended and restarted/);
    await s.waitFor("execution:interrupted", (p) => p.promptId === stuck);
    assert.equal((await s.waitSettled(next)).status, "done");
    assert.notEqual(await newExecutor(s, pid), pid);
  });
});
