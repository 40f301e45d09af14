// Packs as hosts list them (the API's /packs and /system, the catalog's pack options in the API and
// the CLI). Listing is a folder scan: no session is loaded; sessions load in the executor.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { listPacks, STAGE_FILES } from "./pack.ts";

export function packOptions(modelsDir: string): string[] {
  return existsSync(modelsDir) ? listPacks(modelsDir).map((p) => p.name) : [];
}

/** The image size a pack was made for, and its Stage C compression (for size presets and warnings). */
export interface PackNative { width: number; height: number; compression: number; dynamic: boolean }

export function listPackInfo(modelsDir: string): { name: string; title: string; stages: string[]; hasManifest: boolean; native?: PackNative }[] {
  if (!existsSync(modelsDir)) return [];
  return listPacks(modelsDir).map((p) => {
    const native = p.hasManifest ? nativeSize(join(p.dir, "manifest.json")) : undefined;
    return {
      name: p.name,
      title: p.title,
      hasManifest: p.hasManifest,
      stages: Object.keys(STAGE_FILES).filter((s) => existsSync(`${p.dir}/${STAGE_FILES[s as keyof typeof STAGE_FILES]}`)),
      ...(native ? { native } : {}),
    };
  });
}

/** Read from the manifest's resolution and stageC fields; absent when the manifest does not say. */
function nativeSize(file: string): PackNative | undefined {
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as { resolution?: { default?: unknown; dynamic?: unknown }; stageC?: { compression?: unknown } };
    const d = m.resolution?.default;
    const c = m.stageC?.compression;
    if (!Array.isArray(d) || typeof d[0] !== "number" || typeof d[1] !== "number" || typeof c !== "number") return undefined;
    return { width: d[0], height: d[1], compression: c, dynamic: m.resolution?.dynamic !== false };
  } catch {
    return undefined;
  }
}
