// The HTTP API (Express 5) and the socket.io event stream, on one http server.
import express, { type NextFunction, type Request, type Response } from "express";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import { freemem, totalmem } from "node:os";
import { join } from "node:path";
import { Server as SocketServer } from "socket.io";
import type { ClientToServerEvents, ServerToClientEvents } from "../../nodes/events.ts";
import type { Literal, NodeSpec } from "../../nodes/schema.ts";
import { GateAnswer, PromptRequest } from "../../nodes/schema.ts";
import { ALL_NODES, createRegistry, loadNodeModules } from "../../nodes/index.ts";
import { buildCatalog, compilePrompt } from "../engine/index.ts";
import { Dispatcher } from "../executor/dispatcher.ts";
import { RedisDispatcher } from "../executor/redis-dispatcher.ts";
import type { ExecutorTransport } from "../executor/transport.ts";
import { DEFAULT_PREVIEW_INTERVAL_MS } from "../executor/protocol.ts";
import { lockHome, type HomeLock } from "../store/home-lock.ts";
import { Store } from "../store/store.ts";
import { packOptions, listPackInfo } from "../runtime/pack-list.ts";
import { mountFiles, UPLOAD_PATH } from "./files.ts";
import { mountGallery } from "./gallery.ts";
import { mountTemplates } from "./templates.ts";
import { mountWorkflows } from "./workflows.ts";
import { IMPORT_PATH, mountImport } from "./import.ts";
import { mountRooms, roomSink } from "./rooms.ts";
import { memoryOption, warmPackMemory } from "./memory-check.ts";
import { decideMemoryBudget } from "../runtime/index.ts";
import { HttpError } from "./http-error.ts";
import { jsonBodies } from "./json-body.ts";
import { generateToken, needsToken, Security, type SecurityOptions } from "./security.ts";
import { ImageRefused } from "../media/decode.ts";
import { PathRefused } from "../media/paths.ts";
import { StorageError } from "../media/write.ts";

export interface AppOptions {
  home: string;
  modelsDir: string;
  device: string;
  clientDir?: string;
  cacheBytes?: number;
  previewIntervalMs?: number;
  /** Extra node modules (plugins, test fixtures) exporting `nodes`. */
  nodeModules?: string[];
  /** Run prompts on BullMQ workers through this Redis instead of the local executor. */
  redisUrl?: string;
  /** Key prefix in Redis (workers must use the same). */
  redisPrefix?: string;
  /** Prompts that may wait at gates at once. */
  maxWaiting?: number;
  /** Attempts of a prompt whose worker fails or dies before it gives up (workers only). */
  attempts?: number;
  /** --memory-budget ("6GB"); default: a share of free RAM (of GPU memory with --device cuda). */
  memoryBudget?: string;
  /** Required on every request and socket.io handshake when set; generated at listen() off loopback. */
  token?: string;
  /** Further names the Host header may carry (the name a proxy forwards). */
  allowedHosts?: string[];
  /** Further origins allowed to change state (a development server on another port). */
  allowedOrigins?: string[];
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

export interface SluiceServer {
  http: HttpServer;
  io: SocketServer<ClientToServerEvents, ServerToClientEvents>;
  store: Store;
  dispatcher: ExecutorTransport;
  /** The data folder's lock, held until close(). */
  lock: HomeLock;
  catalog(): NodeSpec[];
  /** The token requests must carry, if any (known once listen() has decided). */
  readonly token: string | undefined;
  listen(port: number, host: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

const ROOT = join(import.meta.dirname, "..", "..");
const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;

export async function createSluiceServer(options: AppOptions): Promise<SluiceServer> {
  const log = options.log ?? ((level, message) => console[level === "info" ? "log" : level](message));
  // Taken before the store opens: a second server must not touch the first one's records.
  const budget = decideMemoryBudget({ flag: options.memoryBudget, device: options.device });
  warmPackMemory(options.modelsDir);
  const lock = lockHome(options.home);
  let store: Store;
  try {
    store = new Store(options.home);
  } catch (err) {
    lock.release();
    throw err;
  }
  // Gates wait as checkpoints (in SQLite, or Redis with workers), so waiting prompts outlast a
  // restart; with workers, running prompts do too (they run elsewhere).
  const failed = store.recoverAfterRestart({ keepRunning: !!options.redisUrl, keepWaiting: true });
  if (failed.length) log("warn", `marked ${failed.length} prompt(s) that were running at the last stop as failed`);

  const securityOptions: SecurityOptions = { host: "127.0.0.1", token: options.token, allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins };
  const security = new Security(securityOptions);

  const registry = createRegistry([...ALL_NODES, ...(await loadNodeModules(options.nodeModules ?? []))]);
  const services = {
    outputsDir: store.paths.outputs,
    uploadsDir: store.paths.uploads,
    tempDir: store.paths.temp,
    listOptions: (key: string) => (key === "packs" ? packOptions(options.modelsDir) : []),
  };
  const catalog = () => buildCatalog(registry, services);
  const compile = (raw: unknown, opts: { params?: Record<string, Literal>; outputs?: string[] } = {}) => {
    const byType = new Map(catalog().map((s) => [s.type, s]));
    return compilePrompt(raw, { lookup: (type) => byType.get(type), memory: memoryOption(registry, options.modelsDir, budget.bytes), ...opts });
  };

  const app = express();
  app.disable("x-powered-by");
  const http = createServer(app);
  const io = new SocketServer<ClientToServerEvents, ServerToClientEvents>(http, { maxHttpBufferSize: 50e6, allowRequest: security.allowRequest() });
  mountRooms(io);
  const sink = roomSink(io, (promptId) => store.get(promptId)?.clientId);
  const dispatcher: ExecutorTransport = options.redisUrl ? new RedisDispatcher(store, sink, {
    redisUrl: options.redisUrl, prefix: options.redisPrefix, registry, maxWaiting: options.maxWaiting, attempts: options.attempts, log,
    compile: (workflow, outputs) => compile(workflow, { outputs }),
  }) : new Dispatcher(store, sink, {
    executor: {
      outputsDir: store.paths.outputs,
      uploadsDir: store.paths.uploads,
      tempDir: store.paths.temp,
      modelsDir: options.modelsDir,
      device: options.device,
      cacheBytes: options.cacheBytes ?? 2 * 1024 ** 3,
      // One budget: prompts are checked against it and the executor keeps no more models loaded.
      modelMemoryBudgetBytes: budget.bytes,
      previewIntervalMs: options.previewIntervalMs ?? DEFAULT_PREVIEW_INTERVAL_MS,
      nodeModules: options.nodeModules,
    },
    compile: (workflow, outputs) => compile(workflow, { outputs }),
    registry,
    maxWaiting: options.maxWaiting,
    log,
  });

  app.use(security.middleware());
  app.use(jsonBodies([IMPORT_PATH, UPLOAD_PATH]));

  app.get("/api/nodes", (_req, res) => { res.json(catalog()); });

  app.post("/api/prompt", (req, res) => {
    const body = PromptRequest.safeParse(req.body ?? {});
    if (!body.success) throw new HttpError(400, `invalid request: ${body.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, { nodeErrors: {} });
    let raw = body.data.workflow;
    if (raw === undefined && body.data.workflowId) {
      raw = library.current(body.data.workflowId);
      if (raw === undefined) throw new HttpError(404, `no saved workflow with id "${body.data.workflowId}"`, { nodeErrors: {} });
    }
    if (raw === undefined) throw new HttpError(400, "the request needs a \"workflow\" or a \"workflowId\"", { nodeErrors: {} });
    const compiled = compile(raw, { params: body.data.params, outputs: body.data.outputs });
    if (!compiled.ok) throw new HttpError(compiled.status, compiled.message, { nodeErrors: compiled.nodeErrors, errors: compiled.errors });
    const promptId = dispatcher.submit({ plan: compiled.plan, clientId: body.data.clientId, front: body.data.front });
    const { skipped } = compiled.plan;
    res.json({ promptId, ...(skipped.length ? { skipped } : {}) });
  });

  app.get("/api/queue", (_req, res) => { res.json(store.queue()); });
  app.delete("/api/queue", (_req, res) => {
    const cleared = store.clearPending();
    dispatcher.tick();
    res.json({ cleared });
  });
  app.delete("/api/queue/:promptId", (req, res) => {
    if (!dispatcher.cancel(req.params.promptId)) throw new HttpError(404, `prompt "${req.params.promptId}" is not pending, running or waiting`);
    res.json({ cancelled: req.params.promptId });
  });
  app.post("/api/interrupt", (req, res) => {
    const promptId = typeof req.body?.promptId === "string" ? req.body.promptId : undefined;
    res.json({ interrupted: dispatcher.interrupt(promptId) });
  });
  app.post("/api/prompt/:promptId/finish/:nodeId", (req, res) => {
    if (!dispatcher.finishNow(req.params.promptId, req.params.nodeId)) throw new HttpError(409, `prompt "${req.params.promptId}" is not running`);
    res.json({ ok: true });
  });
  app.post("/api/prompt/:promptId/gate/:nodeId", (req, res) => {
    const answer = GateAnswer.safeParse(req.body ?? {});
    if (!answer.success) throw new HttpError(400, `invalid gate answer: ${answer.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
    const { promptId, nodeId } = req.params;
    if (!dispatcher.answerGate(promptId, nodeId, answer.data)) {
      const record = store.get(promptId);
      const why = !record ? "does not exist" : record.status !== "waiting" ? `is ${record.status}, not waiting` : `waits at gate "${record.gate?.nodeId}", not "${nodeId}"`;
      throw new HttpError(409, `prompt "${promptId}" ${why}`);
    }
    res.json({ ok: true });
  });

  app.get("/api/history", (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit) || 100));
    res.json(store.history(limit));
  });
  app.get("/api/history/:promptId", (req, res) => {
    const record = store.get(req.params.promptId);
    if (!record) throw new HttpError(404, `no prompt "${req.params.promptId}"`);
    res.json(record);
  });

  app.get("/api/packs", (_req, res) => { res.json(listPackInfo(options.modelsDir)); });
  app.get("/api/system", (_req, res) => {
    res.json({
      device: dispatcher.device,
      deviceNote: dispatcher.deviceNote,
      ...(dispatcher instanceof Dispatcher ? { executor: { pid: dispatcher.executorPid, restarts: dispatcher.restarts, ...(dispatcher.sessions ? { sessions: dispatcher.sessions } : {}) } } : {}),
      versions: { node: process.version, sluice: VERSION, onnxruntime: onnxVersion() },
      memoryBudget: budget.bytes,
      memoryBudgetFrom: { source: budget.source, note: budget.note },
      memory: { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed, systemTotal: totalmem(), systemFree: freemem() },
      packs: listPackInfo(options.modelsDir),
      home: store.paths.home,
    });
  });

  mountFiles(app, store);
  mountGallery(app, store);
  mountTemplates(app);
  mountImport(app, { packs: () => listPackInfo(options.modelsDir) });
  const library = mountWorkflows(app, store);

  const clientDir = options.clientDir ?? join(ROOT, "client", "dist");
  if (existsSync(join(clientDir, "index.html"))) {
    app.use(express.static(clientDir));
  } else {
    app.get("/", (_req, res) => {
      res.type("html").send("<!doctype html><title>Sluice</title><p>The editor is not built yet: run <code>npm run build:client</code> (npm start does it).</p>");
    });
  }

  app.use("/api", (req, _res) => { throw new HttpError(404, `no such endpoint: ${req.method} ${req.originalUrl}`); });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) { res.status(err.status).json({ error: err.message, ...err.body }); return; }
    if (err instanceof StorageError) { log("error", err.message); res.status(err.full ? 507 : 500).json({ error: err.message }); return; }
    if (err instanceof PathRefused) { res.status(403).json({ error: err.message }); return; }
    if (err instanceof ImageRefused) { res.status(err.tooLarge ? 413 : 400).json({ error: err.message }); return; }
    const e = err as { status?: number; type?: string; message?: string };
    if (e?.type === "entity.parse.failed") { res.status(400).json({ error: `the request body is not valid JSON: ${e.message}` }); return; }
    if (typeof e?.status === "number" && e.status < 500) { res.status(e.status).json({ error: e.message }); return; }
    log("error", `unexpected error: ${(err as Error)?.stack ?? String(err)}`);
    res.status(500).json({ error: (err as Error)?.message ?? "internal error" });
  });

  return {
    http, io, store, dispatcher, lock, catalog,
    get token() { return security.token; },
    listen: (port, host) => new Promise((resolve, reject) => {
      securityOptions.host = host;
      if (securityOptions.token === undefined && needsToken(host)) securityOptions.token = generateToken();
      http.once("error", reject);
      http.listen(port, host, () => {
        const address = http.address();
        const actual = typeof address === "object" && address ? address.port : port;
        resolve({ port: actual, url: `http://${host.includes(":") ? `[${host}]` : host}:${actual}` });
      });
    }),
    close: async () => {
      io.close();
      await dispatcher.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      store.close();
      lock.release();
    },
  };
}

function onnxVersion(): string {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", "onnxruntime-node", "package.json"), "utf8")).version;
  } catch {
    return "unknown";
  }
}
