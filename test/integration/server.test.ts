// The server end to end: a real HTTP server, the worker thread, SQLite in a temp dir, socket.io.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { readPngText } from "../../server/media/png.ts";
import { crash, link, startServer, workflow, type Running } from "./harness.ts";

const redToSave = (color = "#ff0000") => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 32, height: 24, color } },
  { id: "2", type: "SaveImage", inputs: { image: link("1", "image"), prefix: "test" } },
]);

const slow = (steps: number, ms: number, color = "#00ff00") => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "2", type: "TestSlowPassthrough", inputs: { image: link("1", "image"), steps, ms } },
  { id: "3", type: "PreviewImage", inputs: { image: link("2", "image") } },
]);

describe("server", () => {
  let s: Running;
  before(async () => { s = await startServer(); });
  after(async () => { await s.stop(); });

  it("runs EmptyImage → SaveImage and keeps a PNG carrying the workflow", async () => {
    const wf = redToSave();
    const { status, body } = await s.post("/api/prompt", { workflow: wf });
    assert.equal(status, 200);
    const entry = await s.waitSettled(body.promptId);
    assert.equal(entry.status, "done");
    assert.deepEqual(entry.executed, ["1", "2"]);
    const file = entry.outputs["2"].images[0].file;
    const png = Buffer.from(await (await fetch(`${s.url}/api/view?file=${encodeURIComponent(file)}`)).arrayBuffer());
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height], [32, 24]);
    const embedded = JSON.parse(readPngText(png)["sluice.workflow"]);
    assert.deepEqual(embedded.nodes.map((n: { id: string }) => n.id), ["1", "2"]);
    assert.equal(embedded.nodes[0].inputs.color, "#ff0000");
  });

  it("re-queuing an unchanged workflow executes nothing", async () => {
    const first = await s.post("/api/prompt", { workflow: redToSave("#123456") });
    await s.waitSettled(first.body.promptId);
    const again = await s.post("/api/prompt", { workflow: redToSave("#123456") });
    const entry = await s.waitSettled(again.body.promptId);
    assert.deepEqual(entry.executed, []);
    assert.deepEqual(entry.cached, ["2"], "the cached output stops the walk: its source is not visited");
    assert.ok(entry.outputs["2"].images[0].file, "cached output node still reports its images");
  });

  it("changing one widget re-runs only that node and what depends on it", async () => {
    const base = redToSave("#654321");
    await s.waitSettled((await s.post("/api/prompt", { workflow: base })).body.promptId);
    const changed = structuredClone(base);
    changed.nodes[1].inputs.prefix = "other";
    const entry = await s.waitSettled((await s.post("/api/prompt", { workflow: changed })).body.promptId);
    assert.deepEqual(entry.cached, ["1"]);
    assert.deepEqual(entry.executed, ["2"]);
  });

  it("answers 400 naming the node for an unknown type, a cycle and an out-of-range value", async () => {
    const unknown = await s.post("/api/prompt", { workflow: workflow([{ id: "5", type: "NoSuchNode" }, { id: "6", type: "PreviewImage", inputs: { image: link("5", "image") } }]) });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.nodeErrors["5"][0].message, /unknown node type "NoSuchNode"/);

    const cycle = await s.post("/api/prompt", { workflow: workflow([
      { id: "a", type: "ImageScale", inputs: { image: link("b", "image") } },
      { id: "b", type: "ImageScale", inputs: { image: link("a", "image") } },
      { id: "c", type: "PreviewImage", inputs: { image: link("a", "image") } },
    ]) });
    assert.equal(cycle.status, 400);
    assert.ok(cycle.body.nodeErrors.a.some((e: { message: string }) => /cycle/.test(e.message)));
    assert.ok(cycle.body.nodeErrors.b.some((e: { message: string }) => /cycle/.test(e.message)));

    const range = await s.post("/api/prompt", { workflow: workflow([
      { id: "1", type: "EmptyImage", inputs: { width: 99999 } },
      { id: "2", type: "PreviewImage", inputs: { image: link("1", "image") } },
    ]) });
    assert.equal(range.status, 400);
    assert.deepEqual(range.body.nodeErrors["1"][0].input, "width");
    assert.match(range.body.error, /problem/);
  });

  it("answers 400 for a body that is not a workflow", async () => {
    const r = await s.post("/api/prompt", { workflow: { format: "something-else" } });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /not a Sluice workflow/);
  });

  it("keeps answering /api/queue while a long node blocks its thread", async () => {
    // A node that would block the executor's thread for a minute: it is cancelled, not awaited.
    const { body } = await s.post("/api/prompt", { workflow: slow(1000, 60) });
    await s.waitFor("node:progress", (p) => p.promptId === body.promptId);
    // Several answers while the node is still running.
    for (let i = 0; i < 3; i++) {
      const q = await s.get("/api/queue");
      assert.equal(q.status, 200);
      assert.equal(q.body.running[0]?.promptId, body.promptId, "answered while the prompt was running");
    }
    await s.post("/api/interrupt", { promptId: body.promptId });
    assert.equal((await s.waitSettled(body.promptId)).status, "cancelled", "the node was still running when the answers came");
  });

  it("streams progress and binary previews for a long node", async () => {
    const { body } = await s.post("/api/prompt", { workflow: slow(5, 40, "#0000ff") });
    await s.waitSettled(body.promptId);
    const mine = s.events.filter((e) => e.payload?.promptId === body.promptId);
    assert.deepEqual(mine.filter((e) => e.name === "node:progress").map((e) => e.payload.step), [1, 2, 3, 4, 5]);
    const preview = await s.waitFor("node:preview", (p) => p.promptId === body.promptId && p.step === 5);
    assert.equal(preview.mime, "image/png", "a small preview goes as PNG at its own size");
    assert.ok(Buffer.isBuffer(preview.image) && preview.image.subarray(1, 4).toString() === "PNG", "a PNG in a binary frame");
    for (const name of ["execution:start", "node:start", "node:done", "execution:done"]) {
      assert.ok(mine.some((e) => e.name === name), `saw ${name}`);
    }
  });

  it("records a prompt posted to an idle executor as running at once; one posted behind it waits as pending, and both run in order", async () => {
    const a = (await s.post("/api/prompt", { workflow: slow(10, 20, "#555555") })).body.promptId;
    const b = (await s.post("/api/prompt", { workflow: redToSave("#565656") })).body.promptId;
    const q = await s.get("/api/queue");
    assert.equal(q.body.running[0]?.promptId, a);
    assert.deepEqual(q.body.pending.map((p: { promptId: string }) => p.promptId), [b]);
    const record = await s.get(`/api/history/${a}`);
    assert.equal(record.body.status, "running");
    assert.ok(record.body.startedAt, "its start time is recorded");
    assert.equal((await s.waitSettled(a)).status, "done");
    assert.equal((await s.waitSettled(b)).status, "done");
    const history = (await s.get("/api/history")).body as { promptId: string }[];
    assert.ok(history.findIndex((h) => h.promptId === b) < history.findIndex((h) => h.promptId === a), "newest first: b was queued after a");
  });

  it("cancels the running prompt while the next one waits, then runs the next", async () => {
    const a = (await s.post("/api/prompt", { workflow: slow(200, 20, "#111111") })).body.promptId;
    const b = (await s.post("/api/prompt", { workflow: slow(2, 5, "#222222") })).body.promptId;
    await s.waitFor("node:progress", (p) => p.promptId === a);
    const q = await s.get("/api/queue");
    assert.deepEqual(q.body.pending.map((p: { promptId: string }) => p.promptId), [b]);
    const del = await fetch(`${s.url}/api/queue/${a}`, { method: "DELETE" });
    assert.equal(del.status, 200);
    assert.equal((await s.waitSettled(a)).status, "cancelled");
    assert.equal((await s.waitSettled(b)).status, "done");
    await s.waitFor("execution:interrupted", (p) => p.promptId === a);
  });

  it("cancels a pending prompt without touching the running one", async () => {
    const a = (await s.post("/api/prompt", { workflow: slow(10, 20, "#333333") })).body.promptId;
    const b = (await s.post("/api/prompt", { workflow: slow(2, 5, "#444444") })).body.promptId;
    const del = await fetch(`${s.url}/api/queue/${b}`, { method: "DELETE" });
    assert.equal(del.status, 200);
    assert.equal((await s.waitSettled(b)).status, "cancelled");
    assert.equal((await s.waitSettled(a)).status, "done");
  });

  it("a throwing node fails its prompt with node, type, message and inputs; the next prompt runs", async () => {
    const bad = workflow([
      { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8 } },
      { id: "2", type: "TestAlwaysFails", inputs: { image: link("1", "image"), reason: "no luck" } },
      { id: "3", type: "PreviewImage", inputs: { image: link("2", "image") } },
    ]);
    const failed = (await s.post("/api/prompt", { workflow: bad })).body.promptId;
    const ok = (await s.post("/api/prompt", { workflow: redToSave("#abcdef") })).body.promptId;
    const entry = await s.waitSettled(failed);
    assert.equal(entry.status, "failed");
    assert.equal(entry.error.node, "2");
    assert.equal(entry.error.type, "TestAlwaysFails");
    assert.equal(entry.error.message, "no luck");
    assert.equal(entry.error.inputs.image, "tensor [1, 3, 8, 8]");
    const event = await s.waitFor("execution:error", (p) => p.promptId === failed);
    assert.equal(event.node, "2");
    assert.equal((await s.waitSettled(ok)).status, "done");
  });

  it("refuses /api/view paths that escape the data folders", async () => {
    for (const file of ["../sluice.db", "../../etc/passwd", "/etc/passwd", "..%2Fsluice.db"]) {
      const res = await fetch(`${s.url}/api/view?file=${encodeURIComponent(file)}`);
      assert.ok(res.status === 403 || res.status === 404, `${file} → ${res.status}`);
      assert.notEqual(res.status, 200);
    }
  });

  it("refuses an upload that is not an image, and accepts one that is", async () => {
    const bad = new FormData();
    bad.append("image", new Blob([Buffer.from("definitely not a png")], { type: "image/png" }), "fake.png");
    const r1 = await fetch(`${s.url}/api/upload`, { method: "POST", body: bad });
    assert.equal(r1.status, 400);
    assert.match((await r1.json()).error, /not an image/);

    const png = await sharp({ create: { width: 5, height: 4, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
    const good = new FormData();
    good.append("image", new Blob([png], { type: "image/png" }), "red.png");
    const r2 = await fetch(`${s.url}/api/upload`, { method: "POST", body: good });
    assert.equal(r2.status, 200);
    const { name } = await r2.json();
    const wf = workflow([
      { id: "1", type: "LoadImage", inputs: { image: name } },
      { id: "2", type: "SaveImage", inputs: { image: link("1", "image") } },
    ]);
    const entry = await s.waitSettled((await s.post("/api/prompt", { workflow: wf })).body.promptId);
    assert.equal(entry.status, "done");
    assert.deepEqual([entry.outputs["2"].images[0].width, entry.outputs["2"].images[0].height], [5, 4]);
  });

  it("lists nodes, packs and system information", async () => {
    const nodes = await s.get("/api/nodes");
    assert.ok(nodes.body.some((n: { type: string; output?: boolean }) => n.type === "SaveImage" && n.output === true));
    const system = await s.get("/api/system");
    assert.equal(typeof system.body.device, "string");
    assert.ok(system.body.memory.systemTotal > 0);
  });
});

describe("restart", () => {
  it("keeps pending prompts and history, and fails the one that was running", async () => {
    const s1 = await startServer();
    const done = (await s1.post("/api/prompt", { workflow: redToSave("#0f0f0f") })).body.promptId;
    await s1.waitSettled(done);
    const running = (await s1.post("/api/prompt", { workflow: slow(500, 20) })).body.promptId;
    const pending = (await s1.post("/api/prompt", { workflow: redToSave("#f0f0f0") })).body.promptId;
    await s1.waitFor("node:progress", (p) => p.promptId === running);
    await crash(s1);

    const s2 = await startServer({ home: s1.home });
    try {
      const history = await s2.get(`/api/history/${done}`);
      assert.equal(history.body.status, "done");
      const crashed = await s2.get(`/api/history/${running}`);
      assert.equal(crashed.body.status, "failed");
      assert.match(crashed.body.error.message, /server stopped while this prompt was running/);
      const resumed = await s2.waitSettled(pending);
      assert.equal(resumed.status, "done");
    } finally {
      await s2.stop();
    }
  });
});

describe("cli", () => {
  it("sluice run writes the output images and exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-cli-"));
    const file = join(dir, "wf.json");
    writeFileSync(file, JSON.stringify(redToSave("#00ffff")));
    const out = join(dir, "out");
    const stdout = execFileSync(process.execPath, ["bin/sluice.js", "run", file, "--out", out, "--home", join(dir, "home"), "--set", "1.width=16"], { encoding: "utf8" });
    const written = stdout.trim().split("\n").filter((l) => l.endsWith(".png"));
    assert.equal(written.length, 1);
    const meta = await sharp(readFileSync(written[0])).metadata();
    assert.equal(meta.width, 16);
  });

  it("sluice run says which device it got and leaves a line with the time of every node that ran", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-cli-"));
    const file = join(dir, "wf.json");
    writeFileSync(file, JSON.stringify(redToSave("#ff00ff")));
    const r = spawnSync(process.execPath, ["bin/sluice.js", "run", file, "--out", join(dir, "out"), "--home", join(dir, "home"), "--device", "cpu"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^device: cpu$/m);
    for (const node of redToSave("#ff00ff").nodes) {
      assert.match(r.stderr, new RegExp(`^${node.type} #${node.id} +\\[#{30}\\] \\d+ ms$`, "m"), `a line for node ${node.id}`);
    }
    assert.match(r.stderr, /^done in [\d.]+ s: \d+ node\(s\) ran$/m);
  });

  it("sluice run prints the validation messages and exits non-zero for a wrong workflow", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-cli-"));
    const file = join(dir, "bad.json");
    writeFileSync(file, JSON.stringify(workflow([
      { id: "1", type: "EmptyImage", inputs: { width: -5 } },
      { id: "2", type: "Mystery", inputs: {} },
      { id: "3", type: "SaveImage", inputs: { image: link("1", "image") } },
    ])));
    const r = spawnSync(process.execPath, ["bin/sluice.js", "run", file, "--out", join(dir, "out"), "--home", join(dir, "home")], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /node 1 \(EmptyImage\) input "width": value -5 is below the minimum 8/);
    assert.match(r.stderr, /node 2 \(Mystery\): unknown node type "Mystery"/);
  });
});
