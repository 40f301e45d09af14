// The socket.io events between server and client, defined once: the server's io and the
// executor's event sink emit them, the client's socket listens to them, all through these maps.
// Types only: nothing here runs.
import type { ExecutionError, NodeErrors, NodeResult } from "./schema.ts";

/** A JPEG or PNG as socket.io carries binary: a Buffer on the server, an ArrayBuffer in the browser. */
export type BinaryImage = Uint8Array | ArrayBuffer;

export interface PromptEvent {
  promptId: string;
}

export interface NodeEvent extends PromptEvent {
  nodeId: string;
}

export interface QueueStatus {
  queueRemaining: number;
  running: string | null;
  /** Prompts paused at a gate. */
  waiting: string[];
  /** Every running prompt, where several executors (workers) run at once. */
  runningAll?: string[];
}

/**
 * A model session loading for a prompt (the real-size packs take 10–100 s): sent when each phase
 * starts and about once a second while the weights are converted; `phase: "loaded"` (or the
 * node's or prompt's end) clears it. ONNX Runtime says nothing while it builds a session (it
 * blocks the executor's thread), so a display counts the time since `loading` against `expectedMs`.
 */
export interface ModelLoading extends PromptEvent {
  /** The node that was running when the load began (absent before the first node starts). */
  nodeId?: string;
  /** The model, pack-relative ("prior/model.onnx"). */
  label: string;
  phase: "converting" | "loading" | "loaded";
  /** 0..1 of the phase. */
  fraction: number;
  /** The model's estimated memory. */
  bytes: number;
  /** Since the load began. */
  elapsedMs: number;
  /** While loading: how long ONNX Runtime should take (from the bytes and the last big load's rate). */
  expectedMs?: number;
}

/** Server → client. */
export interface ServerToClientEvents {
  "status": (e: QueueStatus) => void;
  /** `worker`: the worker that took the prompt, when prompts run on workers. */
  "execution:start": (e: PromptEvent & { worker?: string }) => void;
  "node:start": (e: NodeEvent & { type: string }) => void;
  "node:progress": (e: NodeEvent & { step: number; total: number }) => void;
  "node:preview": (e: NodeEvent & { step?: number; total?: number; mime: string; image: BinaryImage }) => void;
  "node:done": (e: NodeEvent & { outputs?: NodeResult; ms: number }) => void;
  "node:cached": (e: NodeEvent) => void;
  "model:loading": (e: ModelLoading) => void;
  /** `preview` is the gate's preview kept as a file under the outputs (GET /api/view). */
  "gate:waiting": (e: NodeEvent & { kind: "latent" | "image"; mime: string; image: BinaryImage; /** The kept preview file; absent when it could not be written (a full disk). */ preview?: string }) => void;
  "gate:rerolled": (e: PromptEvent & { note: string }) => void;
  /** `nodeErrors`: when a queued prompt no longer compiles (the catalog changed), its errors per node. */
  "execution:error": (e: PromptEvent & ExecutionError & { nodeErrors?: NodeErrors }) => void;
  /** `node` is where the run stopped, when it stopped inside one. */
  "execution:interrupted": (e: PromptEvent & { node?: string }) => void;
  /** `modelMs`: the time the prompt spent inside ONNX Runtime. */
  "execution:done": (e: PromptEvent & { outputs: Record<string, NodeResult>; modelMs?: number }) => void;
}

/**
 * Client → server: the client talks over HTTP; on the socket it only says which prompts it
 * watches beyond those it queued (their progress and previews then reach it).
 */
export interface ClientToServerEvents {
  "prompt:open": (promptId: string) => void;
  "prompt:close": (promptId: string) => void;
}

export type ServerEventName = keyof ServerToClientEvents;
export type ServerEvent<E extends ServerEventName> = Parameters<ServerToClientEvents[E]>[0];
