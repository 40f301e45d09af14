// Bundled example workflows (templates/*.json), read-only.
import type { Express } from "express";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HttpError } from "./http-error.ts";

export const TEMPLATES_DIR = join(import.meta.dirname, "..", "..", "templates");

export function listTemplates(): { id: string; name: string; description: string }[] {
  if (!existsSync(TEMPLATES_DIR)) return [];
  return readdirSync(TEMPLATES_DIR).filter((f) => f.endsWith(".json")).sort().map((f) => {
    const id = f.replace(/\.json$/, "");
    const wf = JSON.parse(readFileSync(join(TEMPLATES_DIR, f), "utf8"));
    return { id, name: wf.name ?? id, description: wf.description ?? "" };
  });
}

export function readTemplate(id: string): unknown {
  if (!/^[\w-]+$/.test(id)) return undefined;
  const path = join(TEMPLATES_DIR, `${id}.json`);
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : undefined;
}

export function mountTemplates(app: Express): void {
  app.get("/api/templates", (_req, res) => { res.json(listTemplates()); });
  app.get("/api/templates/:id", (req, res) => {
    const wf = readTemplate(req.params.id);
    if (!wf) throw new HttpError(404, `no template "${req.params.id}"`);
    res.json(wf);
  });
}
