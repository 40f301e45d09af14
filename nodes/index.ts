// The node registry: every family's definitions, by type name.
import { cascadeNodes } from "./cascade.ts";
import { controlNodes } from "./control.ts";
import { gateNodes } from "./gate.ts";
import { latentNodes } from "./latents.ts";
import { imageNodes } from "./image.ts";
import { imageCropNodes } from "./image-crop.ts";
import { latentBatchNodes } from "./latent-batch.ts";
import { maskNodes } from "./masks.ts";
import { pathToFileURL } from "node:url";
import type { NodeDef } from "./schema.ts";

export const ALL_NODES: NodeDef[] = [
  ...cascadeNodes, ...latentNodes, ...latentBatchNodes, ...imageNodes, ...imageCropNodes, ...maskNodes, ...gateNodes, ...controlNodes,
];

export function createRegistry(defs: NodeDef[] = ALL_NODES): Map<string, NodeDef> {
  const registry = new Map<string, NodeDef>();
  for (const def of defs) {
    if (registry.has(def.type)) throw new Error(`node type "${def.type}" defined twice`);
    registry.set(def.type, def);
  }
  return registry;
}

/**
 * Node families from outside the project (plugins, test fixtures): modules that export
 * `nodes: NodeDef[]`. Loaded by both the API's catalog and the executor.
 */
export async function loadNodeModules(paths: string[]): Promise<NodeDef[]> {
  const defs: NodeDef[] = [];
  for (const path of paths) {
    const mod = (await import(pathToFileURL(path).href)) as { nodes?: NodeDef[] };
    if (!Array.isArray(mod.nodes)) throw new Error(`node module ${path} does not export "nodes" (an array of node definitions)`);
    defs.push(...mod.nodes);
  }
  return defs;
}
