// The memory check of a prompt, before anything runs: every node's estimate (NodeDef.estimateMemory)
// over shapes propagated from literal inputs, the plan's peak (models kept loaded plus the largest
// working set), and the verdict against a budget naming the node and what drives it. Pure: pack
// facts come in through `packInfo`.
import { isLink, type MemoryArgs, type NodeDef, type NodeErrors, type ShapeOrigin, type StaticValue, type Workflow } from "../../nodes/schema.ts";
import { literalInputs } from "./execute.ts";

export type PackInfoLookup = MemoryArgs["pack"];
export type DefLookup = (type: string) => NodeDef | undefined;

export interface NodeMemory {
  nodeId: string;
  type: string;
  /** Working memory of this node's run; undefined where a shape is unknown before running. */
  bytes?: number;
  /** Resident bytes of the model this node loads (0 when it loads none or it is already loaded). */
  modelBytes: number;
  /**
   * The process's estimated peak while this node runs: its own model plus its working memory.
   * Models of earlier nodes stay loaded only while the budget holds them beside it (the session
   * cache releases the least recently used), so they are not counted.
   */
  peakBytes?: number;
  what?: string;
  drivenBy?: ShapeOrigin;
}

export interface MemoryPlan {
  nodes: NodeMemory[];
  /** The largest peakBytes of any node. */
  peakBytes: number;
  /** Nodes that could not be estimated, with why (skipped, not guessed). */
  unknown: { nodeId: string; type: string; why: string }[];
}

/** Nodes in an order where every source comes before its readers (Kahn's algorithm, no recursion). */
function topologicalOrder(nodes: Workflow["nodes"]): Workflow["nodes"] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const pending = new Map<string, number>();
  const readers = new Map<string, string[]>();
  for (const n of nodes) {
    const sources = new Set(Object.values(n.inputs).filter(isLink).map((l) => l.node).filter((id) => byId.has(id)));
    pending.set(n.id, sources.size);
    for (const s of sources) (readers.get(s) ?? readers.set(s, []).get(s)!).push(n.id);
  }
  const ready = nodes.filter((n) => pending.get(n.id) === 0).map((n) => n.id);
  const order: Workflow["nodes"] = [];
  for (let i = 0; i < ready.length; i++) {
    order.push(byId.get(ready[i])!);
    for (const r of readers.get(ready[i]) ?? []) {
      const left = pending.get(r)! - 1;
      pending.set(r, left);
      if (left === 0) ready.push(r);
    }
  }
  return order;
}

/** Estimates every node of a validated, component-free workflow. */
export function estimatePlan(workflow: Workflow, lookup: DefLookup, packInfo: PackInfoLookup): MemoryPlan {
  const outputs = new Map<string, Record<string, StaticValue | undefined>>();
  const loaded = new Set<string>();
  const plan: MemoryPlan = { nodes: [], peakBytes: 0, unknown: [] };
  for (const node of topologicalOrder(workflow.nodes)) {
    const def = lookup(node.type);
    if (!def) continue;
    const linked: Record<string, StaticValue | undefined> = {};
    for (const [name, value] of Object.entries(node.inputs)) {
      if (isLink(value)) linked[name] = outputs.get(value.node)?.[value.output];
    }
    if (!def.estimateMemory) continue;
    const est = def.estimateMemory({ nodeId: node.id, inputs: literalInputs(def, node), linked, pack: packInfo });
    if (est.outputs) outputs.set(node.id, est.outputs);
    let modelBytes = 0;
    let ownModelBytes = 0;
    if (est.model) {
      const key = `${est.model.pack}\0${est.model.stage}`;
      const info = packInfo(est.model.pack);
      const file = info?.modelBytes[est.model.stage as keyof typeof info.modelBytes];
      if (info && file !== undefined) {
        ownModelBytes = Math.ceil(file * info.profile.weightFactor) + info.profile.sessionBytes;
        if (!loaded.has(key)) {
          loaded.add(key);
          modelBytes = ownModelBytes;
        }
      }
    }
    const entry: NodeMemory = { nodeId: node.id, type: node.type, modelBytes, ...(est.what ? { what: est.what } : {}), ...(est.drivenBy ? { drivenBy: est.drivenBy } : {}) };
    if (est.bytes === undefined) {
      plan.unknown.push({ nodeId: node.id, type: node.type, why: est.what ?? "no estimate" });
    } else {
      entry.bytes = est.bytes;
      entry.peakBytes = ownModelBytes + est.bytes;
      plan.peakBytes = Math.max(plan.peakBytes, entry.peakBytes);
    }
    plan.nodes.push(entry);
  }
  return plan;
}

/** "17 GB", "640 MB". */
export function formatBytes(bytes: number): string {
  const gb = bytes / 1024 ** 3;
  if (gb >= 10) return `${Math.round(gb)} GB`;
  if (gb >= 1) return `${gb.toFixed(1)} GB`;
  return `${Math.max(1, Math.round(bytes / 1024 ** 2))} MB`;
}

export type BudgetVerdict =
  | { ok: true; peakBytes: number }
  | { ok: false; nodeId: string; message: string; nodeErrors: NodeErrors };

/** "lower width/height on node 4" (raising compression also shrinks a Stage C latent). */
function advice(origin: ShapeOrigin): string {
  const lower = origin.inputs.filter((i) => i !== "compression");
  const raise = origin.inputs.includes("compression") ? " or raise compression" : "";
  return `lower ${lower.join("/")}${raise} on node ${origin.node}`;
}

/** The plan against a budget: the node with the largest peak over it is named, with what drives it. */
export function checkBudget(plan: MemoryPlan, budgetBytes: number): BudgetVerdict {
  const worst = plan.nodes.filter((n) => n.peakBytes !== undefined).sort((a, b) => b.peakBytes! - a.peakBytes!)[0];
  if (!worst || worst.peakBytes! <= budgetBytes) return { ok: true, peakBytes: plan.peakBytes };
  const needs = formatBytes(worst.peakBytes!), budget = formatBytes(budgetBytes);
  const message = `node ${worst.nodeId} ${worst.type}: ${worst.what ?? "its run"} needs about ${needs}; budget ${budget}${worst.drivenBy ? `; ${advice(worst.drivenBy)}` : ""}`;
  const nodeErrors: NodeErrors = { [worst.nodeId]: [{ message: `${worst.what ?? "this node"} needs about ${needs} of memory; the budget is ${budget}` }] };
  if (worst.drivenBy && worst.drivenBy.node !== worst.nodeId) {
    const [input] = worst.drivenBy.inputs;
    (nodeErrors[worst.drivenBy.node] ??= []).push({ ...(input ? { input } : {}), message: `sets the size for which node ${worst.nodeId} needs about ${needs} of memory; the budget is ${budget}` });
  }
  return { ok: false, nodeId: worst.nodeId, message, nodeErrors };
}
