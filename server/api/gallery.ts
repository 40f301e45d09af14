// The gallery's routes: GET /api/gallery (images with prompt, seed, pack, time; ?q= search,
// ?pack= filter) and DELETE /api/gallery/:promptId (a finished run and its images).
import type { Express } from "express";
import { rmSync } from "node:fs";
import { resolveInside } from "../media/paths.ts";
import { forgetRun, galleryItems } from "../store/gallery.ts";
import type { Store } from "../store/store.ts";
import { HttpError } from "./http-error.ts";

export function mountGallery(app: Express, store: Store): void {
  app.get("/api/gallery", (req, res) => {
    const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
    res.json(galleryItems(store.db, { q: str(req.query.q), pack: str(req.query.pack), limit: Number(req.query.limit) || undefined }));
  });
  app.delete("/api/gallery/:promptId", (req, res) => {
    const files = forgetRun(store.db, req.params.promptId);
    if (!files) throw new HttpError(404, `no finished run "${req.params.promptId}" (a pending or running prompt is cancelled from the queue)`);
    let deleted = 0;
    for (const file of files) {
      try { rmSync(resolveInside(store.paths.outputs, file), { force: true }); deleted++; } catch { /* outside the outputs folder: never touched */ }
    }
    res.json({ deleted: req.params.promptId, files: deleted });
  });
}
