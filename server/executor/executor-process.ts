// The executor process: a child of the server, started and supervised by ExecutorSupervisor. It
// owns ONNX Runtime, the engine's cache and the sessions, runs one compiled plan at a time (a
// gate keeps its value as a checkpoint with the server and the run ends there), and reports
// progress to the server over the IPC channel.
// Anything that kills it (out of memory, a native crash) leaves the server standing.
import { OutputCache } from "../engine/index.ts";
import type { ExecutorEvent, ExecutorOptions, FromExecutor, ToExecutor } from "./protocol.ts";
import { createNodeHost } from "./node-host.ts";
import { runPrompt } from "./prompt-run.ts";
import { decodeValue, encodeValue } from "./checkpoint-codec.ts";

if (!process.send) throw new Error("executor-process must be started by the server, with an IPC channel");
const sendRaw = process.send.bind(process);

/** Reports an error the process cannot survive, then exits (the server restarts the executor). */
function die(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const exit = () => process.exit(1);
  setTimeout(exit, 1000).unref();
  try {
    sendRaw({ type: "fatal", message } satisfies FromExecutor, undefined, {}, exit);
  } catch {
    exit();
  }
}
process.on("uncaughtException", die);
process.on("unhandledRejection", die);
// The server is gone: nothing to report to.
process.on("disconnect", () => process.exit(0));

const options = JSON.parse(process.env.SLUICE_EXECUTOR_OPTIONS ?? "null") as ExecutorOptions | null;
if (!options) throw new Error("SLUICE_EXECUTOR_OPTIONS is not set");

// Messages go out in batches: each message wakes the server's event loop. Events (progress,
// previews, a node's end) wait up to STREAM_FLUSH_MS so that one message carries several: ten
// updates a second for progress bars and previews. They arrive in order, and every step's progress
// arrives (consecutive steps of a node share one message). A prompt's result, a gate's question
// and logs go at the next microtask, with whatever events are waiting ahead of them; a node's
// start goes at once, so that the server knows which node ran if this process dies during it.
const STREAM_FLUSH_MS = 100;
let outbox: FromExecutor[] = [];
let flushQueued = false;
let flushTimer: ReturnType<typeof setTimeout> | undefined;
let lastFlush = -Infinity;
function flush(): void {
  flushQueued = false;
  if (flushTimer) clearTimeout(flushTimer);
  flushTimer = undefined;
  if (outbox.length === 0) return;
  const messages = outbox;
  outbox = [];
  lastFlush = performance.now();
  sendRaw(messages.length === 1 ? messages[0] : { type: "batch", messages } satisfies FromExecutor);
}
function send(msg: FromExecutor, event = false): void {
  outbox.push(msg);
  if (flushQueued) return;
  const wait = event ? STREAM_FLUSH_MS - (performance.now() - lastFlush) : 0;
  if (wait <= 0) {
    flushQueued = true;
    queueMicrotask(flush);
  } else {
    flushTimer ??= setTimeout(flush, wait);
  }
}
const emit = (event: ExecutorEvent) => send({ type: "event", event }, true);
/** A step's progress: added to the node's progress message when that is the last one waiting. */
function progress(promptId: string, nodeId: string, step: number, total: number): void {
  const last = outbox[outbox.length - 1];
  if (last?.type === "progress" && last.promptId === promptId && last.nodeId === nodeId && last.total === total) last.steps.push(step);
  else send({ type: "progress", promptId, nodeId, total, steps: [step] }, true);
}

// A host that cannot start (a device that is not there, a broken node module) is reported as the cause.
const host = await createNodeHost({ ...options, noiseThread: true }, (level, message) => send({ type: "log", level, message }))
  .catch((err: unknown) => {
    die(err);
    return new Promise<never>(() => {});
  });
const cache = new OutputCache(options.cacheBytes);

/** The prompt running and its node, for the loads it causes. */
let current: { promptId: string; nodeId?: string } | undefined;
// Load progress goes out at once, not with the next batch: ONNX Runtime builds a session on this
// thread, so nothing else leaves until it is done. The cache sends a load's phases as they start
// and about one update a second while converting; that is the rate the editor gets, which counts
// the seconds of ONNX Runtime's part itself.
host.sessions.onLoadProgress((p) => {
  send({ type: "loading", ...(current ? { promptId: current.promptId } : {}), load: { ...(current?.nodeId ? { nodeId: current.nodeId } : {}), label: p.label, phase: p.phase, fraction: p.fraction, bytes: p.bytes, elapsedMs: p.elapsedMs, ...(p.expectedMs !== undefined ? { expectedMs: p.expectedMs } : {}) } });
  if (p.phase === "loaded") send({ type: "sessions", stats: host.sessions.stats() });
  flush();
});

interface Running {
  controller: AbortController;
  finishNodes: Set<string>;
}
const running = new Map<string, Running>();

async function run(msg: Extract<ToExecutor, { type: "run" }>): Promise<void> {
  const { promptId } = msg;
  const state: Running = { controller: new AbortController(), finishNodes: new Set() };
  running.set(promptId, state);
  current = { promptId };
  const lastPreview = new Map<string, number>();
  emit({ name: "execution:start", promptId });
  let paused: Omit<Extract<FromExecutor, { type: "waiting" }>, "result"> | undefined;
  try {
    const outcome = await runPrompt(host, cache, {
      promptId,
      workflow: msg.workflow,
      ...(msg.embedded ? { embedded: msg.embedded } : {}),
      outputs: msg.outputs,
      resumed: (msg.resumed ?? []).map((gate) => ({ nodeId: gate.nodeId, answer: gate.answer, value: async () => decodeValue(Buffer.from(gate.checkpoint)) })),
    }, {
      onStart: (nodeId, nodeType) => {
        if (current?.promptId === promptId) current.nodeId = nodeId;
        emit({ name: "node:start", promptId, nodeId, nodeType });
        flush();
      },
      onProgress: (nodeId, step, total) => progress(promptId, nodeId, step, total),
      onCached: (nodeId) => emit({ name: "node:cached", promptId, nodeId }),
      onDone: (nodeId, outputs, ms) => emit({ name: "node:done", promptId, nodeId, outputs, ms }),
      onPreview: (nodeId, frame) => {
        // Throttled here so encoding and sending never slow sampling; the last step always goes.
        const t = performance.now();
        const last = frame.step !== undefined && frame.total !== undefined && frame.step >= frame.total;
        if (!last && t - (lastPreview.get(nodeId) ?? -Infinity) < options!.previewIntervalMs) return;
        lastPreview.set(nodeId, t);
        send({ type: "preview", promptId, nodeId, step: frame.step, total: frame.total, width: frame.width, height: frame.height, rgb: frame.rgb() }, true);
      },
      // The gate's value leaves with the message; this process keeps nothing of the waiting prompt.
      pause: async (nodeId, checkpoint) => {
        const { preview } = checkpoint;
        paused = ({
          type: "waiting", promptId, nodeId, kind: preview.kind, width: preview.width, height: preview.height, rgb: preview.rgb.slice(),
          checkpoint: encodeValue(checkpoint.value), timeoutSeconds: checkpoint.timeoutSeconds, onTimeout: checkpoint.onTimeout,
        });
      },
    }, { signal: state.controller.signal, finishRequested: (nodeId) => state.finishNodes.has(nodeId) });
    // What stays loaded reaches the server with the prompt's end (GET /api/system shows it).
    send({ type: "sessions", stats: host.sessions.stats() });
    if (outcome.status === "waiting" && paused) send({ ...paused, result: outcome.result });
    else if (outcome.status === "done") send({ type: "result", promptId, status: "done", result: outcome.result, modelMs: outcome.modelMs });
    else if (outcome.status === "cancelled") send({ type: "result", promptId, status: "cancelled", result: outcome.result, ...(outcome.cancelledAt ? { cancelledAt: outcome.cancelledAt } : {}) });
    else if (outcome.status === "failed") send({ type: "result", promptId, status: "failed", result: outcome.result, error: outcome.error });
  } finally {
    running.delete(promptId);
    if (current?.promptId === promptId) current = undefined;
  }
}

process.on("message", (msg: ToExecutor) => {
  switch (msg.type) {
    case "run":
      void run(msg);
      break;
    case "cancel":
      running.get(msg.promptId)?.controller.abort();
      break;
    case "finish":
      running.get(msg.promptId)?.finishNodes.add(msg.nodeId);
      break;
    case "clear-cache":
      cache.clear();
      break;
    case "shutdown":
      for (const state of running.values()) state.controller.abort();
      void host.dispose().finally(() => process.exit(0));
      break;
  }
});

send({ type: "sessions", stats: host.sessions.stats() });
send({ type: "ready", device: host.device, deviceNote: host.deviceNote });
