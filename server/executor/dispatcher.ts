// The server's side of execution: takes prompts from the store's queue one at a time, hands their
// compiled plans to the executor child process, records results and relays events. A prompt
// that reaches a gate leaves its value as a checkpoint in the store and its run ends, so the next
// prompt can run; when answered, the rest of its plan runs from the checkpoint before any new
// prompt starts (after a restart too). It also supervises the executor: when the process dies, the prompts it held are
// failed with the cause and a new executor is started, and the queue goes on.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import sharp from "sharp";
import type { GateAnswer, NodeDef } from "../../nodes/schema.ts";
import type { ServerEvent, ServerEventName } from "../../nodes/events.ts";
import { encodePng } from "../media/png.ts";
import { writeFileAtomic } from "../media/write.ts";
import type { CompileResult, Plan } from "../engine/index.ts";
import { rerollUpstream } from "../engine/index.ts";
import type { ResumeEntry, Store } from "../store/store.ts";
import { DEFAULT_MAX_WAITING, expiredGates, GATE_SWEEP_MS, gateDeadline, waitingLimitError } from "./gate-waits.ts";
import { describeExit, ExecutorChild, type ExecutorExit } from "./executor-child.ts";
import type { ExecutorOptions, FromExecutor } from "./protocol.ts";
import type { SessionCacheStats } from "../runtime/sessions.ts";

/** Where the dispatcher's events go (socket.io's io in the server): the vocabulary's event map. */
export interface EventSink {
  emit<E extends ServerEventName>(name: E, payload: ServerEvent<E>): void;
}

export interface DispatcherOptions {
  executor: ExecutorOptions;
  /** The prompt compiler, for prompts that waited in the queue (the catalog may have changed since). */
  compile(workflow: unknown, outputs?: string[]): CompileResult;
  /** The node registry, for re-rolls at gates. */
  registry: ReadonlyMap<string, NodeDef>;
  /** Prompts that may wait at gates at once. */
  maxWaiting?: number;
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

export interface Submission {
  plan: Plan;
  clientId?: string;
  name?: string;
  /** Run before the prompts already pending. */
  front?: boolean;
}

/**
 * How long a running prompt may take to stop after a cancel before its executor is killed: a
 * sampler stops within a step, but one native call (a model run, a huge allocation) cannot be
 * interrupted, and a cancel is answered within two seconds whatever runs.
 */
export const CANCEL_GRACE_MS = 1500;
/** Restarts of an executor that died before it was ready wait this long, doubling up to a minute. */
const RESTART_BACKOFF_MS = 1000;

const EMPTY_RESULT = { outputs: {}, executed: [], cached: [], timings: {} };

export class Dispatcher {
  private executor!: ExecutorChild;
  private active: string | null = null;
  /** The node the active prompt is running, for the message when the executor dies during it. */
  private activeNode: { id: string; type: string; step?: number; total?: number } | null = null;
  /** The model the executor is loading for the active prompt, if any (from its load events). */
  private activeLoad: { label: string; phase: string; bytes: number } | null = null;
  /** Answered prompts to run again, from their gates' checkpoints (or from the start, after a re-roll). */
  private resumeQueue: { promptId: string; resume: ResumeEntry[] }[] = [];
  private gateSweep: ReturnType<typeof setInterval>;
  private cancelTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readyPromise: Promise<{ device: string; deviceNote: string }>;
  private firstReady!: { resolve(info: { device: string; deviceNote: string }): void; reject(err: Error): void };
  private everReady = false;
  private closed = false;
  private backoffMs = RESTART_BACKOFF_MS;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly log: NonNullable<DispatcherOptions["log"]>;
  device = "starting";
  deviceNote = "";
  /** Executors started after the first (each death starts one). */
  restarts = 0;
  /** What the executor's session cache holds, as it last reported (GET /api/system). */
  sessions: SessionCacheStats | undefined;

  constructor(private readonly store: Store, private readonly sink: EventSink, private readonly options: DispatcherOptions) {
    this.log = options.log ?? ((level, message) => console[level === "info" ? "log" : level](message));
    this.readyPromise = new Promise((resolve, reject) => { this.firstReady = { resolve, reject }; });
    // A first start that fails is the caller's to report (ready() rejects); nobody may be listening yet.
    this.readyPromise.catch(() => {});
    this.startExecutor();
    this.gateSweep = setInterval(() => {
      for (const gate of expiredGates(this.store)) this.answerGate(gate.promptId, gate.nodeId, gate.answer);
    }, GATE_SWEEP_MS);
    this.gateSweep.unref();
  }

  /** Resolves when the first executor is ready; rejects with the cause when it could not start. */
  ready(): Promise<{ device: string; deviceNote: string }> {
    return this.readyPromise;
  }

  /** The executor process's id (tests and diagnostics). */
  get executorPid(): number | undefined {
    return this.executor.pid;
  }

  private startExecutor(): void {
    this.device = "starting";
    const executor: ExecutorChild = new ExecutorChild(this.options.executor, {
      ready: (info) => {
        if (executor !== this.executor) return;
        this.device = info.device;
        this.deviceNote = info.deviceNote;
        this.backoffMs = RESTART_BACKOFF_MS;
        if (!this.everReady) {
          this.everReady = true;
          this.firstReady.resolve(info);
        }
        this.tick();
      },
      message: (msg) => { if (executor === this.executor) this.onMessage(msg); },
      exit: (exit) => { if (executor === this.executor) this.onExecutorExit(exit); },
    });
    this.executor = executor;
  }

  /** The executor died: whatever it held is failed with the cause, and a new one starts. */
  private onExecutorExit(exit: ExecutorExit): void {
    if (this.closed) return;
    const cause = describeExit(exit);
    if (!this.everReady) {
      // Nothing ran yet: the server cannot start (a device that is not there, a broken node module).
      this.closed = true;
      this.firstReady.reject(new Error(cause));
      return;
    }
    this.log("error", `${cause}; starting a new executor`);
    const active = this.active;
    if (active) {
      this.clearCancelTimer(active);
      const node = this.activeNode;
      const load = this.activeLoad;
      const where = node ? `node ${node.id} ${node.type}` : undefined;
      if (exit.endedBy === "cancel") {
        this.sink.emit("execution:interrupted", { promptId: active, node: node?.id });
        this.store.finish(active, "cancelled", EMPTY_RESULT, { message: `cancelled; ${cause}` });
      } else {
        const step = node?.step !== undefined && node.total !== undefined ? ` (step ${node.step} of ${node.total})` : "";
        // A load that dies takes the process with it (a native crash, or memory): say which model.
        const loading = load ? `, ${load.phase === "converting" ? "converting" : "loading"} the model ${load.label} (${formatLoadBytes(load.bytes)})` : "";
        const error = {
          message: where ? `${cause} while ${where} ran${step}${loading}` : `${cause} before any node ran${loading}`,
          ...(node ? { node: node.id, type: node.type } : {}),
        };
        this.sink.emit("execution:error", { promptId: active, ...error });
        this.store.finish(active, "failed", EMPTY_RESULT, error);
      }
    }
    // Prompts waiting at gates live in the store, not in the executor: they wait on.
    this.active = null;
    this.activeNode = null;
    this.activeLoad = null;
    this.sessions = undefined;
    // A prompt that was about to resume went back to waiting in the store with the executor's death.
    this.restarts++;
    if (exit.wasReady) {
      this.startExecutor();
    } else {
      // It died while starting: wait before the next try, so a broken setup does not spin.
      this.device = "starting";
      this.restartTimer = setTimeout(() => { this.restartTimer = undefined; if (!this.closed) this.startExecutor(); }, this.backoffMs);
      this.backoffMs = Math.min(60_000, this.backoffMs * 2);
    }
    this.emitStatus();
  }

  /**
   * Queues a compiled prompt; returns its id. When the executor is free and no prompt waits, the
   * executor gets the plan first and the store records it right after, in the same turn (no
   * request can read the queue in between): the run starts without waiting for the store.
   */
  submit(input: Submission): string {
    const record = { workflow: input.plan.workflow, requestedOutputs: input.plan.outputs, clientId: input.clientId, name: input.name, front: input.front };
    if (!this.free() || this.store.pendingCount() > 0) {
      const promptId = this.store.enqueue(record);
      this.tick();
      return promptId;
    }
    const promptId = randomUUID();
    this.start(promptId, input.plan);
    try {
      this.store.recordStarted(promptId, record, JSON.stringify(input.plan.workflow));
    } catch (err) {
      // Not recorded, so not run: the executor stops it (its result then finds no record to update).
      this.executor.send({ type: "cancel", promptId });
      this.active = null;
      throw err;
    }
    this.emitStatus();
    return promptId;
  }

  private free(): boolean {
    return !this.active && !this.closed && this.executor.ready && this.resumeQueue.length === 0;
  }

  private start(promptId: string, plan: Plan): void {
    this.active = promptId;
    this.activeNode = null;
    this.activeLoad = null;
    this.executor.send({ type: "run", promptId, workflow: plan.flat, embedded: plan.workflow, ...(plan.outputs ? { outputs: plan.outputs } : {}) });
  }

  /** Starts the next prompt when the executor is free. Called after every change to the queue. */
  tick(): void {
    if (this.active || this.closed || !this.executor.ready) {
      this.emitStatus();
      return;
    }
    // The executor gets the prompt first and starts while this process records it and tells clients.
    for (let resume = this.resumeQueue.shift(); resume; resume = this.resumeQueue.shift()) {
      if (this.resumeFrom(resume.promptId, resume.resume)) {
        this.emitStatus();
        return;
      }
    }
    for (let next = this.store.nextPending(); next; next = this.store.nextPending()) {
      // Checked again: the catalog (packs, node modules) may differ from when it was queued.
      const compiled = this.options.compile(JSON.parse(next.workflowJson), next.requestedOutputs);
      if (compiled.ok) {
        this.start(next.promptId, compiled.plan);
        this.store.markRunning(next.promptId);
        break;
      }
      const error = { message: compiled.message };
      this.sink.emit("execution:error", { promptId: next.promptId, ...error, nodeErrors: compiled.nodeErrors });
      this.store.finish(next.promptId, "failed", EMPTY_RESULT, error);
    }
    this.emitStatus();
  }

  /**
   * Runs the rest of a waiting prompt's plan from its answered gates' checkpoints; false when it
   * could not start (the prompt no longer compiles, a checkpoint is gone): it then fails.
   */
  private resumeFrom(promptId: string, resume: ResumeEntry[]): boolean {
    const record = this.store.get(promptId);
    if (!record || record.status !== "waiting") return false;
    const compiled = this.options.compile(record.workflow, record.requestedOutputs);
    const fail = (message: string) => {
      this.sink.emit("execution:error", { promptId, message });
      this.store.finish(promptId, "failed", EMPTY_RESULT, { message });
      return false;
    };
    if (!compiled.ok) return fail(compiled.message);
    const resumed = [];
    for (const entry of resume) {
      const checkpoint = this.store.getCheckpoint(entry.checkpoint);
      if (!checkpoint) return fail(`the checkpoint of gate ${entry.nodeId} is gone; queue the prompt again`);
      resumed.push({ nodeId: entry.nodeId, answer: entry.answer, checkpoint });
    }
    this.active = promptId;
    this.activeNode = null;
    this.activeLoad = null;
    this.executor.send({ type: "run", promptId, workflow: compiled.plan.flat, embedded: compiled.plan.workflow, ...(compiled.plan.outputs ? { outputs: compiled.plan.outputs } : {}), resumed });
    this.store.startRun(promptId, resume);
    return true;
  }

  /**
   * Cancels a pending, running or waiting prompt. Returns false when it is none of those. A
   * running prompt that has not stopped within CANCEL_GRACE_MS is ended with its executor.
   */
  cancel(promptId: string): boolean {
    if (this.store.cancelPending(promptId)) {
      this.sink.emit("execution:interrupted", { promptId });
      this.tick();
      return true;
    }
    if (this.store.get(promptId)?.status === "waiting") {
      // It holds no executor: it simply ends.
      this.resumeQueue = this.resumeQueue.filter((r) => r.promptId !== promptId);
      this.sink.emit("execution:interrupted", { promptId });
      this.store.finish(promptId, "cancelled", EMPTY_RESULT);
      this.emitStatus();
      return true;
    }
    if (this.active === promptId) {
      this.executor.send({ type: "cancel", promptId });
      if (!this.cancelTimers.has(promptId)) {
        this.cancelTimers.set(promptId, setTimeout(() => this.cancelOverdue(promptId), CANCEL_GRACE_MS));
      }
      return true;
    }
    return false;
  }

  private cancelOverdue(promptId: string): void {
    this.cancelTimers.delete(promptId);
    if (this.active === promptId) {
      this.log("warn", `prompt ${promptId} did not stop within ${CANCEL_GRACE_MS} ms of its cancel; ending its executor`);
      this.executor.kill("cancel");
    }
  }

  private clearCancelTimer(promptId: string): void {
    const timer = this.cancelTimers.get(promptId);
    if (timer) clearTimeout(timer);
    this.cancelTimers.delete(promptId);
  }

  /** Interrupts the running prompt (or the one named). */
  interrupt(promptId?: string): boolean {
    const target = promptId ?? this.active;
    return target ? this.cancel(target) : false;
  }

  finishNow(promptId: string, nodeId: string): boolean {
    if (this.active !== promptId) return false;
    this.executor.send({ type: "finish", promptId, nodeId });
    return true;
  }

  /** Answers a gate; false when the prompt is not waiting there. */
  answerGate(promptId: string, nodeId: string, answer: GateAnswer): boolean {
    const record = this.store.get(promptId);
    if (record?.status !== "waiting" || record.gate?.nodeId !== nodeId || !record.gate.checkpoint) return false;
    if (this.resumeQueue.some((r) => r.promptId === promptId)) return false;
    if (answer.action === "cancel") return this.cancel(promptId);
    if (answer.action === "reroll") {
      // The seeds upstream of the gate move on and the prompt runs again from the start; the
      // executor's cache makes everything that did not change free.
      const compiled = this.options.compile(record.workflow, record.requestedOutputs);
      if (!compiled.ok) return false;
      const rolled = rerollUpstream(compiled.plan.flat, nodeId, this.options.registry);
      this.store.updateWorkflow(promptId, rolled.workflow);
      this.sink.emit("gate:rerolled", { promptId, note: `re-rolled ${rolled.changed.join(", ") || "nothing (no seeds upstream)"}` });
      this.resumeQueue.push({ promptId, resume: [] });
    } else {
      const earlier = this.store.resumeOf(promptId).resume.filter((r) => r.nodeId !== nodeId);
      this.resumeQueue.push({ promptId, resume: [...earlier, { nodeId, answer, checkpoint: record.gate.checkpoint }] });
    }
    this.tick();
    return true;
  }

  clearCache(): void {
    this.executor.send({ type: "clear-cache" });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.gateSweep);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const timer of this.cancelTimers.values()) clearTimeout(timer);
    this.cancelTimers.clear();
    await this.executor.shutdown();
  }

  private emitStatus(): void {
    this.sink.emit("status", { queueRemaining: this.store.pendingCount(), running: this.active, waiting: this.store.withStatus("waiting").map((p) => p.promptId) });
  }

  private onMessage(msg: Exclude<FromExecutor, { type: "ready" | "fatal" | "batch" }>): void {
    switch (msg.type) {
      case "log":
        this.log(msg.level, msg.message);
        break;
      case "event": {
        const event = msg.event;
        if (event.name === "node:start") {
          if (event.promptId === this.active) {
            this.activeNode = { id: event.nodeId, type: event.nodeType };
            this.activeLoad = null;
          }
          this.sink.emit("node:start", { promptId: event.promptId, nodeId: event.nodeId, type: event.nodeType });
        } else if (event.name === "node:done") this.sink.emit("node:done", { promptId: event.promptId, nodeId: event.nodeId, outputs: event.outputs, ms: event.ms });
        else if (event.name === "node:cached") this.sink.emit("node:cached", { promptId: event.promptId, nodeId: event.nodeId });
        else this.sink.emit("execution:start", { promptId: event.promptId });
        break;
      }
      case "loading": {
        const { load } = msg;
        if (msg.promptId !== undefined && msg.promptId === this.active) this.activeLoad = load.phase === "loaded" ? null : { label: load.label, phase: load.phase, bytes: load.bytes };
        if (msg.promptId !== undefined) this.sink.emit("model:loading", { promptId: msg.promptId, ...load });
        break;
      }
      case "sessions":
        this.sessions = msg.stats;
        break;
      case "progress":
        if (this.activeNode && msg.promptId === this.active && msg.nodeId === this.activeNode.id) {
          this.activeNode.step = msg.steps[msg.steps.length - 1];
          this.activeNode.total = msg.total;
        }
        for (const step of msg.steps) this.sink.emit("node:progress", { promptId: msg.promptId, nodeId: msg.nodeId, step, total: msg.total });
        break;
      case "preview":
        // Encoded after the rest of the batch: a result in the same batch is not kept waiting.
        setImmediate(() => {
          encodePreview(msg.rgb, msg.width, msg.height).then(({ mime, image }) => {
            this.sink.emit("node:preview", { promptId: msg.promptId, nodeId: msg.nodeId, step: msg.step, total: msg.total, mime, image });
          }, (err: Error) => this.log("warn", `a preview of node ${msg.nodeId} could not be encoded: ${err.message}`));
        });
        break;
      case "waiting": {
        if (this.active !== msg.promptId) break;
        this.active = null;
        this.activeNode = null;
        this.activeLoad = null;
        const limit = this.options.maxWaiting ?? DEFAULT_MAX_WAITING;
        if (this.store.waitingCount() >= limit) {
          const error = waitingLimitError(limit, msg.nodeId);
          this.sink.emit("execution:error", { promptId: msg.promptId, ...error });
          this.store.finish(msg.promptId, "failed", EMPTY_RESULT, error);
          this.tick();
          break;
        }
        // The gate's value waits in the store (a restart keeps it); the executor holds nothing.
        const checkpoint = `${msg.promptId}:${msg.nodeId}`;
        this.store.putCheckpoint(checkpoint, msg.promptId, msg.checkpoint);
        this.store.recordPartial(msg.promptId, msg.result);
        // The preview is kept as a file so a reloaded page (or another tab) can show the gate.
        const previewFile = `temp/gate_${msg.promptId}_${msg.nodeId.replace(/[^\w-]/g, "_")}.jpg`;
        this.store.markWaiting(msg.promptId, msg.nodeId, previewFile, msg.kind, { checkpoint, ...gateDeadline(msg.timeoutSeconds, msg.onTimeout) });
        encodeGatePreview(msg.rgb, msg.width, msg.height)
          .then((image) => {
            // A preview that cannot be kept (a full disk) still reaches the clients listening now;
            // written through a temporary name, so no half file is left to be served.
            let preview: string | undefined = previewFile;
            try {
              writeFileAtomic(join(this.store.paths.outputs, previewFile), image);
            } catch (err) {
              preview = undefined;
              this.log("warn", `the gate preview of prompt ${msg.promptId} could not be kept: ${(err as Error).message}`);
            }
            this.sink.emit("gate:waiting", { promptId: msg.promptId, nodeId: msg.nodeId, kind: msg.kind, mime: "image/jpeg", image, preview });
          })
          .catch((err: Error) => this.log("warn", `the gate preview of prompt ${msg.promptId} could not be encoded: ${err.message}`));
        this.tick();
        break;
      }
      case "result": {
        // A prompt this process already gave up on (its cancel was overdue) is not recorded twice.
        if (this.active !== msg.promptId) break;
        this.clearCancelTimer(msg.promptId);
        if (this.active === msg.promptId) {
          this.active = null;
          this.activeNode = null;
          this.activeLoad = null;
        }
        // Clients hear first; the record is written in the same turn, before any request can read it.
        if (msg.status === "done") this.sink.emit("execution:done", { promptId: msg.promptId, outputs: msg.result.outputs, modelMs: msg.modelMs });
        else if (msg.status === "cancelled") this.sink.emit("execution:interrupted", { promptId: msg.promptId, node: msg.cancelledAt });
        else this.sink.emit("execution:error", { promptId: msg.promptId, ...(msg.error ?? { message: "the run failed without a reported cause" }) });
        this.store.finish(msg.promptId, msg.status, msg.result, msg.error);
        this.tick();
        break;
      }
    }
  }
}

/** "4.1 GB", "640 MB", "1.3 MB": a model's size in a message. */
function formatLoadBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1)} MB`;
}

/**
 * Live previews up to this size (latents, mostly) go as PNG at their own size: encoding takes
 * microseconds, and the editor scales small pictures up pixelated. Larger ones go as JPEG.
 */
const PNG_PREVIEW_MAX = 128;

/** Encodes a step's live preview (RGB bytes, HWC). */
export async function encodePreview(rgb: Uint8Array, width: number, height: number): Promise<{ mime: "image/png" | "image/jpeg"; image: Buffer }> {
  if (Math.max(width, height) <= PNG_PREVIEW_MAX) return { mime: "image/png", image: encodePng(rgb, width, height, 3) };
  return { mime: "image/jpeg", image: await jpeg(rgb, width, height, 1) };
}

/** Encodes a gate's picture as JPEG, small latents scaled up (nearest) so the paint dialog has pixels to paint on. */
export function encodeGatePreview(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  return jpeg(rgb, width, height, Math.max(1, Math.floor(256 / Math.max(width, height))));
}

function jpeg(rgb: Uint8Array, width: number, height: number, scale: number): Promise<Buffer> {
  let img = sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } });
  if (scale > 1) img = img.resize(width * scale, height * scale, { kernel: "nearest" });
  return img.jpeg({ quality: 82 }).toBuffer();
}
