// The gallery: every output image of the history with what made it (prompt text, seed, pack,
// time), read from the prompts table; and forgetting a run (its record and its images).
import type Database from "better-sqlite3";
import { isLink, type OutputImage, type Workflow } from "../../nodes/schema.ts";

export interface GalleryItem {
  promptId: string;
  file: string;
  width?: number;
  height?: number;
  seed?: string;
  prompt: string;
  pack?: string;
  createdAt: string;
  finishedAt?: string;
}

interface Row { id: string; workflow: string; outputs: string; created_at: string; finished_at: string | null }

/** Newest first; `q` matches prompt text, pack or file name (any case), `pack` picks one pack. */
export function galleryItems(db: Database.Database, opts: { q?: string; pack?: string; limit?: number } = {}): GalleryItem[] {
  const limit = Math.min(2000, Math.max(1, opts.limit ?? 300));
  const rows = db.prepare("SELECT id, workflow, outputs, created_at, finished_at FROM prompts WHERE outputs LIKE '%\"file\"%' ORDER BY seq DESC LIMIT ?").all(limit) as Row[];
  const q = opts.q?.trim().toLowerCase();
  const items: GalleryItem[] = [];
  for (const row of rows) {
    let workflow: Workflow;
    let outputs: Record<string, { images?: OutputImage[] }>;
    try { workflow = JSON.parse(row.workflow); outputs = JSON.parse(row.outputs); } catch { continue; }
    const about = describe(workflow);
    if (opts.pack && about.pack !== opts.pack) continue;
    for (const images of Object.values(outputs)) {
      for (const img of images?.images ?? []) {
        const item: GalleryItem = {
          promptId: row.id, file: img.file, prompt: about.prompt, createdAt: row.created_at,
          ...(img.width ? { width: img.width, height: img.height } : {}),
          ...(img.seed ?? about.seed ? { seed: img.seed ?? about.seed } : {}),
          ...(about.pack ? { pack: about.pack } : {}),
          ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
        };
        if (q && !`${item.prompt}\n${item.pack ?? ""}\n${item.file}\n${item.seed ?? ""}`.toLowerCase().includes(q)) continue;
        items.push(item);
      }
    }
  }
  return items;
}

/**
 * What a person would call the run: the text of the prompt feeding a sampler's positive input
 * (else the first non-empty text), the first sampler's seed and the first pack loaded.
 */
export function describe(workflow: Workflow): { prompt: string; seed?: string; pack?: string } {
  const byId = new Map(workflow.nodes.map((n) => [n.id, n]));
  const text = (id: string | undefined) => {
    const v = id ? byId.get(id)?.inputs.text : undefined;
    return typeof v === "string" ? v : undefined;
  };
  let prompt: string | undefined;
  let seed: string | undefined;
  for (const n of workflow.nodes) {
    const pos = n.inputs.positive;
    if (prompt === undefined && isLink(pos)) prompt = text(pos.node);
    const s = n.inputs.seed;
    if (seed === undefined && (typeof s === "number" || typeof s === "string") && isLink(n.inputs.model)) seed = String(s);
  }
  prompt ??= workflow.nodes.map((n) => (typeof n.inputs.text === "string" && n.type !== "Note" ? n.inputs.text : "")).find((t) => t.trim()) ?? "";
  const pack = workflow.nodes.map((n) => n.inputs.pack).find((p): p is string => typeof p === "string");
  return { prompt, ...(seed ? { seed } : {}), ...(pack ? { pack } : {}) };
}

/** Removes a finished run from the history; returns its image files (for the caller to delete), or undefined when there is no such finished run. */
export function forgetRun(db: Database.Database, promptId: string): string[] | undefined {
  const row = db.prepare("SELECT outputs, status FROM prompts WHERE id = ?").get(promptId) as { outputs: string; status: string } | undefined;
  if (!row || !["done", "failed", "cancelled"].includes(row.status)) return undefined;
  db.prepare("DELETE FROM prompts WHERE id = ?").run(promptId);
  const outputs = JSON.parse(row.outputs) as Record<string, { images?: OutputImage[] }>;
  return Object.values(outputs).flatMap((o) => (o.images ?? []).map((i) => i.file));
}
