// Execution of a validated workflow: planned from the outputs back to the nearest cached results,
// run sources first, outputs cached by ancestor signature and by what they cost to compute, cancellation checked between nodes (and inside long nodes through the signal),
// a node failure reported with its node, type, message and inputs.
import {
  isLink,
  type ExecContext, type ExecutionError, type NodeDef, type NodeResult, type NodeServices, type PreviewFrame, type Workflow,
} from "../../nodes/schema.ts";
import type { OutputCache } from "./cache.ts";
import { executionOrder, planExecution, sourcesOf } from "./graph.ts";
import { nodeSignature } from "./signature.ts";

export interface ExecutionHooks {
  onNodeStart?(nodeId: string, type: string): void;
  onNodeProgress?(nodeId: string, step: number, total: number): void;
  onNodePreview?(nodeId: string, frame: PreviewFrame): void;
  onNodeDone?(nodeId: string, result: NodeResult | undefined, ms: number): void;
  onNodeCached?(nodeId: string): void;
}

export interface ExecuteOptions {
  promptId: string;
  workflow: Workflow;
  /** The workflow as the person built it (modes, Reroutes, components), embedded in images; `workflow` when absent. */
  embedded?: Workflow;
  registry: ReadonlyMap<string, NodeDef>;
  cache: OutputCache;
  services: NodeServices;
  /** Output node ids to compute; all output nodes when absent. */
  outputs?: string[];
  signal?: AbortSignal;
  hooks?: ExecutionHooks;
  /** Whether someone asked node `nodeId` to finish now (samplers poll it). */
  finishRequested?(nodeId: string): boolean;
}

export interface ExecutionResult {
  outputs: Record<string, NodeResult>;
  executed: string[];
  cached: string[];
  timings: Record<string, number>;
  /** The cache key of every node that ran or came from the cache. */
  keys: Record<string, string>;
}

export class ExecutionFailed extends Error {
  constructor(readonly detail: ExecutionError, readonly partial: ExecutionResult) {
    super(detail.message);
    this.name = "ExecutionFailed";
  }
}

export class ExecutionCancelled extends Error {
  constructor(readonly node: string | undefined, readonly partial: ExecutionResult) {
    super("cancelled");
    this.name = "ExecutionCancelled";
  }
}

/** Literal inputs of a node with the node's defaults filled in. */
export function literalInputs(def: NodeDef, node: Workflow["nodes"][number]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const input of def.inputs) {
    const value = node.inputs[input.name];
    if (isLink(value)) continue;
    out[input.name] = value ?? input.default;
  }
  return out;
}

export async function executeWorkflow(opts: ExecuteOptions): Promise<ExecutionResult> {
  const { workflow, registry, cache, hooks = {} } = opts;
  const byId = new Map(workflow.nodes.map((n) => [n.id, n]));
  const targets = opts.outputs && opts.outputs.length > 0
    ? opts.outputs
    : workflow.nodes.filter((n) => registry.get(n.type)?.output).map((n) => n.id);
  const result: ExecutionResult = { outputs: {}, executed: [], cached: [], timings: {}, keys: {} };
  const values = new Map<string, Record<string, unknown>>();
  const keys = new Map<string, string>();
  const signal = opts.signal ?? new AbortController().signal;

  const literalsOf = new Map<string, Record<string, unknown>>();
  const sign = (id: string, def: NodeDef): void => {
    const node = byId.get(id)!;
    const literals = literalInputs(def, node);
    const fingerprint = def.volatile ? `${Date.now()}:${Math.random()}` : (def.fingerprint?.(literals, opts.services) ?? "");
    literalsOf.set(id, literals);
    keys.set(id, nodeSignature(node, literals, keys, fingerprint));
  };
  // A key depends only on the workflow until a node reads outside state (its fingerprint, read
  // when it runs: a prompt may wait at a gate first). Keys of every node with no such node among
  // its ancestors are computed in one pass before the first node runs; between model runs the
  // same work would meet cold caches.
  for (const id of executionOrder(workflow.nodes, targets)) {
    const node = byId.get(id);
    const def = node && registry.get(node.type);
    if (!node || !def || def.fingerprint) continue;
    if (sourcesOf(node).every((src) => keys.has(src))) sign(id, def);
  }

  // The plan: from the outputs back through inputs whose results are not cached. A cached node
  // stops the walk, so its ancestors neither run nor need to be in the cache. Hits are taken now,
  // so running the plan cannot evict a value the plan counts on. A node whose key waits for its
  // run (outside state upstream) is planned with all its inputs.
  const hits = new Map<string, Record<string, unknown>>();
  const order = planExecution(workflow.nodes, targets, (id) => {
    const key = keys.get(id);
    const hit = key === undefined ? undefined : cache.get(key);
    if (hit) hits.set(id, hit);
    return hit !== undefined;
  });

  for (const id of order) {
    if (signal.aborted) throw new ExecutionCancelled(id, result);
    const node = byId.get(id)!;
    const def = registry.get(node.type);
    if (!def) throw new ExecutionFailed({ node: id, type: node.type, message: `unknown node type "${node.type}"` }, result);

    if (!keys.has(id)) sign(id, def);
    const literals = literalsOf.get(id)!;
    const key = keys.get(id)!;
    result.keys[id] = key;

    const hit = hits.get(id) ?? cache.get(key);
    if (hit) {
      values.set(id, hit);
      result.cached.push(id);
      if (def.output && hit.ui) result.outputs[id] = hit.ui as NodeResult;
      hooks.onNodeCached?.(id);
      continue;
    }

    const inputs: Record<string, unknown> = { ...literals };
    for (const [name, value] of Object.entries(node.inputs)) {
      if (isLink(value)) inputs[name] = values.get(value.node)?.[value.output];
    }

    const ctx: ExecContext = {
      promptId: opts.promptId,
      nodeId: id,
      signal,
      services: opts.services,
      workflow: opts.embedded ?? workflow,
      progress: (step, total) => hooks.onNodeProgress?.(id, step, total),
      preview: (frame) => hooks.onNodePreview?.(id, frame),
      finishRequested: () => opts.finishRequested?.(id) ?? false,
    };
    hooks.onNodeStart?.(id, node.type);
    const started = performance.now();
    let outputs: Record<string, unknown>;
    try {
      outputs = await def.execute(inputs, ctx);
    } catch (err) {
      if (signal.aborted || (err as Error)?.name === "AbortError") throw new ExecutionCancelled(id, result);
      // A gate asking to re-roll, or pausing at a checkpoint, is a request to the host, not a failure.
      if ((err as Error)?.name === "GateReroll") throw err;
      // A paused run carries what it did so far, for the prompt's record.
      if ((err as Error)?.name === "GatePaused") throw Object.assign(err as Error, { partial: result });
      throw new ExecutionFailed({
        node: id,
        type: node.type,
        message: err instanceof Error ? err.message : String(err),
        inputs: describeInputs(inputs),
      }, result);
    }
    const ms = performance.now() - started;
    result.timings[id] = ms;
    result.executed.push(id);
    values.set(id, outputs);
    cache.set(key, outputs, ms);
    const ui = def.output ? (outputs.ui as NodeResult | undefined) : undefined;
    if (ui) result.outputs[id] = ui;
    hooks.onNodeDone?.(id, ui, ms);
  }
  return result;
}

/** A short, JSON-safe description of a node's inputs for error reports. */
export function describeInputs(inputs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(inputs)) out[name] = describeValue(value);
  return out;
}

function describeValue(value: unknown): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object") return value;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float32Array).length})`;
  const v = value as Record<string, unknown>;
  if (v.data instanceof Float32Array && Array.isArray(v.shape)) return `tensor [${(v.shape as number[]).join(", ")}]`;
  if (v.samples && typeof v.samples === "object") return `latent (stage ${String(v.stage)}) [${((v.samples as { shape: number[] }).shape ?? []).join(", ")}]`;
  if (typeof v.describe === "function") return (v.describe as () => string)();
  return `{${Object.keys(v).slice(0, 6).join(", ")}}`;
}
