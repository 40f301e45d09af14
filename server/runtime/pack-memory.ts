// A pack's memory facts read from its folder without loading any model: the manifest's memory
// profile and latent layout, and each model's size (file plus external data). Cheap enough to
// call for every prompt checked against the budget.
import fs from "node:fs";
import path from "node:path";
import { RELEASE_DEFAULTS } from "./manifest.ts";
import { MemoryProfileSchema, resolveMemoryProfile, type PackMemoryInfo } from "./memory-profile.ts";
import { listPacks, STAGE_FILES, type StageName } from "./pack.ts";
import { estimateModelBytes } from "./sessions.ts";

interface ManifestPart {
  memory?: unknown;
  textEncoder?: { width?: number };
  stageC?: { channels?: number };
  stageB?: { channels?: number };
  stageA?: { upscale?: number };
  effnet?: { compression?: number };
}

/** Model sizes by file, size and mtime: finding a model's external data parses its graph. */
const modelBytesCache = new Map<string, number>();

function modelBytesOf(file: string): number {
  const st = fs.statSync(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  let bytes = modelBytesCache.get(key);
  if (bytes === undefined) {
    bytes = estimateModelBytes(file);
    modelBytesCache.set(key, bytes);
  }
  return bytes;
}

/**
 * Memory facts of pack `name` in `modelsDir`, or undefined where there is no such pack (the
 * loader node reports that when it runs). A broken manifest falls back to the release profile:
 * loading the pack names its errors.
 */
export function readPackMemoryInfo(modelsDir: string, name: string): PackMemoryInfo | undefined {
  const pack = listPacks(modelsDir).find((p) => p.name === name);
  if (!pack) return undefined;
  let manifest: ManifestPart = {};
  if (pack.hasManifest) {
    try {
      manifest = JSON.parse(fs.readFileSync(path.join(pack.dir, "manifest.json"), "utf8")) as ManifestPart;
    } catch {
      manifest = {};
    }
  }
  const memory = MemoryProfileSchema.safeParse(manifest.memory ?? {});
  const modelBytes: PackMemoryInfo["modelBytes"] = {};
  for (const stage of Object.keys(STAGE_FILES) as StageName[]) {
    const file = path.join(pack.dir, STAGE_FILES[stage]);
    if (!fs.existsSync(file)) continue;
    try {
      modelBytes[stage] = modelBytesOf(file);
    } catch {
      // an unreadable model is reported when the pack loads
    }
  }
  return {
    name,
    profile: resolveMemoryProfile(memory.success ? memory.data : undefined),
    modelBytes,
    stageCChannels: manifest.stageC?.channels ?? RELEASE_DEFAULTS.stageC.channels,
    stageBChannels: manifest.stageB?.channels ?? RELEASE_DEFAULTS.stageB.channels,
    textWidth: manifest.textEncoder?.width ?? RELEASE_DEFAULTS.textWidth,
    effnetCompression: manifest.effnet?.compression ?? RELEASE_DEFAULTS.effnet.compression,
    stageAUpscale: manifest.stageA?.upscale ?? RELEASE_DEFAULTS.stageA.upscale,
  };
}
