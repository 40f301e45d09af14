// `sluice worker`: the executor as a BullMQ worker. It takes compiled plans from the prompts
// queue, runs them with the same node host as the local executor, publishes live events
// (progress, previews) on a Redis channel, and sends what must not be lost (outputs with their
// files, gate checkpoints, results) as reports on a queue the server reads. Cancel and finish-now
// reach it on a control channel keyed by the prompt id.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from "bullmq";
import type { NodeResult, Workflow } from "../../nodes/schema.ts";
import { OutputCache } from "../engine/index.ts";
import { encodeGatePreview, encodePreview } from "./dispatcher.ts";
import { createNodeHost } from "./node-host.ts";
import { runPrompt } from "./prompt-run.ts";
import { connectRedis, type Log } from "./redis-connection.ts";
import { ControlMessage, decodeValue, encodeValue, redisNames, RunJob, type LiveEvent, type WorkerReport } from "./redis-protocol.ts";
import { DEFAULT_PREVIEW_INTERVAL_MS } from "./protocol.ts";

export interface BullWorkerOptions {
  redisUrl: string;
  modelsDir: string;
  device: string;
  nodeModules?: string[];
  cacheBytes?: number;
  /** The budget of the model sessions it keeps loaded (`sluice worker --memory-budget`, decideMemoryBudget). */
  memoryBudgetBytes?: number;
  previewIntervalMs?: number;
  /** Key prefix in Redis (the server's must match). */
  prefix?: string;
  /** BullMQ's lock on a running job; a worker that dies is noticed after about this long. */
  lockMs?: number;
  /** How often this worker looks for jobs whose worker died. */
  stalledIntervalMs?: number;
  /** Times a job may lose its worker before it fails. */
  maxStalledCount?: number;
  name?: string;
  log?: Log;
}

export interface BullWorker {
  name: string;
  device: string;
  close(): Promise<void>;
}

export async function startBullWorker(options: BullWorkerOptions): Promise<BullWorker> {
  const log: Log = options.log ?? ((level, message) => console[level === "info" ? "log" : level](message));
  const names = redisNames(options.prefix);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const previewIntervalMs = options.previewIntervalMs ?? DEFAULT_PREVIEW_INTERVAL_MS;

  // Outputs are written here, then sent to the server; the server's data folder is not shared.
  const work = mkdtempSync(join(tmpdir(), "sluice-worker-"));
  const dirs = { outputsDir: join(work, "outputs"), uploadsDir: join(work, "uploads"), tempDir: join(work, "outputs", "temp") };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });

  const host = await createNodeHost({ ...dirs, modelsDir: options.modelsDir, device: options.device, nodeModules: options.nodeModules, modelMemoryBudgetBytes: options.memoryBudgetBytes, noiseThread: true }, log);
  const cache = new OutputCache(options.cacheBytes ?? 2 * 1024 ** 3);
  const packs = () => host.servicesFor("").listOptions?.("packs") ?? [];

  const connection = connectRedis(options.redisUrl, log, `worker ${name}`);
  const publisher = connectRedis(options.redisUrl);
  const subscriber = connectRedis(options.redisUrl);
  const reports = new Queue(names.reports, { connection: publisher, prefix: names.bullPrefix });
  const prompts = new Queue(names.prompts, { connection: publisher, prefix: names.bullPrefix });
  reports.on("error", () => {});
  prompts.on("error", () => {});

  const report = (r: WorkerReport) => reports.add(r.type, r, { removeOnComplete: true, removeOnFail: 1000, attempts: 5, backoff: { type: "exponential", delay: 500 } });
  const live = (name: string, payload: LiveEvent["payload"]) => { void publisher.publish(names.events, encodeValue({ name, payload } satisfies LiveEvent)).catch(() => {}); };
  const filesOf = (outputs: Record<string, NodeResult | undefined>): Record<string, string> => {
    const files: Record<string, string> = {};
    for (const result of Object.values(outputs)) {
      for (const image of result?.images ?? []) {
        try {
          files[image.file] = readFileSync(join(dirs.outputsDir, image.file)).toString("base64");
        } catch { /* a cached output from an earlier prompt: the server has its file already */ }
      }
    }
    return files;
  };

  // Control messages for the prompts running here.
  const running = new Map<string, { controller: AbortController; finish: Set<string> }>();
  /** The prompt running here and its node, for the model loads it causes. */
  let current: { promptId: string; nodeId?: string } | undefined;
  host.sessions.onLoadProgress((p) => {
    if (!current) return;
    live("model:loading", { promptId: current.promptId, ...(current.nodeId ? { nodeId: current.nodeId } : {}), label: p.label, phase: p.phase, fraction: p.fraction, bytes: p.bytes, elapsedMs: p.elapsedMs, ...(p.expectedMs !== undefined ? { expectedMs: p.expectedMs } : {}) });
  });
  subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => {
    const promptId = channel.toString().slice(names.control("").length);
    const state = running.get(promptId);
    const parsed = ControlMessage.safeParse(safeJson(message.toString()));
    if (!state || !parsed.success) return;
    if (parsed.data.type === "cancel") state.controller.abort();
    else state.finish.add(parsed.data.nodeId);
  });

  const processor = async (job: Job, token?: string) => {
    const data = RunJob.parse(job.data);
    const { promptId } = data;
    const missing = data.packs.filter((p) => !packs().includes(p));
    if (missing.length > 0) {
      const refusedBy = [...new Set([...data.refusedBy, name])];
      const workers = await prompts.getWorkersCount().catch(() => 1);
      const reason = `pack ${missing.map((p) => `"${p}"`).join(", ")} not found in ${options.modelsDir} on worker ${name} (it has: ${packs().join(", ") || "none"})`;
      if (refusedBy.length >= workers) throw new UnrecoverableError(`no worker has the pack this prompt needs: ${reason}`);
      log("warn", `refused prompt ${promptId}: ${reason}; it goes back for another worker`);
      await job.updateData({ ...data, refusedBy });
      await job.moveToDelayed(Date.now() + 250, token);
      throw new DelayedError();
    }

    const state = { controller: new AbortController(), finish: new Set<string>() };
    running.set(promptId, state);
    current = { promptId };
    await subscriber.subscribe(names.control(promptId));
    try {
      if (await publisher.exists(names.cancelled(promptId))) state.controller.abort();
      await report({ type: "started", promptId, worker: name, device: host.device });
      live("execution:start", { promptId, worker: name });
      const lastPreview = new Map<string, number>();
      const sent = new Set<string>();
      let paused: Omit<Extract<WorkerReport, { type: "waiting" }>, "result"> | undefined;
      const outcome = await runPrompt(host, cache, {
        promptId,
        workflow: JSON.parse(data.workflowJson) as Workflow,
        ...(data.embeddedJson ? { embedded: JSON.parse(data.embeddedJson) as Workflow } : {}),
        outputs: data.outputs,
        resumed: data.resumed.map((gate) => ({
          nodeId: gate.nodeId,
          answer: gate.answer,
          async value() {
            const bytes = await publisher.getBuffer(gate.checkpoint);
            if (!bytes) throw new Error(`the checkpoint of gate ${gate.nodeId} is gone from Redis (${gate.checkpoint})`);
            return decodeValue(bytes);
          },
        })),
      }, {
        onStart: (nodeId, type) => {
          if (current?.promptId === promptId) current.nodeId = nodeId;
          live("node:start", { promptId, nodeId, type });
        },
        onProgress: (nodeId, step, total) => live("node:progress", { promptId, nodeId, step, total }),
        onCached: (nodeId) => live("node:cached", { promptId, nodeId }),
        onDone: (nodeId, outputs, ms) => {
          if (!outputs?.images?.length) { live("node:done", { promptId, nodeId, ...(outputs ? { outputs } : {}), ms }); return; }
          // Files first, then the event: a browser that hears of an image can fetch it.
          sent.add(nodeId);
          void report({ type: "output", promptId, nodeId, outputs, ms, files: filesOf({ [nodeId]: outputs }) });
        },
        onPreview: (nodeId, frame) => {
          const t = performance.now();
          const last = frame.step !== undefined && frame.total !== undefined && frame.step >= frame.total;
          if (!last && t - (lastPreview.get(nodeId) ?? -Infinity) < previewIntervalMs) return;
          lastPreview.set(nodeId, t);
          const rgb = frame.rgb().slice();
          void encodePreview(rgb, frame.width, frame.height).then(({ mime, image }) =>
            live("node:preview", { promptId, nodeId, step: frame.step, total: frame.total, mime, image }));
        },
        pause: async (nodeId, checkpoint) => {
          const key = names.checkpoint(promptId, nodeId);
          await publisher.set(key, encodeValue(checkpoint.value));
          const jpeg = await encodeGatePreview(checkpoint.preview.rgb, checkpoint.preview.width, checkpoint.preview.height);
          paused = ({
            type: "waiting", promptId, nodeId, kind: checkpoint.preview.kind, preview: jpeg.toString("base64"), checkpoint: key,
            timeoutSeconds: checkpoint.timeoutSeconds, onTimeout: checkpoint.onTimeout,
          });
        },
      }, { signal: state.controller.signal, finishRequested: (nodeId) => state.finish.has(nodeId) });

      if (outcome.status === "waiting" && paused) await report({ ...paused, result: outcome.result });
      else if (outcome.status !== "waiting") {
        const unsent = Object.fromEntries(Object.entries(outcome.result.outputs).filter(([id]) => !sent.has(id) && !outcome.result.cached.includes(id)));
        await report({
          type: "result", promptId, worker: name, status: outcome.status, result: outcome.result, files: filesOf(unsent),
          ...(outcome.status === "failed" ? { error: outcome.error } : {}),
          ...(outcome.status === "cancelled" && outcome.cancelledAt ? { cancelledAt: outcome.cancelledAt } : {}),
          ...(outcome.status === "done" ? { modelMs: outcome.modelMs } : {}),
        });
      }
      return { status: outcome.status, worker: name };
    } finally {
      running.delete(promptId);
      if (current?.promptId === promptId) current = undefined;
      await subscriber.unsubscribe(names.control(promptId)).catch(() => {});
    }
  };

  const worker = new Worker(names.prompts, processor, {
    connection,
    prefix: names.bullPrefix,
    name,
    concurrency: 1,
    lockDuration: options.lockMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 1,
  });
  let lastError = "";
  worker.on("error", (err) => {
    // Connection errors repeat every retry; the connection's own log says when it is back.
    if (err.message !== lastError) log("warn", `worker ${name}: ${err.message}`);
    lastError = err.message;
  });
  worker.on("failed", (job, err) => { if (job && !(err instanceof DelayedError)) log("warn", `prompt ${job.data?.promptId}: ${err.message}`); });
  log("info", `worker ${name} (${host.deviceNote || `device: ${host.device}`}; model memory budget ${(host.sessions.stats().budgetBytes / 1024 ** 3).toFixed(1)} GB; packs: ${packs().join(", ") || "none"}) takes prompts from ${options.redisUrl}`);

  return {
    name,
    device: host.device,
    async close() {
      for (const state of running.values()) state.controller.abort();
      await worker.close().catch(() => {});
      await Promise.all([reports.close(), prompts.close()]).catch(() => {});
      for (const redis of [connection, publisher, subscriber]) redis.disconnect();
      await host.dispose();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

function safeJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return undefined; }
}
