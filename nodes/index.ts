// The node registry: every family's definitions, by type name.
import { controlNodes } from "./control.ts";
import { imageNodes } from "./image.ts";
import type { NodeDef } from "./schema.ts";

export const ALL_NODES: NodeDef[] = [...imageNodes, ...controlNodes];

export function createRegistry(defs: NodeDef[] = ALL_NODES): Map<string, NodeDef> {
  const registry = new Map<string, NodeDef>();
  for (const def of defs) {
    if (registry.has(def.type)) throw new Error(`node type "${def.type}" defined twice`);
    registry.set(def.type, def);
  }
  return registry;
}
