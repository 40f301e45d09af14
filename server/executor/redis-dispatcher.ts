// The server's side of BullMQ workers: SQLite stays the record of the queue; compiled plans go to
// the prompts queue a few at a time (so the server's fair order holds), reports come back on a
// queue of their own (files, gate checkpoints, results: nothing lost while the server is down),
// live events on a pub/sub channel. When Redis comes back empty, prompts it lost are queued again
// from SQLite.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Queue, QueueEvents, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { ServerEventName, ServerEvent } from "../../nodes/events.ts";
import type { GateAnswer, NodeDef } from "../../nodes/schema.ts";
import { rerollUpstream, type CompileResult } from "../engine/index.ts";
import type { ResumeEntry, Store } from "../store/store.ts";
import { resolveInside } from "../media/paths.ts";
import { writeFileAtomic } from "../media/write.ts";
import { connectRedis, type Log } from "./redis-connection.ts";
import { decodeValue, packsOf, redisNames, WorkerReport, type LiveEvent, type RunJob } from "./redis-protocol.ts";
import type { EventSink, ExecutorTransport, Submission } from "./transport.ts";
import { DEFAULT_MAX_WAITING, expiredGates, GATE_SWEEP_MS, gateDeadline, waitingLimitError } from "./gate-waits.ts";

export interface RedisDispatcherOptions {
  redisUrl: string;
  prefix?: string;
  registry: ReadonlyMap<string, NodeDef>;
  /** The prompt compiler: a stored prompt is compiled again when it is handed to the workers. */
  compile(workflow: unknown, outputs?: string[]): CompileResult;
  /** Jobs handed to BullMQ beyond those running: enough that a free worker never waits. */
  prefetch?: number;
  /** Attempts of a job whose worker fails or dies before it gives up. */
  attempts?: number;
  /** Prompts that may wait at gates at once; a prompt pausing beyond it fails with that reason. */
  maxWaiting?: number;
  log?: Log;
}


/** Events a worker may publish live; anything else on the channel is dropped. */
const LIVE_EVENTS = new Set<ServerEventName>(["execution:start", "node:start", "node:progress", "node:preview", "node:done", "node:cached", "model:loading"]);

const EMPTY_RESULT = { outputs: {}, executed: [], cached: [], timings: {} };

export class RedisDispatcher implements ExecutorTransport {
  readonly device = "workers";
  readonly deviceNote: string;
  private readonly names: ReturnType<typeof redisNames>;
  private readonly log: Log;
  private readonly connection: Redis;
  private readonly subscriber: Redis;
  private readonly prompts: Queue;
  private readonly reportsWorker: Worker;
  private readonly queueEvents: QueueEvents;
  /** Prompts handed to BullMQ that no worker has started yet. */
  private readonly handedOver = new Set<string>();
  private readonly sweep: ReturnType<typeof setInterval>;
  private readonly readyPromise: Promise<{ device: string; deviceNote: string }>;
  private pumping = false;
  /** The hand-over in progress (close waits for it: it reads the store). */
  private pumped: Promise<void> = Promise.resolve();
  private reconciled: Promise<void> = Promise.resolve();
  private pumpAgain = false;
  private closed = false;
  private readonly ownConnections: Redis[];

  constructor(private readonly store: Store, private readonly sink: EventSink, private readonly options: RedisDispatcherOptions) {
    this.log = options.log ?? ((level, message) => console[level === "info" ? "log" : level](message));
    this.names = redisNames(options.prefix);
    this.deviceNote = `BullMQ workers on ${options.redisUrl}`;
    const prefix = this.names.bullPrefix;
    this.connection = connectRedis(options.redisUrl, this.log, "server");
    this.subscriber = connectRedis(options.redisUrl);
    this.prompts = new Queue(this.names.prompts, { connection: this.connection, prefix });
    this.prompts.on("error", () => {});
    // BullMQ leaves a connection it was given open when it closes: close() disconnects these too.
    const reportsConnection = connectRedis(options.redisUrl);
    const eventsConnection = connectRedis(options.redisUrl);
    this.ownConnections = [reportsConnection, eventsConnection];
    this.reportsWorker = new Worker(this.names.reports, (job) => this.onReport(job), { connection: reportsConnection, prefix, concurrency: 1 });
    this.reportsWorker.on("error", () => {});
    this.queueEvents = new QueueEvents(this.names.prompts, { connection: eventsConnection, prefix });
    this.queueEvents.on("error", () => {});
    this.queueEvents.on("failed", ({ jobId, failedReason }) => this.onJobFailed(jobId, failedReason));

    this.subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
      let event: LiveEvent;
      try { event = decodeValue(message) as LiveEvent; } catch { return; }
      if (!LIVE_EVENTS.has(event?.name as ServerEventName) || typeof event.payload?.promptId !== "string") return;
      // A prompt's events count while it runs; a late one from a worker that lost it does not.
      if (this.store.get(event.payload.promptId)?.status !== "running") return;
      this.sink.emit(event.name as ServerEventName, event.payload as ServerEvent<ServerEventName>);
    });
    void this.subscriber.subscribe(this.names.events).catch(() => {});
    // When Redis comes back (perhaps empty), what it lost is queued again.
    this.connection.on("ready", () => { if (!this.closed) this.reconciled = this.reconcile(); });

    this.sweep = setInterval(() => {
      for (const gate of expiredGates(this.store)) this.answerGate(gate.promptId, gate.nodeId, gate.answer);
      this.tick();
    }, GATE_SWEEP_MS);
    this.sweep.unref();
    this.reconciled = this.reconcile();
    this.readyPromise = this.reconciled.then(() => ({ device: this.device, deviceNote: this.deviceNote }));
  }

  ready(): Promise<{ device: string; deviceNote: string }> {
    return this.readyPromise;
  }

  submit(input: Submission): string {
    const promptId = this.store.enqueue({ workflow: input.plan.workflow, requestedOutputs: input.plan.outputs, clientId: input.clientId, name: input.name, front: input.front });
    this.tick();
    return promptId;
  }

  tick(): void {
    this.emitStatus();
    if (this.closed) return;
    if (this.pumping) { this.pumpAgain = true; return; }
    this.pumping = true;
    this.pumped = this.pump().catch((err: Error) => this.log("warn", `cannot hand prompts to Redis: ${err.message}`)).finally(() => {
      this.pumping = false;
      if (this.pumpAgain) { this.pumpAgain = false; this.tick(); }
    });
  }

  /** Hands pending prompts to BullMQ in the store's fair order while fewer than `prefetch` wait there. */
  private async pump(): Promise<void> {
    const prefetch = this.options.prefetch ?? Math.max(1, await this.prompts.getWorkersCount().catch(() => 1));
    while (!this.closed && this.handedOver.size < prefetch) {
      const next = this.store.nextPending();
      if (!next) break;
      if (this.compiled(next.promptId, next.workflowJson, next.requestedOutputs)) await this.dispatch(next.promptId, next.workflowJson, next.requestedOutputs, []);
    }
    this.emitStatus();
  }

  /**
   * Checks a stored prompt against today's catalog (packs, node modules may have changed since it
   * was queued); one that no longer compiles fails with the compiler's errors.
   */
  private compiled(promptId: string, workflowJson: string, outputs: string[] | undefined): boolean {
    const result = this.options.compile(JSON.parse(workflowJson), outputs);
    if (result.ok) return true;
    this.sink.emit("execution:error", { promptId, message: result.message, nodeErrors: result.nodeErrors });
    this.store.finish(promptId, "failed", EMPTY_RESULT, { message: result.message });
    return false;
  }

  /** One run of a prompt: its plan (and the gates answered so far) as a job. */
  private async dispatch(promptId: string, workflowJson: string, outputs: string[] | undefined, resume: ResumeEntry[], first = false): Promise<void> {
    const runs = this.store.startRun(promptId, resume);
    this.handedOver.add(promptId);
    try {
      await this.addJob(promptId, runs, workflowJson, outputs, resume, first);
    } catch (err) {
      // Redis is away: the record says running; reconciliation queues it when Redis is back.
      this.log("warn", `prompt ${promptId} waits for Redis: ${(err as Error).message}`);
    }
  }

  private async addJob(promptId: string, runs: number, workflowJson: string, outputs: string[] | undefined, resume: ResumeEntry[], first = false): Promise<void> {
    // The executor receives the flat plan; the record keeps the workflow as the person built it.
    const compiled = this.options.compile(JSON.parse(workflowJson), outputs);
    if (!compiled.ok) throw new Error(compiled.message);
    const flat = compiled.plan.flat;
    const job: RunJob = {
      promptId, workflowJson: JSON.stringify(flat), embeddedJson: JSON.stringify(compiled.plan.workflow), packs: packsOf(flat, this.options.registry),
      resumed: resume, refusedBy: [], ...(outputs ? { outputs } : {}),
    };
    await this.prompts.add("run", job, {
      jobId: jobIdOf(promptId, runs),
      attempts: this.options.attempts ?? 2,
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 24 * 3600 },
      // A resumed prompt goes before the prompts waiting for their first run.
      ...(first ? { lifo: true } : {}),
    });
  }

  /**
   * Makes Redis agree with SQLite: a running prompt whose job Redis no longer has is queued
   * again (seeds make the images the same); one whose job failed is failed; a waiting prompt
   * whose checkpoint is gone runs again from the start.
   */
  private async reconcile(): Promise<void> {
    if (this.closed) return;
    try {
      let requeued = 0;
      for (const prompt of this.store.withStatus("running")) {
        const jobId = jobIdOf(prompt.promptId, prompt.runs);
        const job = await this.prompts.getJob(jobId);
        if (!job) {
          await this.addJob(prompt.promptId, prompt.runs, prompt.workflowJson, prompt.requestedOutputs, prompt.resume, true);
          this.handedOver.add(prompt.promptId);
          requeued++;
          continue;
        }
        const state = await job.getState();
        if (state === "failed") this.onJobFailed(jobId, job.failedReason);
        else if (state === "waiting" || state === "delayed" || state === "prioritized") this.handedOver.add(prompt.promptId);
      }
      for (const prompt of this.store.withStatus("waiting")) {
        const key = prompt.gate?.checkpoint;
        if (key && (await this.connection.exists(key))) continue;
        this.log("warn", `prompt ${prompt.promptId}: the checkpoint at gate ${prompt.gate?.nodeId} is gone from Redis; it runs again from the start`);
        await this.dispatch(prompt.promptId, prompt.workflowJson, prompt.requestedOutputs, [], true);
        requeued++;
      }
      if (requeued > 0) this.log("warn", `queued ${requeued} prompt(s) again that Redis had lost`);
      this.tick();
    } catch (err) {
      this.log("warn", `cannot compare the queue with Redis yet: ${(err as Error).message}`);
    }
  }

  cancel(promptId: string): boolean {
    if (this.store.cancelPending(promptId)) {
      this.sink.emit("execution:interrupted", { promptId });
      this.tick();
      return true;
    }
    const record = this.store.get(promptId);
    if (record?.status === "waiting") {
      this.finish(promptId, "cancelled", undefined, record.gate?.nodeId);
      return true;
    }
    if (record?.status !== "running") return false;
    // A worker that picks the job up later sees the mark; the one running it hears the message.
    void this.connection.set(this.names.cancelled(promptId), "1", "EX", 24 * 3600).catch(() => {});
    void this.connection.publish(this.names.control(promptId), JSON.stringify({ type: "cancel" })).catch(() => {});
    // Still waiting in BullMQ: removed, and cancelled here at once.
    void this.prompts.getJob(jobIdOf(promptId, this.store.resumeOf(promptId).runs))
      .then(async (job) => {
        if (!job || !(await job.isWaiting() || await job.isDelayed())) return;
        await job.remove();
        if (this.store.get(promptId)?.status === "running") this.finish(promptId, "cancelled");
      })
      .catch(() => { /* taken by a worker meanwhile: it reports the cancel */ });
    return true;
  }

  interrupt(promptId?: string): boolean {
    if (promptId) return this.cancel(promptId);
    const running = this.store.withStatus("running");
    for (const prompt of running) this.cancel(prompt.promptId);
    return running.length > 0;
  }

  finishNow(promptId: string, nodeId: string): boolean {
    if (this.store.get(promptId)?.status !== "running") return false;
    void this.connection.publish(this.names.control(promptId), JSON.stringify({ type: "finish", nodeId })).catch(() => {});
    return true;
  }

  answerGate(promptId: string, nodeId: string, answer: GateAnswer): boolean {
    const record = this.store.get(promptId);
    if (record?.status !== "waiting" || record.gate?.nodeId !== nodeId || !record.gate.checkpoint) return false;
    if (answer.action === "cancel") return this.cancel(promptId);
    const { resume } = this.store.resumeOf(promptId);
    if (answer.action === "reroll") {
      // The seeds upstream of the gate move on and the prompt runs again from the start.
      const compiled = this.options.compile(record.workflow, record.requestedOutputs);
      if (!compiled.ok) throw new Error(compiled.message);
      const rolled = rerollUpstream(compiled.plan.flat, nodeId, this.options.registry);
      this.store.updateWorkflow(promptId, rolled.workflow);
      this.sink.emit("gate:rerolled", { promptId, note: `re-rolled ${rolled.changed.join(", ") || "nothing (no seeds upstream)"}` });
      void this.dispatch(promptId, JSON.stringify(rolled.workflow), record.requestedOutputs, [], true).then(() => this.tick());
      return true;
    }
    const next = [...resume.filter((r) => r.nodeId !== nodeId), { nodeId, answer, checkpoint: record.gate.checkpoint }];
    void this.dispatch(promptId, JSON.stringify(record.workflow), record.requestedOutputs, next, true).then(() => this.tick());
    return true;
  }

  clearCache(): void {
    // Each worker keeps its own cache, bounded by its budget; nothing to clear from here.
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweep);
    await Promise.allSettled([this.pumped, this.reconciled, this.reportsWorker.close(), this.queueEvents.close()]);
    await Promise.allSettled([this.pumped, this.prompts.close()]);
    this.subscriber.disconnect();
    this.connection.disconnect();
    for (const c of this.ownConnections) c.disconnect();
  }

  private lastStatus = "";
  /** The queue's status, when it changed. */
  private emitStatus(): void {
    if (this.closed) return;
    const running = this.store.withStatus("running").map((p) => p.promptId);
    const status = { queueRemaining: this.store.pendingCount(), running: running[0] ?? null, runningAll: running, waiting: this.store.withStatus("waiting").map((p) => p.promptId) };
    const text = JSON.stringify(status);
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.sink.emit("status", status);
  }

  private async onReport(job: Job): Promise<void> {
    const parsed = WorkerReport.safeParse(job.data);
    if (!parsed.success) { this.log("warn", `ignored a malformed worker report: ${parsed.error.message}`); return; }
    const report = parsed.data;
    const record = this.store.get(report.promptId);
    // Reports of a prompt that is no longer running (a duplicate run after a lost job) are dropped.
    if (record?.status !== "running") return;
    switch (report.type) {
      case "started":
        this.handedOver.delete(report.promptId);
        this.tick();
        break;
      case "output":
        this.writeFiles(report.files);
        this.sink.emit("node:done", { promptId: report.promptId, nodeId: report.nodeId, outputs: report.outputs, ms: report.ms });
        break;
      case "waiting": {
        this.handedOver.delete(report.promptId);
        const limit = this.options.maxWaiting ?? DEFAULT_MAX_WAITING;
        if (this.store.waitingCount() >= limit) {
          void this.connection.del(report.checkpoint).catch(() => {});
          this.finish(report.promptId, "failed", waitingLimitError(limit, report.nodeId));
          return;
        }
        const previewFile = `temp/gate_${report.promptId}_${report.nodeId.replace(/[^\w-]/g, "_")}.jpg`;
        const image = Buffer.from(report.preview, "base64");
        this.writeFiles({ [previewFile]: report.preview });
        this.store.recordPartial(report.promptId, report.result);
        this.store.markWaiting(report.promptId, report.nodeId, previewFile, report.kind, {
          checkpoint: report.checkpoint, ...gateDeadline(report.timeoutSeconds, report.onTimeout),
        });
        this.sink.emit("gate:waiting", { promptId: report.promptId, nodeId: report.nodeId, kind: report.kind, mime: "image/jpeg", image, preview: previewFile });
        this.tick();
        break;
      }
      case "result":
        this.writeFiles(report.files);
        this.finish(report.promptId, report.status, report.error, report.cancelledAt, report.result, report.modelMs);
        break;
    }
  }

  private onJobFailed(jobId: string, reason: string): void {
    const promptId = promptIdOf(jobId);
    const record = this.store.get(promptId);
    if (record?.status !== "running" || jobIdOf(promptId, this.store.resumeOf(promptId).runs) !== jobId) return;
    const message = /stalled more than allowable limit/.test(reason)
      ? `the workers running this prompt stopped before it finished, more often than allowed (${reason})`
      : reason;
    this.finish(promptId, "failed", { message });
  }

  /** Ends a prompt: record, clients, checkpoints. */
  private finish(promptId: string, status: "done" | "failed" | "cancelled", error?: { node?: string; message: string }, at?: string,
    result: Parameters<Store["finish"]>[2] = EMPTY_RESULT, modelMs?: number): void {
    this.handedOver.delete(promptId);
    const { resume } = this.store.resumeOf(promptId);
    const gate = this.store.get(promptId)?.gate;
    if (status === "done") this.sink.emit("execution:done", { promptId, outputs: result.outputs, ...(modelMs !== undefined ? { modelMs } : {}) });
    else if (status === "cancelled") this.sink.emit("execution:interrupted", { promptId, ...(at ? { node: at } : {}) });
    else this.sink.emit("execution:error", { promptId, ...(error ?? { message: "the run failed without a reported cause" }) });
    this.store.finish(promptId, status, result, error);
    const keys = [...resume.map((r) => r.checkpoint), ...(gate?.checkpoint ? [gate.checkpoint] : []), this.names.cancelled(promptId)];
    void this.connection.del(...keys).catch(() => {});
    this.tick();
  }

  /** Files from a worker into the data folder: written to a temporary name, then renamed. */
  private writeFiles(files: Record<string, string>): void {
    for (const [file, base64] of Object.entries(files)) {
      try {
        const target = resolveInside(this.store.paths.outputs, file);
        mkdirSync(dirname(target), { recursive: true });
        writeFileAtomic(target, Buffer.from(base64, "base64"));
      } catch (err) {
        this.log("error", `cannot write ${file} from a worker: ${(err as Error).message}`);
      }
    }
  }
}

/** BullMQ job ids: one per run of a prompt (custom ids may not contain ':'). */
export const jobIdOf = (promptId: string, run: number) => `${promptId}.${run}`;
const promptIdOf = (jobId: string) => jobId.slice(0, jobId.lastIndexOf("."));
