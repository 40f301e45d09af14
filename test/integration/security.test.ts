// Requests a browser could be made to send, refused: a foreign Host (DNS rebinding), a foreign
// Origin on anything that changes state or opens the event stream, a JSON route fed text/plain;
// and off loopback (or with --token) every request and socket.io handshake without the token.
// Each refusal is checked to have changed nothing.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { io } from "socket.io-client";
import { createSluiceServer, type SluiceServer } from "../../server/api/app.ts";
import { ROOT, TEST_NODES, workflow } from "./harness.ts";

interface Answer { status: number; body: any; headers: Record<string, string | string[] | undefined> }

/** An HTTP request with exactly the headers given (fetch would not let a test set Host). */
function send(url: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path, headers: { ...(body !== undefined ? { "content-length": String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: any = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Whether a socket.io client with these headers gets through the handshake. */
function handshake(url: string, transport: "websocket" | "polling", headers: Record<string, string>): Promise<"connected" | string> {
  return new Promise((resolve) => {
    const socket = io(url, { transports: [transport], forceNew: true, reconnection: false, extraHeaders: headers, timeout: 10000 });
    socket.once("connect", () => { socket.close(); resolve("connected"); });
    socket.once("connect_error", (err) => { socket.close(); resolve(err.message || "refused"); });
  });
}

async function start(options: { token?: string; host?: string } = {}) {
  const home = mkdtempSync(join(tmpdir(), "sluice-security-"));
  const server = await createSluiceServer({ home, modelsDir: join(ROOT, "models"), device: "cpu", nodeModules: [TEST_NODES], log: () => {}, token: options.token });
  const { port } = await server.listen(0, options.host ?? "127.0.0.1");
  return { server, home, url: `http://127.0.0.1:${port}`, port, stop: async () => { await server.close(); rmSync(home, { recursive: true, force: true }); } };
}

const SAVE = JSON.stringify({ name: "kept", workflow: workflow([{ id: "1", type: "EmptyImage" }, { id: "2", type: "PreviewImage", inputs: { image: { node: "1", output: "image" } } }]) });
const JSON_TYPE = { "content-type": "application/json" };

describe("on loopback without a token", () => {
  let s: Awaited<ReturnType<typeof start>>;
  let saved: string;
  before(async () => {
    s = await start();
    saved = (await send(s.url, "POST", "/api/workflows", JSON_TYPE, SAVE)).body.id;
    assert.ok(saved, "a workflow to try to delete");
  });
  after(async () => { await s.stop(); });

  const count = async () => (await send(s.url, "GET", "/api/workflows")).body.length;

  it("answers loopback names with the port, and requests without an Origin (curl, the CLI)", async () => {
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `[::1]:${s.port}`, "localhost"]) {
      assert.equal((await send(s.url, "GET", "/api/system", { host })).status, 200, host);
    }
    assert.equal((await send(s.url, "POST", "/api/interrupt", JSON_TYPE, "{}")).status, 200);
  });

  it("refuses a foreign Host with 403 (DNS rebinding): nothing is read, nothing is deleted", async () => {
    const read = await send(s.url, "GET", "/api/history", { host: `evil.example:${s.port}` });
    assert.equal(read.status, 403);
    assert.match(read.body.error, /Host "evil\.example/);
    const del = await send(s.url, "DELETE", `/api/workflows/${saved}`, { host: "evil.example" });
    assert.equal(del.status, 403);
    assert.equal((await send(s.url, "GET", `/api/workflows/${saved}`)).status, 200, "the workflow is still there");
  });

  it("refuses a foreign Origin on POST, PUT and DELETE with 403, and nothing changes", async () => {
    const before = await count();
    const evil = { ...JSON_TYPE, origin: "http://evil.example" };
    const post = await send(s.url, "POST", "/api/workflows", evil, SAVE);
    assert.equal(post.status, 403);
    assert.match(post.body.error, /evil\.example/);
    assert.equal((await send(s.url, "POST", "/api/interrupt", evil, "{}")).status, 403);
    assert.equal((await send(s.url, "DELETE", `/api/workflows/${saved}`, { origin: "http://evil.example" })).status, 403);
    assert.equal((await send(s.url, "PUT", `/api/workflows/${saved}`, evil, SAVE)).status, 403);
    assert.equal((await send(s.url, "POST", "/api/workflows", { ...JSON_TYPE, origin: "null" }, SAVE)).status, 403, "an opaque origin (sandboxed frame, file:) is foreign too");
    assert.equal(await count(), before);
    assert.equal((await send(s.url, "GET", `/api/workflows/${saved}`)).status, 200);
  });

  it("accepts the studio's own Origin", async () => {
    const own = await send(s.url, "POST", "/api/workflows", { ...JSON_TYPE, origin: s.url }, SAVE);
    assert.equal(own.status, 201);
  });

  it("refuses a JSON route fed text/plain with 415, and nothing is saved", async () => {
    const before = await count();
    const res = await send(s.url, "POST", "/api/workflows", { "content-type": "text/plain" }, SAVE);
    assert.equal(res.status, 415);
    assert.match(res.body.error, /application\/json/);
    assert.equal((await send(s.url, "POST", "/api/interrupt", { "content-type": "text/plain" }, "{}")).status, 415);
    assert.equal(await count(), before);
  });

  it("refuses JSON nested 100 000 levels deep with 400 saying so", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const res = await send(s.url, "POST", "/api/prompt", JSON_TYPE, `{"workflow": ${deep}}`);
    assert.equal(res.status, 400);
    assert.match(res.body.error, /nests .* more than 64 levels/);
    assert.equal((await send(s.url, "GET", "/api/system")).status, 200);
  });

  for (const transport of ["websocket", "polling"] as const) {
    it(`socket.io over ${transport}: a foreign Origin is refused, the own Origin and none connect`, async () => {
      assert.notEqual(await handshake(s.url, transport, { origin: "http://evil.example" }), "connected");
      assert.equal(await handshake(s.url, transport, { origin: s.url }), "connected");
      assert.equal(await handshake(s.url, transport, {}), "connected");
    });
  }

  it("socket.io: a handshake naming a foreign Host is refused (websocket, and the polling request itself)", async () => {
    assert.notEqual(await handshake(s.url, "websocket", { host: "evil.example" }), "connected");
    // The polling client cannot set Host, so its first request is sent as it would arrive.
    const polling = await send(s.url, "GET", "/socket.io/?EIO=4&transport=polling", { host: "evil.example" });
    assert.equal(polling.status, 403);
    assert.equal((await send(s.url, "GET", "/socket.io/?EIO=4&transport=polling")).status, 200);
  });
});

describe("with a token", () => {
  let s: Awaited<ReturnType<typeof start>>;
  const token = "correct-horse-battery-staple";
  before(async () => { s = await start({ token }); });
  after(async () => { await s.stop(); });

  it("refuses requests without the token or with a wrong one (401), and the refused prompt is not queued", async () => {
    const none = await send(s.url, "GET", "/api/system");
    assert.equal(none.status, 401);
    assert.match(none.body.error, /token/);
    assert.equal((await send(s.url, "GET", "/api/system", { authorization: "Bearer wrong" })).status, 401);
    const prompt = await send(s.url, "POST", "/api/prompt", JSON_TYPE, JSON.stringify({ workflow: workflow([{ id: "1", type: "EmptyImage" }, { id: "2", type: "PreviewImage", inputs: { image: { node: "1", output: "image" } } }]) }));
    assert.equal(prompt.status, 401);
    const history = await send(s.url, "GET", "/api/history", { authorization: `Bearer ${token}` });
    assert.equal(history.status, 200);
    assert.deepEqual(history.body, []);
  });

  it("accepts the token as a Bearer header, as ?token= (which sets a cookie), and as that cookie", async () => {
    assert.equal((await send(s.url, "GET", "/api/system", { authorization: `Bearer ${token}` })).status, 200);
    const first = await send(s.url, "GET", `/api/system?token=${token}`);
    assert.equal(first.status, 200);
    const setCookie = String(first.headers["set-cookie"]);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const cookie = setCookie.split(";")[0];
    assert.equal((await send(s.url, "GET", "/api/system", { cookie })).status, 200);
  });

  it("socket.io handshakes need the token too", async () => {
    assert.notEqual(await handshake(s.url, "websocket", {}), "connected");
    assert.notEqual(await handshake(s.url, "polling", { authorization: "Bearer wrong" }), "connected");
    assert.equal(await handshake(s.url, "websocket", { authorization: `Bearer ${token}` }), "connected");
    assert.equal(await handshake(s.url, "polling", { authorization: `Bearer ${token}` }), "connected");
  });
});

describe("off loopback", () => {
  let server: SluiceServer, url: string, home: string;
  before(async () => {
    home = mkdtempSync(join(tmpdir(), "sluice-security-"));
    server = await createSluiceServer({ home, modelsDir: join(ROOT, "models"), device: "cpu", nodeModules: [TEST_NODES], log: () => {} });
    const { port } = await server.listen(0, "0.0.0.0");
    url = `http://127.0.0.1:${port}`;
  });
  after(async () => { await server.close(); rmSync(home, { recursive: true, force: true }); });

  it("generates a token when none is given, and requests without it get 401", async () => {
    assert.ok(server.token && server.token.length >= 32, "a generated token");
    assert.equal((await send(url, "GET", "/api/system")).status, 401);
    assert.equal((await send(url, "GET", "/api/system", { host: "studio.lan:8788", authorization: `Bearer ${server.token}` })).status, 200, "any Host name: the token guards");
  });
});
