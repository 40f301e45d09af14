// One run of a compiled plan on a node host: what any executor does with a prompt, whatever
// carries it there (a BullMQ job, a message from the server). Gates either keep their value as a
// checkpoint and end the run (`pause`), or wait in memory for an answer (`waitAtGate`).
import type { GateAnswer, GateCheckpoint, GatePreview, NodeResult, PreviewFrame, Workflow } from "../../nodes/schema.ts";
import { cutAtGates, ExecutionCancelled, ExecutionFailed, executeWorkflow, rerollUpstream, type ExecutionResult, type OutputCache } from "../engine/index.ts";
import { totalModelMs } from "../runtime/index.ts";
import type { NodeHost } from "./node-host.ts";
import type { RunResult } from "../store/store.ts";
import type { ExecutionError } from "../../nodes/schema.ts";

export interface PromptRunRequest {
  promptId: string;
  /** The flat, checked plan. */
  workflow: Workflow;
  /** The workflow as the person built it, embedded in images (`workflow` when absent). */
  embedded?: Workflow;
  outputs?: string[];
  /** Gates answered earlier: the run starts the rest of the plan from their checkpoints. */
  resumed?: { nodeId: string; answer: GateAnswer; value(): Promise<unknown> }[];
}

export interface PromptRunHooks {
  onStart?(nodeId: string, nodeType: string): void;
  onProgress?(nodeId: string, step: number, total: number): void;
  onCached?(nodeId: string): void;
  onDone?(nodeId: string, outputs: NodeResult | undefined, ms: number): void;
  /** A preview frame: valid during the call. */
  onPreview?(nodeId: string, frame: PreviewFrame): void;
  /** Keeps a gate's checkpoint; the run then ends with status "waiting". */
  pause?(nodeId: string, checkpoint: GateCheckpoint): Promise<void>;
  /** Waits in memory for a gate's answer (used where there is no checkpoint store). */
  waitAtGate?(nodeId: string, preview: GatePreview): Promise<GateAnswer>;
  /** A re-roll at a gate changed the plan's seeds (waiting in memory only). */
  onRerolled?(workflow: Workflow, note: string): void;
}

export interface PromptRunControl {
  signal: AbortSignal;
  finishRequested(nodeId: string): boolean;
}

export type PromptOutcome =
  | { status: "done"; result: RunResult; modelMs: number }
  | { status: "failed"; result: RunResult; error: ExecutionError }
  | { status: "cancelled"; result: RunResult; cancelledAt?: string }
  | { status: "waiting"; nodeId: string; result: RunResult };

const NOTHING: RunResult = { outputs: {}, executed: [], cached: [], timings: {} };

const runResult = (r: ExecutionResult): RunResult => ({ outputs: r.outputs, executed: r.executed, cached: r.cached, timings: r.timings });

export async function runPrompt(host: NodeHost, cache: OutputCache, request: PromptRunRequest, hooks: PromptRunHooks, control: PromptRunControl): Promise<PromptOutcome> {
  const { promptId } = request;
  const resumed = new Map((request.resumed ?? []).map((r) => [r.nodeId, r]));
  let pausedAt: string | undefined;
  // Wall time at a gate is nobody's model time.
  const modelBefore = totalModelMs();
  const services = host.servicesFor(promptId, {
    ...(hooks.waitAtGate ? { waitAtGate: hooks.waitAtGate } : {}),
    ...(hooks.pause ? {
      pauseAtGate: async (nodeId: string, checkpoint: GateCheckpoint) => {
        await hooks.pause!(nodeId, checkpoint);
        pausedAt = nodeId;
      },
    } : {}),
    resumedGate: async (nodeId: string) => {
      const gate = resumed.get(nodeId);
      return gate ? { value: await gate.value(), answer: gate.answer } : undefined;
    },
  });
  const runOnce = (workflow: Workflow) => executeWorkflow({
    promptId,
    workflow: cutAtGates(workflow, resumed.keys()),
    // After an in-memory re-roll, images carry the plan that ran.
    ...(request.embedded && workflow === request.workflow ? { embedded: request.embedded } : {}),
    outputs: request.outputs,
    registry: host.registry,
    cache,
    services,
    signal: control.signal,
    finishRequested: control.finishRequested,
    hooks: {
      onNodeStart: hooks.onStart,
      onNodeProgress: hooks.onProgress,
      onNodeCached: hooks.onCached,
      onNodeDone: hooks.onDone,
      onNodePreview: hooks.onPreview,
    },
  });

  let workflow = request.workflow;
  try {
    for (;;) {
      try {
        const result = await runOnce(workflow);
        return { status: "done", result: runResult(result), modelMs: totalModelMs() - modelBefore };
      } catch (err) {
        if ((err as Error)?.name === "GatePaused" && pausedAt) {
          const partial = (err as { partial?: ExecutionResult }).partial;
          return { status: "waiting", nodeId: pausedAt, result: partial ? runResult(partial) : NOTHING };
        }
        if ((err as Error)?.name !== "GateReroll") throw err;
        // A gate answered "reroll" in memory: the seeds upstream move on and the plan runs again;
        // the cache makes everything that did not change free.
        const rolled = rerollUpstream(workflow, (err as { nodeId: string }).nodeId, host.registry);
        workflow = rolled.workflow;
        hooks.onRerolled?.(workflow, `re-rolled ${rolled.changed.join(", ") || "nothing (no seeds upstream)"}`);
      }
    }
  } catch (err) {
    if (err instanceof ExecutionCancelled) return { status: "cancelled", result: runResult(err.partial), ...(err.node ? { cancelledAt: err.node } : {}) };
    if (err instanceof ExecutionFailed) return { status: "failed", result: runResult(err.partial), error: err.detail };
    return { status: "failed", result: NOTHING, error: { message: err instanceof Error ? err.message : String(err) } };
  }
}
