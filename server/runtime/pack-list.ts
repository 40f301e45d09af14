// Packs as hosts list them (the API's /packs and /system, the catalog's pack options in the API and
// the CLI). Listing is a folder scan: no session is loaded; sessions load in the executor.
import { existsSync } from "node:fs";
import { listPacks, STAGE_FILES } from "./pack.ts";

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
