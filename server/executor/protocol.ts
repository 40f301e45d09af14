// Messages between the server process and its executor child process (over the IPC channel, with
// advanced serialization: typed arrays travel as binary, not as JSON).
import type { ExecutionError, GateAnswer, NodeResult, Workflow } from "../../nodes/schema.ts";
import type { RunResult } from "../store/store.ts";
import type { ModelLoading } from "../../nodes/events.ts";
import type { SessionCacheStats } from "../runtime/sessions.ts";

/**
 * Previews a node sends at most, by default: ten a second, the rate at which the executor flushes
 * its events (a faster preview would wait for the same message as the next one, which replaces it).
 */
export const DEFAULT_PREVIEW_INTERVAL_MS = 100;

export interface ExecutorOptions {
  outputsDir: string;
  uploadsDir: string;
  tempDir: string;
  modelsDir: string;
  device: string;
  cacheBytes: number;
  /**
   * The budget of the model sessions kept loaded: the server's memory budget (the one prompts are
   * checked against). Absent: the runtime's default.
   */
  modelMemoryBudgetBytes?: number;
  /** Minimum milliseconds between two previews of one node. */
  previewIntervalMs: number;
  nodeModules?: string[];
}

export type ToExecutor =
  /** A compiled plan: the flat workflow (components already expanded, checked against the catalog). */
  | { type: "run"; promptId: string; workflow: Workflow; outputs?: string[]; embedded?: Workflow;
      /** Gates answered earlier: the run starts the rest of the plan from their checkpoints (V8-serialized values). */
      resumed?: { nodeId: string; answer: GateAnswer; checkpoint: Uint8Array }[] }
  | { type: "cancel"; promptId: string }
  | { type: "finish"; promptId: string; nodeId: string }
  | { type: "clear-cache" }
  | { type: "shutdown" };

export type ExecutorEvent =
  | { name: "execution:start"; promptId: string }
  | { name: "node:start"; promptId: string; nodeId: string; nodeType: string }
  | { name: "node:done"; promptId: string; nodeId: string; outputs?: NodeResult; ms: number }
  | { name: "node:cached"; promptId: string; nodeId: string };

export type FromExecutor =
  | { type: "ready"; device: string; deviceNote: string }
  | { type: "event"; event: ExecutorEvent }
  /** Consecutive steps of one node, one `node:progress` event each (a sampler reports every step). */
  | { type: "progress"; promptId: string; nodeId: string; total: number; steps: number[] }
  | { type: "preview"; promptId: string; nodeId: string; step?: number; total?: number; width: number; height: number; rgb: Uint8Array }
  /** A gate kept its value as a checkpoint (V8-serialized) and the run ended there. */
  | { type: "waiting"; promptId: string; nodeId: string; kind: "latent" | "image"; width: number; height: number; rgb: Uint8Array;
      checkpoint: Uint8Array; timeoutSeconds: number; onTimeout: "continue" | "cancel";
      /** What the run did before the gate. */
      result: RunResult }
  | { type: "result"; promptId: string; status: "done" | "failed" | "cancelled"; result: RunResult; error?: ExecutionError; cancelledAt?: string;
      /** Milliseconds this prompt spent inside ONNX Runtime. */
      modelMs?: number }
  /** A model load's progress (sent at once: ONNX Runtime's load then blocks the executor's thread). */
  | { type: "loading"; promptId?: string; load: Omit<ModelLoading, "promptId"> }
  /** What the executor's session cache holds (after each prompt, and when a load ends). */
  | { type: "sessions"; stats: SessionCacheStats }
  | { type: "log"; level: "info" | "warn" | "error"; message: string }
  /** The executor is about to exit on an error it could not recover from (sent before it exits). */
  | { type: "fatal"; message: string }
  | { type: "batch"; messages: FromExecutor[] };
