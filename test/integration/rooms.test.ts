// Events to their own clients: each browser hears the progress and previews of the prompts it
// queued or opened; the queue status and the ends of prompts reach everyone. And the queue takes
// clients in turn. A real server, real socket.io clients.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { io, type Socket } from "socket.io-client";
import { link, startServer, workflow, type Running } from "./harness.ts";

const slow = (steps: number, ms: number, color: string) => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "2", type: "TestSlowPassthrough", inputs: { image: link("1", "image"), steps, ms } },
  { id: "3", type: "PreviewImage", inputs: { image: link("2", "image") } },
]);

interface Listener { socket: Socket; events: { name: string; payload: any }[] }

async function connect(url: string, clientId: string): Promise<Listener> {
  const socket = io(url, { transports: ["websocket"], forceNew: true, query: { clientId } });
  const events: Listener["events"] = [];
  socket.onAny((name: string, payload: any) => events.push({ name, payload }));
  await new Promise<void>((resolve, reject) => { socket.once("connect", () => resolve()); socket.once("connect_error", reject); });
  return { socket, events };
}

const about = (l: Listener, promptId: string, name: string) => l.events.filter((e) => e.name === name && e.payload?.promptId === promptId);

describe("socket.io rooms", () => {
  let s: Running;
  let a: Listener, b: Listener, c: Listener;
  before(async () => {
    s = await startServer({ previewIntervalMs: 0 });
    [a, b, c] = await Promise.all([connect(s.url, "client-a"), connect(s.url, "client-b"), connect(s.url, "client-c")]);
  });
  after(async () => {
    for (const l of [a, b, c]) l.socket.close();
    await s.stop();
  });

  it("sends a prompt's previews and progress to the client that queued it, never to another", async () => {
    const { body: mine } = await s.post("/api/prompt", { workflow: slow(4, 20, "#ff0000"), clientId: "client-a" });
    const { body: theirs } = await s.post("/api/prompt", { workflow: slow(4, 20, "#0000ff"), clientId: "client-b" });
    await s.waitSettled(mine.promptId);
    await s.waitSettled(theirs.promptId);
    // The end of a prompt reaches everyone; wait for it on both sockets.
    await until(() => about(a, theirs.promptId, "execution:done").length > 0 && about(b, mine.promptId, "execution:done").length > 0);

    assert.equal(about(a, mine.promptId, "node:preview").length, 4);
    assert.equal(about(a, mine.promptId, "node:progress").length, 4);
    assert.equal(about(b, theirs.promptId, "node:preview").length, 4);
    for (const name of ["node:preview", "node:progress", "node:start", "execution:start"]) {
      assert.deepEqual(about(a, theirs.promptId, name), [], `client A heard B's ${name}`);
      assert.deepEqual(about(b, mine.promptId, name), [], `client B heard A's ${name}`);
    }
    assert.ok(a.events.some((e) => e.name === "status"), "status reaches every client");
    assert.ok(b.events.some((e) => e.name === "status"), "status reaches every client");
  });

  it("sends a prompt's previews to a client that opened it", async () => {
    const { body } = await s.post("/api/prompt", { workflow: slow(30, 30, "#00ff00"), clientId: "client-a" });
    await until(() => about(a, body.promptId, "node:progress").length > 0);
    c.socket.emit("prompt:open", body.promptId);
    await s.waitSettled(body.promptId);
    await until(() => about(c, body.promptId, "execution:done").length > 0);
    assert.ok(about(c, body.promptId, "node:preview").length > 0, "the opener hears the previews after it opened the prompt");
    assert.deepEqual(about(b, body.promptId, "node:preview"), []);
  });

  it("does not let one client's twenty prompts starve another client's single prompt", async () => {
    // Queued faster than they run (each takes about 200 ms), so they wait in the queue.
    const many = (await Promise.all(Array.from({ length: 20 }, (_, i) =>
      s.post("/api/prompt", { workflow: slow(2, 100, `#0000${(i + 16).toString(16)}`), clientId: "client-a" })))).map((r) => r.body.promptId as string);
    const { body: single } = await s.post("/api/prompt", { workflow: slow(2, 100, "#123456"), clientId: "client-b" });
    const waitingThen = many.filter((id) => s.server.store.get(id)!.status === "pending");
    assert.ok(waitingThen.length >= 10, "client A's prompts were waiting in the queue when B queued");
    const entry = await s.waitSettled(single.promptId);
    assert.equal(entry.status, "done");
    const startedBeforeB = waitingThen.filter((id) => { const at = s.server.store.get(id)!.startedAt; return at !== undefined && at < entry.startedAt; });
    // B's prompt runs as soon as the one running when it was queued ends: none of A's waiting ones goes first.
    assert.deepEqual(startedBeforeB, [], `client A's waiting prompts started before client B's one`);
    assert.ok(many.some((id) => s.server.store.get(id)!.status === "pending"), "client A still had prompts waiting when B's ran");
    await fetch(`${s.url}/api/queue`, { method: "DELETE" });
    for (const id of many) await s.waitSettled(id);
  });
});

async function until(check: () => boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
