// The workflow library and parameters, through the server: versions kept at every save, restore,
// atomic writes, and running saved workflows with new values.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { link, startServer, workflow, type Running } from "./harness.ts";

const colored = (color: string) => workflow([
  { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8, color } },
  { id: "2", type: "SaveImage", inputs: { image: link("1", "image"), prefix: "lib" } },
], { params: [{ name: "color", node: "1", input: "color" }, { name: "size", node: "1", input: "width" }] });

async function request(s: Running, method: string, path: string, body?: unknown) {
  const res = await fetch(s.url + path, { method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: await res.json() };
}

async function firstPixel(s: Running, entry: any, node = "2"): Promise<number[]> {
  const file = entry.outputs[node].images[0].file;
  const png = Buffer.from(await (await fetch(`${s.url}/api/view?file=${encodeURIComponent(file)}`)).arrayBuffer());
  return [...(await sharp(png).raw().toBuffer()).subarray(0, 3)];
}

describe("workflow library", () => {
  let s: Running;
  before(async () => { s = await startServer(); });
  after(async () => { await s.stop(); });

  it("saves, keeps a version at every save and restores an old one", async () => {
    const created = await request(s, "POST", "/api/workflows", { name: "Reds", tags: ["colour"], workflow: colored("#ff0000") });
    assert.equal(created.status, 201);
    const id = created.body.id;
    assert.equal(created.body.version, 1);
    const saved = await request(s, "PUT", `/api/workflows/${id}`, { workflow: colored("#00ff00"), note: "greener" });
    assert.equal(saved.body.version, 2);
    const versions = await request(s, "GET", `/api/workflows/${id}/versions`);
    assert.deepEqual(versions.body.map((v: { version: number }) => v.version), [2, 1]);
    const restored = await request(s, "POST", `/api/workflows/${id}/versions/1/restore`);
    assert.equal(restored.body.version, 3);
    const current = await request(s, "GET", `/api/workflows/${id}`);
    assert.equal(current.body.workflow.nodes[0].inputs.color, "#ff0000");
  });

  it("renames, duplicates, searches by name and tag, and deletes", async () => {
    const { body: a } = await request(s, "POST", "/api/workflows", { name: "Portrait pipeline", tags: ["people"], workflow: colored("#111111") });
    await request(s, "POST", "/api/workflows", { name: "Landscape", tags: ["nature"], workflow: colored("#222222") });
    assert.equal((await request(s, "PATCH", `/api/workflows/${a.id}`, { name: "Portraits v2" })).body.name, "Portraits v2");
    const dup = await request(s, "POST", `/api/workflows/${a.id}/duplicate`, {});
    assert.equal(dup.body.name, "Portraits v2 (copy)");
    assert.deepEqual((await request(s, "GET", "/api/workflows?q=portraits")).body.map((e: { name: string }) => e.name).sort(), ["Portraits v2", "Portraits v2 (copy)"]);
    assert.deepEqual((await request(s, "GET", "/api/workflows?tag=nature")).body.map((e: { name: string }) => e.name), ["Landscape"]);
    assert.equal((await request(s, "DELETE", `/api/workflows/${dup.body.id}`)).status, 200);
    assert.equal((await request(s, "GET", `/api/workflows/${dup.body.id}`)).status, 404);
  });

  it("refuses to save something that is not a workflow, naming the field", async () => {
    const r = await request(s, "POST", "/api/workflows", { name: "bad", workflow: { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: 3 }] } });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /nodes\.0\.id/);
  });

  it("a save that fails midway leaves the previous version whole and says so", async () => {
    const { body } = await request(s, "POST", "/api/workflows", { name: "Atomic", workflow: colored("#333333") });
    // The second statement of the save fails: the version row is refused after nothing else changed.
    s.server.store.db.exec(`CREATE TEMP TRIGGER fail_versions BEFORE INSERT ON workflow_versions WHEN NEW.content LIKE '%#444444%' BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;`);
    try {
      const r = await request(s, "PUT", `/api/workflows/${body.id}`, { workflow: colored("#444444"), name: "Renamed in a failed save" });
      assert.equal(r.status, 507);
      assert.match(r.body.error, /not saved \(the previous version is intact\)/);
    } finally {
      s.server.store.db.exec("DROP TRIGGER fail_versions");
    }
    const after = await request(s, "GET", `/api/workflows/${body.id}`);
    assert.equal(after.body.version, 1);
    assert.equal(after.body.name, "Atomic");
    assert.equal(after.body.workflow.nodes[0].inputs.color, "#333333");
  });

  it("a full disk fails the save with a message that says so", async () => {
    const { body } = await request(s, "POST", "/api/workflows", { name: "Full", workflow: colored("#555555") });
    const pages = (s.server.store.db.pragma("page_count", { simple: true }) as number);
    s.server.store.db.pragma(`max_page_count = ${pages}`);
    try {
      const big = colored("#666666");
      (big as any).description = "x".repeat(200_000);
      const r = await request(s, "PUT", `/api/workflows/${body.id}`, { workflow: big });
      assert.equal(r.status, 507);
      assert.match(r.body.error, /disk is full/);
    } finally {
      s.server.store.db.pragma("max_page_count = 1073741823");
    }
    assert.equal((await request(s, "GET", `/api/workflows/${body.id}`)).body.version, 1);
  });

  it("runs a workflow with new parameter values, given inline or by id", async () => {
    const inline = await request(s, "POST", "/api/prompt", { workflow: colored("#ff0000"), params: { color: "#0000ff", size: "16" } });
    assert.equal(inline.status, 200, JSON.stringify(inline.body));
    const entry = await s.waitSettled(inline.body.promptId);
    assert.deepEqual(await firstPixel(s, entry), [0, 0, 255]);
    assert.equal(entry.outputs["2"].images[0].width, 16);

    const { body: saved } = await request(s, "POST", "/api/workflows", { name: "Param run", workflow: colored("#ff0000") });
    const byId = await request(s, "POST", "/api/prompt", { workflowId: saved.id, params: { color: "#00ff00" } });
    assert.deepEqual(await firstPixel(s, await s.waitSettled(byId.body.promptId)), [0, 255, 0]);

    const unknown = await request(s, "POST", "/api/prompt", { workflow: colored("#ff0000"), params: { colour: "#00ff00" } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /unknown parameter "colour" \(this workflow's parameters: color, size/);
  });
});

describe("library across a restart", () => {
  it("a saved workflow reappears with its earlier versions", async () => {
    const s1 = await startServer();
    const { body } = await request(s1, "POST", "/api/workflows", { name: "Keeper", workflow: colored("#010101") });
    await request(s1, "PUT", `/api/workflows/${body.id}`, { workflow: colored("#020202") });
    await s1.stop({ keepHome: true });
    const s2 = await startServer({ home: s1.home });
    try {
      const versions = await request(s2, "GET", `/api/workflows/${body.id}/versions`);
      assert.deepEqual(versions.body.map((v: { version: number }) => v.version), [2, 1]);
      assert.equal((await request(s2, "GET", `/api/workflows/${body.id}/versions/1`)).body.nodes[0].inputs.color, "#010101");
    } finally {
      await s2.stop();
    }
  });
});

describe("parameters on the command line", () => {
  it("sluice run --set NAME=VALUE sets a workflow parameter", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-params-"));
    const file = join(dir, "wf.json");
    writeFileSync(file, JSON.stringify(colored("#ff0000")));
    const stdout = execFileSync(process.execPath, ["bin/sluice.js", "run", file, "--out", join(dir, "out"), "--home", join(dir, "home"), "--set", "color=#00ff00", "--set", "size=24"], { encoding: "utf8" });
    const png = stdout.trim().split("\n").find((l) => l.endsWith(".png"))!;
    const { data, info } = await sharp(readFileSync(png)).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([...data.subarray(0, 3)], [0, 255, 0]);
    assert.equal(info.width, 24);
  });
});
