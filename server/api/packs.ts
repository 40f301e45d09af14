// Packs as the API shows them. Listing is a folder scan; sessions load in the worker.
import { existsSync } from "node:fs";
import { listPacks, STAGE_FILES } from "../runtime/index.ts";

export function packOptions(modelsDir: string): string[] {
  return existsSync(modelsDir) ? listPacks(modelsDir).map((p) => p.name) : [];
}

export function listPackInfo(modelsDir: string): { name: string; title: string; stages: string[]; hasManifest: boolean }[] {
  if (!existsSync(modelsDir)) return [];
  return listPacks(modelsDir).map((p) => ({
    name: p.name,
    title: p.title,
    hasManifest: p.hasManifest,
    stages: Object.keys(STAGE_FILES).filter((s) => existsSync(`${p.dir}/${STAGE_FILES[s as keyof typeof STAGE_FILES]}`)),
  }));
}
