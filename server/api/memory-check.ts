// The compiler's memory option bound to a models folder, as the API and the CLI pass it: pack
// facts read from the folder (server/runtime/pack-memory.ts), the pure estimate and verdict in
// server/engine/memory.ts.
import type { NodeDef } from "../../nodes/schema.ts";
import type { CompileOptions } from "../engine/index.ts";
import { listPacks, readPackMemoryInfo } from "../runtime/index.ts";

export function memoryOption(registry: Map<string, NodeDef>, modelsDir: string, budgetBytes: number): NonNullable<CompileOptions["memory"]> {
  return { budgetBytes, defs: (type) => registry.get(type), packInfo: (name) => readPackMemoryInfo(modelsDir, name) };
}

/** Reads every pack's memory facts once at start, so the first prompt's check does not parse models. */
export function warmPackMemory(modelsDir: string): void {
  for (const pack of listPacks(modelsDir)) readPackMemoryInfo(modelsDir, pack.name);
}
