// Pack discovery: which folders of a models directory are packs, and what each holds, read from
// the file system only (no model is parsed here).
import fs from "node:fs";
import path from "node:path";
import { STAGE_FILES } from "./specs.ts";

export interface PackSummary {
  /** Folder name: the id used by LoadCascadePack's COMBO. */
  name: string;
  dir: string;
  /** manifest.json's name where it has one, else the folder name. */
  title: string;
  hasManifest: boolean;
}

/** Whether a pack folder has a tokenizer (tokenizer.json, or vocab.json + merges.txt). */
export function tokenizerPresent(dir: string): boolean {
  const t = path.join(dir, "tokenizer");
  return fs.existsSync(path.join(t, "tokenizer.json")) || (fs.existsSync(path.join(t, "vocab.json")) && fs.existsSync(path.join(t, "merges.txt")));
}

/** A folder holding a manifest.json or any stage model. */
export function looksLikePack(dir: string): boolean {
  return fs.existsSync(path.join(dir, "manifest.json")) || Object.values(STAGE_FILES).some((f) => fs.existsSync(path.join(dir, f)));
}

/**
 * The packs in a folder of packs, "tiny" first, then by name. A folder that is itself a pack (a
 * downloaded export given directly) is listed as one pack. Folders that hold no pack are skipped.
 */
export function listPacks(modelsDir: string): PackSummary[] {
  const abs = path.resolve(modelsDir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) return [];
  const summary = (dir: string): PackSummary => {
    const name = path.basename(dir);
    const mf = path.join(dir, "manifest.json");
    let title = name;
    const hasManifest = fs.existsSync(mf);
    if (hasManifest) {
      try {
        const m = JSON.parse(fs.readFileSync(mf, "utf8")) as { name?: unknown };
        if (typeof m.name === "string" && m.name) title = m.name;
      } catch {
        // a broken manifest is reported when the pack is loaded
      }
    }
    return { name, dir, title, hasManifest };
  };
  if (Object.values(STAGE_FILES).some((f) => fs.existsSync(path.join(abs, f)))) return [summary(abs)];
  const packs = fs.readdirSync(abs, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith("."))
    .map((d) => path.join(abs, d.name))
    .filter(looksLikePack)
    .map(summary);
  return packs.sort((a, b) => (a.name === "tiny" ? -1 : b.name === "tiny" ? 1 : a.name.localeCompare(b.name)));
}
