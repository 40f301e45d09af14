// Re-roll at a gate: every seed upstream of the gate moves to the next seed, so re-running the
// workflow recomputes exactly what depends on those seeds and takes the rest from the cache.
import { isLink, type NodeDef, type Workflow } from "../../nodes/schema.ts";
import { sourcesOf } from "./graph.ts";
import { parseSeed, type Seed } from "../diffusion/noise.ts";

const SEED_SPACE = 1n << 64n;

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
      let seed: bigint;
      try {
        seed = parseSeed(value as Seed);
      } catch {
        continue; // validation reports a bad seed; re-roll leaves it as it is
      }
      const next = (seed + 1n) % SEED_SPACE;
      node.inputs[input.name] = next <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(next) : next.toString();
      changed.push(`${node.id}.${input.name}`);
    }
  }
  return { workflow: copy, changed };
}
