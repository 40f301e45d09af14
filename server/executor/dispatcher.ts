// The main-thread side of execution: takes prompts from the store's queue one at a time, hands
// them to the worker thread, records results and relays events. A prompt paused at a gate steps
// aside so the next one can run; when answered it resumes before any new prompt starts.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import sharp from "sharp";
import type { GateAnswer } from "../../nodes/schema.ts";
import { encodePng } from "../media/png.ts";
import { writeFileAtomic } from "../media/write.ts";
import type { PromptInput, Store } from "../store/store.ts";
import type { FromWorker, ToWorker, WorkerOptions } from "./protocol.ts";

export interface EventSink {
  emit(name: string, payload: Record<string, unknown>): void;
}

export interface DispatcherOptions extends WorkerOptions {
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

export class Dispatcher {
  private worker: Worker;
  private active: string | null = null;
  private paused = new Set<string>();
  private resumeQueue: { promptId: string; nodeId: string; answer: GateAnswer }[] = [];
  private readyPromise: Promise<{ device: string; deviceNote: string }>;
  private closed = false;
  private readonly log: NonNullable<DispatcherOptions["log"]>;
  device = "starting";
  deviceNote = "";

  constructor(private readonly store: Store, private readonly sink: EventSink, options: DispatcherOptions) {
    const { log: givenLog, ...workerOptions } = options;
    const log = givenLog ?? ((level, message) => console[level === "info" ? "log" : level](message));
    this.log = log;
    this.worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), { workerData: workerOptions satisfies WorkerOptions });
    this.readyPromise = new Promise((resolve, reject) => {
      this.worker.once("error", reject);
      const handle = (msg: FromWorker): void => {
        if (msg.type === "batch") msg.messages.forEach(handle);
        else if (msg.type === "ready") {
          this.device = msg.device;
          this.deviceNote = msg.deviceNote;
          resolve(msg);
          this.tick();
        } else if (msg.type === "log") log(msg.level, msg.message);
        else this.onMessage(msg);
      };
      this.worker.on("message", handle);
    });
    this.worker.on("error", (err) => log("error", `executor worker failed: ${err.stack ?? err.message}`));
    this.worker.on("exit", (code) => {
      if (this.closed) return;
      log("error", `executor worker exited (code ${code}); prompts in flight are failed`);
      for (const id of [this.active, ...this.paused]) {
        if (id) this.store.finish(id, "failed", { outputs: {}, executed: [], cached: [], timings: {} }, { message: `the executor stopped unexpectedly (exit code ${code})` });
      }
    });
  }

  ready(): Promise<{ device: string; deviceNote: string }> {
    return this.readyPromise;
  }

  /**
   * Queues a prompt; returns its id. When the executor is free and no prompt waits, the worker gets
   * the prompt first and the store records it right after, in the same turn (no request can read
   * the queue in between): the run starts without waiting for the store's write and read.
   */
  submit(input: PromptInput): string {
    if (!this.free() || this.store.pendingCount() > 0) {
      const promptId = this.store.enqueue(input);
      this.tick();
      return promptId;
    }
    const promptId = randomUUID();
    const workflowJson = JSON.stringify(input.workflow);
    this.active = promptId;
    this.post({ type: "run", promptId, workflowJson, outputs: input.requestedOutputs });
    try {
      this.store.recordStarted(promptId, input, workflowJson);
    } catch (err) {
      // Not recorded, so not run: the worker stops it (its result then finds no record to update).
      this.post({ type: "cancel", promptId });
      throw err;
    }
    this.emitStatus();
    return promptId;
  }

  private free(): boolean {
    return !this.active && !this.closed && this.device !== "starting" && this.resumeQueue.length === 0;
  }

  /** Starts the next prompt when the worker is free. Called after every change to the queue. */
  tick(): void {
    if (this.active || this.closed || this.device === "starting") {
      this.emitStatus();
      return;
    }
    // The worker gets the prompt first and starts while this thread records it and tells clients.
    const resume = this.resumeQueue.shift();
    if (resume) {
      this.active = resume.promptId;
      this.paused.delete(resume.promptId);
      this.post({ type: "gate", promptId: resume.promptId, nodeId: resume.nodeId, answer: resume.answer });
      this.store.markRunning(resume.promptId);
      this.emitStatus();
      return;
    }
    const next = this.store.nextPending();
    if (next) {
      this.active = next.promptId;
      this.post({ type: "run", promptId: next.promptId, workflowJson: next.workflowJson, outputs: next.requestedOutputs });
      this.store.markRunning(next.promptId);
    }
    this.emitStatus();
  }

  /** Cancels a pending, running or waiting prompt. Returns false when it is none of those. */
  cancel(promptId: string): boolean {
    if (this.store.cancelPending(promptId)) {
      this.sink.emit("execution:interrupted", { promptId });
      this.tick();
      return true;
    }
    if (this.active === promptId || this.paused.has(promptId)) {
      this.resumeQueue = this.resumeQueue.filter((r) => r.promptId !== promptId);
      this.post({ type: "cancel", promptId });
      return true;
    }
    return false;
  }

  /** Interrupts the running prompt (or the one named). */
  interrupt(promptId?: string): boolean {
    const target = promptId ?? this.active;
    return target ? this.cancel(target) : false;
  }

  finishNow(promptId: string, nodeId: string): boolean {
    if (this.active !== promptId) return false;
    this.post({ type: "finish", promptId, nodeId });
    return true;
  }

  /** Answers a gate; false when the prompt is not waiting there. */
  answerGate(promptId: string, nodeId: string, answer: GateAnswer): boolean {
    const record = this.store.get(promptId);
    if (!this.paused.has(promptId) || record?.status !== "waiting" || record.gate?.nodeId !== nodeId) return false;
    if (answer.action === "cancel") return this.cancel(promptId);
    this.resumeQueue.push({ promptId, nodeId, answer });
    this.tick();
    return true;
  }

  clearCache(): void {
    this.post({ type: "clear-cache" });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.post({ type: "shutdown" });
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 3000).unref());
    await Promise.race([exited, timeout]);
    await this.worker.terminate();
  }

  private post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  private emitStatus(): void {
    this.sink.emit("status", { queueRemaining: this.store.pendingCount(), running: this.active, waiting: [...this.paused] });
  }

  private onMessage(msg: Exclude<FromWorker, { type: "ready" | "log" | "batch" }>): void {
    switch (msg.type) {
      case "event": {
        const { name, ...payload } = msg.event;
        if (name === "node:start") {
          const { nodeType, ...rest } = payload as { nodeType: string };
          this.sink.emit(name, { ...rest, type: nodeType });
        } else this.sink.emit(name, payload);
        break;
      }
      case "progress":
        for (const step of msg.steps) this.sink.emit("node:progress", { promptId: msg.promptId, nodeId: msg.nodeId, step, total: msg.total });
        break;
      case "preview":
        // Encoded after the rest of the batch: a result in the same batch is not kept waiting.
        setImmediate(() => {
          void encodePreview(msg.rgb, msg.width, msg.height).then(({ mime, image }) => {
            this.sink.emit("node:preview", { promptId: msg.promptId, nodeId: msg.nodeId, step: msg.step, total: msg.total, mime, image });
          });
        });
        break;
      case "waiting": {
        this.paused.add(msg.promptId);
        if (this.active === msg.promptId) this.active = null;
        // The preview is kept as a file so a reloaded page (or another tab) can show the gate.
        const previewFile = `temp/gate_${msg.promptId}_${msg.nodeId.replace(/[^\w-]/g, "_")}.jpg`;
        this.store.markWaiting(msg.promptId, msg.nodeId, previewFile, msg.kind);
        // A disk that is full or read-only loses the file, not the gate: the picture still goes out with the event.
        void encodeGatePreview(msg.rgb, msg.width, msg.height).then((image) => {
          let preview: string | undefined = previewFile;
          try {
            writeFileAtomic(join(this.store.paths.outputs, previewFile), image);
          } catch (err) {
            preview = undefined;
            this.log("error", `prompt ${msg.promptId} gate ${msg.nodeId}: the preview was not saved: ${(err as Error).message}`);
          }
          this.sink.emit("gate:waiting", { promptId: msg.promptId, nodeId: msg.nodeId, kind: msg.kind, mime: "image/jpeg", image, preview });
        }).catch((err: unknown) => this.log("error", `prompt ${msg.promptId} gate ${msg.nodeId}: the preview could not be made: ${(err as Error).message}`));
        this.tick();
        break;
      }
      case "workflow":
        this.store.updateWorkflow(msg.promptId, msg.workflow);
        this.sink.emit("gate:rerolled", { promptId: msg.promptId, note: msg.note });
        break;
      case "result": {
        if (this.active === msg.promptId) this.active = null;
        this.paused.delete(msg.promptId);
        // Clients hear first; the record is written in the same turn, before any request can read it.
        if (msg.status === "done") this.sink.emit("execution:done", { promptId: msg.promptId, outputs: msg.result.outputs, modelMs: msg.modelMs });
        else if (msg.status === "cancelled") this.sink.emit("execution:interrupted", { promptId: msg.promptId, node: msg.cancelledAt });
        else this.sink.emit("execution:error", { promptId: msg.promptId, ...msg.error });
        this.store.finish(msg.promptId, msg.status, msg.result, msg.error);
        this.tick();
        break;
      }
    }
  }
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
