// Re-roll at a gate: every seed upstream of the gate moves to the next seed, so re-running the
// workflow recomputes exactly what depends on those seeds and takes the rest from the cache.
import { isLink, type NodeDef, type Workflow } from "../../nodes/schema.ts";
import { sourcesOf } from "./graph.ts";
import { nextSeed, type Seed } from "../../nodes/seed.ts";

export function ancestorsOf(workflow: Workflow, nodeId: string): Set<string> {
  const byId = new Map(workflow.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const stack = [...sourcesOf(byId.get(nodeId)!)];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id) || !byId.has(id)) continue;
    seen.add(id);
    stack.push(...sourcesOf(byId.get(id)!));
  }
  return seen;
}

export function rerollUpstream(workflow: Workflow, gateId: string, registry: ReadonlyMap<string, NodeDef>): { workflow: Workflow; changed: string[] } {
  const copy: Workflow = structuredClone(workflow);
  const upstream = ancestorsOf(copy, gateId);
  const changed: string[] = [];
  for (const node of copy.nodes) {
    if (!upstream.has(node.id)) continue;
    const def = registry.get(node.type);
    for (const input of def?.inputs ?? []) {
      if (!input.seed) continue;
      const value = node.inputs[input.name] ?? input.default;
      if (isLink(value)) continue;
      try {
        node.inputs[input.name] = nextSeed(value as Seed);
      } catch {
        continue; // validation reports a bad seed; re-roll leaves it as it is
      }
      changed.push(`${node.id}.${input.name}`);
    }
  }
  return { workflow: copy, changed };
}
