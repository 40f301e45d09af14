// The store: one SQLite database in the data folder holding the queue and history (and the
// workflow library). Output images are files in <home>/outputs; the database names them.
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionError, GateAnswer, GatePreview, NodeResult, PromptStatus, Workflow } from "../../nodes/schema.ts";
import { pickNext, type PendingEntry } from "./fair-queue.ts";

export interface HomePaths {
  home: string;
  database: string;
  outputs: string;
  uploads: string;
  temp: string;
}

export function homePaths(home: string): HomePaths {
  return { home, database: join(home, "sluice.db"), outputs: join(home, "outputs"), uploads: join(home, "uploads"), temp: join(home, "outputs", "temp") };
}

export interface PromptSummary {
  promptId: string;
  status: PromptStatus;
  createdAt: string;
  name?: string;
  /** Where a waiting prompt is paused, and its preview file (for /api/view). */
  gate?: GateWait;
}

/** Where a waiting prompt is paused. */
export interface GateWait {
  nodeId: string;
  since: string;
  /** The gate's picture (a file under outputs/, for /api/view). */
  preview?: string;
  kind?: GatePreview["kind"];
  /** Where the gate's value is kept while the prompt waits (a key in the checkpoint store). */
  checkpoint?: string;
  /** When an unanswered gate answers itself (ISO time), and how. */
  deadline?: string;
  onTimeout?: "continue" | "cancel";
}

/** A gate answered earlier in a prompt: the next run takes its value from the checkpoint. */
export interface ResumeEntry {
  nodeId: string;
  answer: GateAnswer;
  checkpoint: string;
}

export interface HistoryEntry extends PromptSummary {
  startedAt?: string;
  finishedAt?: string;
  outputs: Record<string, NodeResult>;
  executed: string[];
  cached: string[];
  timings: Record<string, number>;
  error?: ExecutionError;
}

export interface PromptRecord extends HistoryEntry {
  workflow: Workflow;
  requestedOutputs?: string[];
  clientId?: string;
}

export interface RunResult {
  outputs: Record<string, NodeResult>;
  executed: string[];
  cached: string[];
  timings: Record<string, number>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS prompts (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  status TEXT NOT NULL,
  name TEXT,
  workflow TEXT NOT NULL,
  requested_outputs TEXT,
  client_id TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  outputs TEXT NOT NULL DEFAULT '{}',
  executed TEXT NOT NULL DEFAULT '[]',
  cached TEXT NOT NULL DEFAULT '[]',
  timings TEXT NOT NULL DEFAULT '{}',
  error TEXT,
  gate TEXT,
  resume TEXT NOT NULL DEFAULT '[]',
  runs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS prompts_status_seq ON prompts(status, seq);
CREATE INDEX IF NOT EXISTS prompts_seq ON prompts(seq);
CREATE TABLE IF NOT EXISTS checkpoints (
  key TEXT PRIMARY KEY,
  prompt_id TEXT NOT NULL,
  value BLOB NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_prompt ON checkpoints(prompt_id);
CREATE TABLE IF NOT EXISTS workflows (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  current_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workflow_versions (
  workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  content TEXT NOT NULL,
  note TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (workflow_id, version)
);
`;

interface PromptRow {
  id: string; seq: number; status: PromptStatus; name: string | null; workflow: string;
  requested_outputs: string | null; client_id: string | null; created_at: string; started_at: string | null;
  finished_at: string | null; outputs: string; executed: string; cached: string; timings: string;
  error: string | null; gate: string | null; resume: string; runs: number;
}

/** Columns added after the first release, for databases made before them. */
const ADDED_COLUMNS: [string, string][] = [
  ["resume", "TEXT NOT NULL DEFAULT '[]'"],
  ["runs", "INTEGER NOT NULL DEFAULT 0"],
];

const now = () => new Date().toISOString();

/** What a client asks to run. */
export interface PromptInput {
  workflow: Workflow;
  requestedOutputs?: string[];
  clientId?: string;
  name?: string;
  /** Run before the prompts already pending (queue to front). */
  front?: boolean;
}

export const RESTART_MESSAGE = "the server stopped while this prompt was running; queue it again";
export const RESTART_GATE_MESSAGE = "the server restarted while this prompt waited at a gate; its paused state was in memory, so queue it again";

export class Store {
  readonly db: Database.Database;
  readonly paths: HomePaths;

  constructor(home: string) {
    this.paths = homePaths(home);
    for (const dir of [this.paths.home, this.paths.outputs, this.paths.uploads, this.paths.temp]) mkdirSync(dir, { recursive: true });
    this.db = new Database(this.paths.database);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.exec(SCHEMA);
    const columns = new Set((this.db.prepare("PRAGMA table_info(prompts)").all() as { name: string }[]).map((c) => c.name));
    for (const [name, type] of ADDED_COLUMNS) if (!columns.has(name)) this.db.exec(`ALTER TABLE prompts ADD COLUMN ${name} ${type}`);
  }

  close(): void {
    this.db.close();
  }

  /** Statements are compiled once: the executor writes several per prompt. */
  private statements = new Map<string, Database.Statement>();
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement;
  }

  /**
   * After a restart: prompts that were running in this process cannot resume, because their
   * intermediate values lived in memory; they are failed with a message saying so. Prompts
   * waiting at a gate keep waiting when their checkpoints outlive the process (`keepWaiting`),
   * and are failed otherwise; with `keepRunning` (executors in other processes run them) running
   * prompts are left to the executor's reconciliation. Pending prompts stay queued. Returns the
   * ids failed.
   */
  recoverAfterRestart(options: { keepWaiting?: boolean; keepRunning?: boolean } = {}): string[] {
    const statuses = [...(options.keepRunning ? [] : ["running"]), ...(options.keepWaiting ? [] : ["waiting"])];
    if (statuses.length === 0) return [];
    const rows = this.sql(`SELECT id, status FROM prompts WHERE status IN (${statuses.map((s) => `'${s}'`).join(", ")})`).all() as { id: string; status: string }[];
    const fail = this.sql("UPDATE prompts SET status = 'failed', finished_at = ?, error = ?, gate = NULL WHERE id = ?");
    this.db.transaction(() => {
      for (const row of rows) {
        fail.run(now(), JSON.stringify({ message: row.status === "waiting" ? RESTART_GATE_MESSAGE : RESTART_MESSAGE }), row.id);
      }
    })();
    return rows.map((r) => r.id);
  }

  /** Prompts in one state, oldest first (with what an executor needs to run them again). */
  withStatus(status: "running" | "waiting"): (Pick<PromptRecord, "promptId" | "requestedOutputs" | "clientId" | "gate"> & { workflowJson: string; resume: ResumeEntry[]; runs: number })[] {
    const rows = this.sql("SELECT id, workflow, requested_outputs, client_id, gate, resume, runs FROM prompts WHERE status = ? ORDER BY seq").all(status) as PromptRow[];
    return rows.map((row) => ({
      promptId: row.id, workflowJson: row.workflow, resume: JSON.parse(row.resume), runs: row.runs,
      ...(row.requested_outputs ? { requestedOutputs: JSON.parse(row.requested_outputs) } : {}),
      ...(row.client_id ? { clientId: row.client_id } : {}),
      ...(row.gate ? { gate: JSON.parse(row.gate) } : {}),
    }));
  }

  /** The gates answered so far in a prompt, and how many runs it has had. */
  resumeOf(id: string): { resume: ResumeEntry[]; runs: number } {
    const row = this.sql("SELECT resume, runs FROM prompts WHERE id = ?").get(id) as Pick<PromptRow, "resume" | "runs"> | undefined;
    return row ? { resume: JSON.parse(row.resume), runs: row.runs } : { resume: [], runs: 0 };
  }

  /** A new run of a prompt starts (from the beginning, or from its gates' checkpoints): it runs again. */
  startRun(id: string, resume: ResumeEntry[]): number {
    const row = this.sql("SELECT client_id, status FROM prompts WHERE id = ?").get(id) as Pick<PromptRow, "client_id" | "status"> | undefined;
    if (row?.status === "pending") this.noteServed(row.client_id);
    this.sql("UPDATE prompts SET status = 'running', started_at = COALESCE(started_at, ?), gate = NULL, resume = ?, runs = runs + 1 WHERE id = ?").run(now(), JSON.stringify(resume), id);
    return (this.sql("SELECT runs FROM prompts WHERE id = ?").get(id) as { runs: number }).runs;
  }

  /** Keeps a gate's value (serialized) while its prompt waits. */
  putCheckpoint(key: string, promptId: string, value: Uint8Array): void {
    this.sql("INSERT OR REPLACE INTO checkpoints (key, prompt_id, value, created_at) VALUES (?, ?, ?, ?)").run(key, promptId, Buffer.from(value.buffer, value.byteOffset, value.byteLength), now());
  }

  getCheckpoint(key: string): Buffer | undefined {
    return (this.sql("SELECT value FROM checkpoints WHERE key = ?").get(key) as { value: Buffer } | undefined)?.value;
  }

  waitingCount(): number {
    return (this.sql("SELECT COUNT(*) AS n FROM prompts WHERE status = 'waiting'").get() as { n: number }).n;
  }

  /** Queues a prompt; returns its id. */
  enqueue(input: PromptInput): string {
    const id = randomUUID();
    this.insertPrompt(id, input, JSON.stringify(input.workflow), "pending");
    if (input.front) this.moveToFront(id);
    return id;
  }

  /** Records a prompt the executor started before it was queued (the queue was empty; see Dispatcher.submit). */
  recordStarted(id: string, input: PromptInput, workflowJson: string): void {
    this.noteServed(input.clientId);
    this.insertPrompt(id, input, workflowJson, "running");
  }

  private insertPrompt(id: string, input: PromptInput, workflowJson: string, status: "pending" | "running"): void {
    const at = now();
    this.sql(`INSERT INTO prompts (id, seq, status, name, workflow, requested_outputs, client_id, created_at, started_at)
      VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM prompts), ?, ?, ?, ?, ?, ?, ?)`).run(
      id, status, input.name ?? input.workflow.name ?? null, workflowJson,
      input.requestedOutputs ? JSON.stringify(input.requestedOutputs) : null, input.clientId ?? null, at, status === "running" ? at : null,
    );
  }

  /** Gives a pending prompt the first place among the pending ones; the others move one back. */
  private moveToFront(id: string): void {
    // The round robin also lets it go before other clients' prompts.
    this.frontIds.add(id);
    this.db.transaction(() => {
      const first = (this.sql("SELECT MIN(seq) AS seq FROM prompts WHERE status = 'pending' AND id != ?").get(id) as { seq: number | null }).seq;
      if (first === null) return;
      this.sql("UPDATE prompts SET seq = seq + 1 WHERE status = 'pending' AND id != ?").run(id);
      this.sql("UPDATE prompts SET seq = ? WHERE id = ?").run(first, id);
    })();
  }

  /**
   * The pending prompt to run next, if any: round robin between clients, oldest first within one
   * (see pickNext); what the executor needs to run it (the workflow as stored, JSON).
   */
  nextPending(): (Pick<PromptRecord, "promptId" | "requestedOutputs" | "clientId"> & { workflowJson: string }) | undefined {
    const pending = (this.sql("SELECT id, seq, client_id FROM prompts WHERE status = 'pending' ORDER BY seq").all() as Pick<PromptRow, "id" | "seq" | "client_id">[])
      .map((r): PendingEntry => ({ promptId: r.id, seq: r.seq, client: r.client_id ?? "", ...(this.frontIds.has(r.id) ? { front: true } : {}) }));
    const next = pickNext(pending, this.lastServed);
    if (!next) return undefined;
    this.frontIds.delete(next.promptId);
    const row = this.sql("SELECT id, workflow, requested_outputs, client_id FROM prompts WHERE id = ?").get(next.promptId) as
      Pick<PromptRow, "id" | "workflow" | "requested_outputs" | "client_id">;
    return {
      promptId: row.id, workflowJson: row.workflow,
      ...(row.requested_outputs ? { requestedOutputs: JSON.parse(row.requested_outputs) } : {}),
      ...(row.client_id ? { clientId: row.client_id } : {}),
    };
  }

  /** Pending prompts queued to the front (in this process). */
  private frontIds = new Set<string>();

  /** When each client last had a prompt started (a serial number): the round robin's memory. */
  private lastServed = new Map<string, number>();
  private served = 0;
  private noteServed(clientId: string | null | undefined): void {
    this.lastServed.set(clientId ?? "", ++this.served);
  }

  get(id: string): PromptRecord | undefined {
    const row = this.sql("SELECT * FROM prompts WHERE id = ?").get(id) as PromptRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  markRunning(id: string): void {
    const row = this.sql("SELECT client_id, status FROM prompts WHERE id = ?").get(id) as Pick<PromptRow, "client_id" | "status"> | undefined;
    if (row?.status === "pending") this.noteServed(row.client_id);
    this.sql("UPDATE prompts SET status = 'running', started_at = COALESCE(started_at, ?), gate = NULL WHERE id = ?").run(now(), id);
  }

  markWaiting(id: string, nodeId: string, preview?: string, kind?: GatePreview["kind"], more: Pick<GateWait, "checkpoint" | "deadline" | "onTimeout"> = {}): void {
    this.sql("UPDATE prompts SET status = 'waiting', gate = ? WHERE id = ?").run(JSON.stringify({ nodeId, since: now(), ...(preview ? { preview } : {}), ...(kind ? { kind } : {}), ...more }), id);
  }

  /** A prompt's workflow changed while it ran (a re-roll at a gate moved its seeds). */
  updateWorkflow(id: string, workflow: Workflow): void {
    this.sql("UPDATE prompts SET workflow = ? WHERE id = ?").run(JSON.stringify(workflow), id);
  }

  /**
   * Ends a prompt with the result of its last run, added to what its earlier runs (up to a gate)
   * recorded: the history shows everything that ran for the prompt.
   */
  finish(id: string, status: "done" | "failed" | "cancelled", result: RunResult, error?: ExecutionError): void {
    // An ended prompt resumes from nowhere: its checkpoints go.
    this.sql("DELETE FROM checkpoints WHERE prompt_id = ?").run(id);
    const merged = this.mergedResult(id, result);
    this.sql(`UPDATE prompts SET status = ?, finished_at = ?, outputs = ?, executed = ?, cached = ?, timings = ?, error = ?, gate = NULL WHERE id = ?`).run(
      status, now(), JSON.stringify(merged.outputs), JSON.stringify(merged.executed), JSON.stringify(merged.cached),
      JSON.stringify(merged.timings), error ? JSON.stringify(error) : null, id,
    );
  }

  /** Records what a run did before it paused at a gate (kept with the prompt's later runs). */
  recordPartial(id: string, result: RunResult): void {
    const merged = this.mergedResult(id, result);
    this.sql("UPDATE prompts SET outputs = ?, executed = ?, cached = ?, timings = ? WHERE id = ?").run(
      JSON.stringify(merged.outputs), JSON.stringify(merged.executed), JSON.stringify(merged.cached), JSON.stringify(merged.timings), id,
    );
  }

  private mergedResult(id: string, result: RunResult): RunResult {
    const row = this.sql("SELECT outputs, executed, cached, timings FROM prompts WHERE id = ?").get(id) as Pick<PromptRow, "outputs" | "executed" | "cached" | "timings"> | undefined;
    if (!row) return result;
    const unique = (a: string[], b: string[]) => [...new Set([...a, ...b])];
    return {
      outputs: { ...JSON.parse(row.outputs), ...result.outputs },
      executed: unique(JSON.parse(row.executed), result.executed),
      cached: unique(JSON.parse(row.cached), result.cached),
      timings: { ...JSON.parse(row.timings), ...result.timings },
    };
  }

  /** Cancels a prompt that has not started; returns false when it is not pending. */
  cancelPending(id: string): boolean {
    return this.sql("UPDATE prompts SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'pending'").run(now(), id).changes > 0;
  }

  clearPending(): number {
    return this.sql("UPDATE prompts SET status = 'cancelled', finished_at = ? WHERE status = 'pending'").run(now()).changes;
  }

  queue(): { running: PromptSummary[]; waiting: PromptSummary[]; pending: PromptSummary[] } {
    const rows = this.sql("SELECT id, status, name, created_at, gate FROM prompts WHERE status IN ('pending', 'running', 'waiting') ORDER BY seq").all() as PromptRow[];
    const summary = (r: PromptRow): PromptSummary => ({ promptId: r.id, status: r.status, createdAt: r.created_at, ...(r.name ? { name: r.name } : {}), ...(r.gate ? { gate: JSON.parse(r.gate) } : {}) });
    return {
      running: rows.filter((r) => r.status === "running").map(summary),
      waiting: rows.filter((r) => r.status === "waiting").map(summary),
      pending: rows.filter((r) => r.status === "pending").map(summary),
    };
  }

  pendingCount(): number {
    return (this.sql("SELECT COUNT(*) AS n FROM prompts WHERE status = 'pending'").get() as { n: number }).n;
  }

  history(limit = 100): HistoryEntry[] {
    const rows = this.sql("SELECT * FROM prompts ORDER BY seq DESC LIMIT ?").all(limit) as PromptRow[];
    return rows.map((row) => {
      const { workflow: _w, requestedOutputs: _r, clientId: _c, ...entry } = toRecord(row);
      return entry;
    });
  }
}

function toRecord(row: PromptRow): PromptRecord {
  return {
    promptId: row.id,
    status: row.status,
    createdAt: row.created_at,
    ...(row.name ? { name: row.name } : {}),
    ...(row.started_at ? { startedAt: row.started_at } : {}),
    ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
    workflow: JSON.parse(row.workflow),
    ...(row.requested_outputs ? { requestedOutputs: JSON.parse(row.requested_outputs) } : {}),
    ...(row.client_id ? { clientId: row.client_id } : {}),
    outputs: JSON.parse(row.outputs),
    executed: JSON.parse(row.executed),
    cached: JSON.parse(row.cached),
    timings: JSON.parse(row.timings),
    ...(row.error ? { error: JSON.parse(row.error) } : {}),
    ...(row.gate ? { gate: JSON.parse(row.gate) } : {}),
  };
}
