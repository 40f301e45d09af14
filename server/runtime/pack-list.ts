// Packs as hosts list them (the API's /packs and /system, the catalog's pack options in the API and
// the CLI). Listing is a folder scan: no session is loaded; sessions load in the executor.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { listPacks, STAGE_FILES } from "./pack.ts";

export function packOptions(modelsDir: string): string[] {
  return existsSync(modelsDir) ? listPacks(modelsDir).map((p) => p.name) : [];
}

/** A pack's native image size and compressions from its manifest.json (undefined without one). */
export function packSize(dir: string): { width: number; height: number; compression: number; effnetCompression: number } | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { resolution?: { default?: number[] }; stageC?: { compression?: number }; effnet?: { compression?: number } };
    const [width, height] = m.resolution?.default ?? [];
    const compression = m.stageC?.compression;
    if (!width || !height || !compression) return undefined;
    return { width, height, compression, effnetCompression: m.effnet?.compression ?? compression };
  } catch {
    return undefined;
  }
}

export function listPackInfo(modelsDir: string): { name: string; title: string; stages: string[]; hasManifest: boolean; size?: ReturnType<typeof packSize> }[] {
  if (!existsSync(modelsDir)) return [];
  return listPacks(modelsDir).map((p) => ({
    name: p.name,
    title: p.title,
    hasManifest: p.hasManifest,
    stages: Object.keys(STAGE_FILES).filter((s) => existsSync(`${p.dir}/${STAGE_FILES[s as keyof typeof STAGE_FILES]}`)),
    ...(p.hasManifest ? { size: packSize(p.dir) } : {}),
  }));
}
