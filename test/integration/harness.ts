// A real Sluice server on a free port with a temporary data folder, and a socket.io client.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io, type Socket } from "socket.io-client";
import { createSluiceServer, type AppOptions, type SluiceServer } from "../../server/api/app.ts";

export const ROOT = join(import.meta.dirname, "..", "..");
export const TEST_NODES = join(ROOT, "test", "fixtures", "test-nodes.ts");
/** Packs with the real tensor names and random weights (test/fixtures/packs/random). */
export const FIXTURE_PACKS = join(ROOT, "test", "fixtures", "packs");

/** A bundled template with its loaders pointed at `pack`. */
export function template(name: string, pack = "random") {
  const wf = JSON.parse(readFileSync(join(ROOT, "templates", `${name}.json`), "utf8"));
  for (const node of wf.nodes) if (node.type === "LoadCascadePack") node.inputs.pack = pack;
  return wf;
}

/** A copy of a workflow with some inputs of one node set. */
export function withInputs(wf: any, nodeId: string, inputs: Record<string, unknown>) {
  const copy = structuredClone(wf);
  Object.assign(copy.nodes.find((n: { id: string }) => n.id === nodeId).inputs, inputs);
  return copy;
}

/** The pid of a process that has exited (to stand for a server that died). */
export function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", ""]);
  return child.pid!;
}

/**
 * Stops a server as a crash would: its executor gone, the database left as it was, and its lock
 * left behind holding the pid of a process that no longer runs.
 */
export async function crash(s: Running): Promise<void> {
  s.socket.close();
  await s.server.dispatcher.close();
  s.server.io.close();
  s.server.store.close();
  writeFileSync(s.server.lock.path, `${deadPid()}\n`);
}

export interface Running {
  server: SluiceServer;
  url: string;
  home: string;
  socket: Socket;
  events: { name: string; payload: any }[];
  stop(opts?: { keepHome?: boolean }): Promise<void>;
  waitFor(name: string, predicate?: (payload: any) => boolean, timeoutMs?: number): Promise<any>;
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
  waitSettled(promptId: string, timeoutMs?: number): Promise<any>;
}

export async function startServer(options: Partial<AppOptions> = {}): Promise<Running> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), "sluice-test-"));
  const server = await createSluiceServer({
    home,
    modelsDir: join(ROOT, "models"),
    device: "cpu",
    nodeModules: [TEST_NODES],
    log: () => {},
    ...options,
  });
  const { url } = await server.listen(0, "127.0.0.1");
  await server.dispatcher.ready();
  const socket = io(url, { transports: ["websocket"], forceNew: true });
  await new Promise<void>((resolve, reject) => { socket.once("connect", () => resolve()); socket.once("connect_error", reject); });
  const events: { name: string; payload: any }[] = [];
  const waiters: { name: string; predicate: (p: any) => boolean; resolve: (p: any) => void }[] = [];
  socket.onAny((name: string, payload: any) => {
    events.push({ name, payload });
    for (const w of [...waiters]) {
      if (w.name === name && w.predicate(payload)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(payload); }
    }
  });
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed };
  };
  const running: Running = {
    server, url, home, socket, events,
    async stop(opts = {}) {
      socket.close();
      await server.close();
      if (!opts.keepHome) rmSync(home, { recursive: true, force: true });
    },
    waitFor(name, predicate = () => true, timeoutMs = 30000) {
      const seen = events.find((e) => e.name === name && predicate(e.payload));
      if (seen) return Promise.resolve(seen.payload);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${name}`)), timeoutMs);
        waiters.push({ name, predicate, resolve: (p) => { clearTimeout(timer); resolve(p); } });
      });
    },
    post: (path, body) => request("POST", path, body),
    get: (path) => request("GET", path),
    async waitSettled(promptId, timeoutMs = 60000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const { body } = await request("GET", `/api/history/${promptId}`);
        if (["done", "failed", "cancelled"].includes(body?.status)) return body;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`prompt ${promptId} did not finish in ${timeoutMs} ms`);
    },
  };
  return running;
}

/** The first image a finished prompt's output node saved, as the server serves it. */
export async function imageBytes(s: Running, entry: any, nodeId = "9"): Promise<Buffer> {
  const file = entry.outputs[nodeId].images[0].file;
  return Buffer.from(await (await fetch(`${s.url}/api/view?file=${encodeURIComponent(file)}`)).arrayBuffer());
}

/** A small workflow builder for tests. */
export function workflow(nodes: { id: string; type: string; inputs?: Record<string, unknown> }[], extra: Record<string, unknown> = {}) {
  return { format: "sluice.workflow", version: "1.0.0", nodes: nodes.map((n) => ({ inputs: {}, ...n })), ...extra };
}

export const link = (node: string, output: string) => ({ node, output });
