// The memory check of a prompt as the API and the CLI run it: pack facts read from the models
// folder (once per pack per check), then the pure estimate and verdict of server/engine/memory.ts.
import type { NodeDef, Workflow } from "../../nodes/schema.ts";
import { checkBudget, estimatePlan, type BudgetVerdict } from "../engine/index.ts";
import { listPacks, readPackMemoryInfo, type PackMemoryInfo } from "../runtime/index.ts";

export function checkMemory(flat: Workflow, registry: Map<string, NodeDef>, modelsDir: string, budgetBytes: number): BudgetVerdict {
  const packs = new Map<string, PackMemoryInfo | undefined>();
  const packInfo = (name: string) => {
    if (!packs.has(name)) packs.set(name, readPackMemoryInfo(modelsDir, name));
    return packs.get(name);
  };
  return checkBudget(estimatePlan(flat, (type) => registry.get(type), packInfo), budgetBytes);
}

/** Reads every pack's memory facts once at start, so the first prompt's check does not parse models. */
export function warmPackMemory(modelsDir: string): void {
  for (const pack of listPacks(modelsDir)) readPackMemoryInfo(modelsDir, pack.name);
}
