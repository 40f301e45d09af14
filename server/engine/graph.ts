// Graph structure of a workflow: edges, cycles, topological order, the part an output needs.
import { isLink, type WorkflowNode } from "../../nodes/schema.ts";

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
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    state.set(id, "visiting");
    stack.push(id);
    const node = byId.get(id)!;
    for (const src of sourcesOf(node)) {
      if (!byId.has(src)) continue;
      const s = state.get(src);
      if (s === "visiting") return stack.slice(stack.indexOf(src)).reverse();
      if (s === undefined) {
        const found = visit(src);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(id, "done");
    return undefined;
  };
  for (const node of nodes) {
    if (!state.has(node.id)) {
      const found = visit(node.id);
      if (found) return found;
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
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const node = byId.get(id);
    if (!node) return;
    for (const src of sourcesOf(node)) visit(src);
    order.push(id);
  };
  for (const id of targets) visit(id);
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
