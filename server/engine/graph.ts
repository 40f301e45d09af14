// Graph structure of a workflow: edges, cycles, topological order, the part an output needs.
// Every walk keeps its own stack (no recursion over nodes), so a long chain cannot overflow the
// call stack.
import { isLink, type WorkflowNode } from "../../nodes/schema.ts";

/** The most nodes a workflow may have once its components are expanded. */
export const MAX_WORKFLOW_NODES = 10_000;

/** Ids of the nodes a node reads from, in input order, without duplicates. */
export function sourcesOf(node: WorkflowNode): string[] {
  const ids: string[] = [];
  for (const value of Object.values(node.inputs)) {
    if (isLink(value) && !ids.includes(value.node)) ids.push(value.node);
  }
  return ids;
}

/** The nodes of one cycle, in order, or undefined when the graph is acyclic. */
export function findCycle(nodes: WorkflowNode[]): string[] | undefined {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const state = new Map<string, "visiting" | "done">();
  for (const start of nodes) {
    if (state.has(start.id)) continue;
    // Depth-first with an explicit stack: each frame is a node and the sources still to visit.
    const path: string[] = [start.id];
    const pending: string[][] = [sourcesOf(start)];
    state.set(start.id, "visiting");
    while (path.length > 0) {
      const next = pending[pending.length - 1].shift();
      if (next === undefined) {
        state.set(path.pop()!, "done");
        pending.pop();
        continue;
      }
      const node = byId.get(next);
      if (!node) continue;
      const s = state.get(next);
      if (s === "visiting") return path.slice(path.indexOf(next)).reverse();
      if (s === "done") continue;
      state.set(next, "visiting");
      path.push(next);
      pending.push(sourcesOf(node));
    }
  }
  return undefined;
}

/**
 * The nodes needed to compute `targets`, sources first. Among independent nodes the workflow's
 * own order is kept, so runs are reproducible. Assumes the graph is acyclic (validated).
 */
export function executionOrder(nodes: WorkflowNode[], targets: string[]): string[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const order: string[] = [];
  const seen = new Set<string>();
  for (const target of targets) {
    if (seen.has(target)) continue;
    seen.add(target);
    const path: string[] = [target];
    const pending: string[][] = [byId.has(target) ? sourcesOf(byId.get(target)!) : []];
    while (path.length > 0) {
      const next = pending[pending.length - 1].shift();
      if (next === undefined) {
        const done = path.pop()!;
        pending.pop();
        if (byId.has(done)) order.push(done);
        continue;
      }
      if (seen.has(next)) continue;
      seen.add(next);
      path.push(next);
      pending.push(byId.has(next) ? sourcesOf(byId.get(next)!) : []);
    }
  }
  return order;
}

/**
 * The nodes to visit to compute `targets`, sources first: the walk goes from each target back
 * through its inputs and stops at a node for which `cached(id)` is true (that node is in the
 * plan, to be taken from the cache; its ancestors are not). `cached` is asked once per node.
 */
export function planExecution(nodes: WorkflowNode[], targets: string[], cached: (id: string) => boolean): string[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const node = byId.get(id);
    if (!node) return;
    if (!cached(id)) for (const src of sourcesOf(node)) visit(src);
    order.push(id);
  };
  for (const id of targets) visit(id);
  return order;
}
