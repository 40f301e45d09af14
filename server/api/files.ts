// Files: serving outputs and uploads (never anything outside them), and image uploads checked by
// decoding them.
import type { Express } from "express";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import multer from "multer";
import sharp from "sharp";
import { resolveInside } from "../../nodes/image.ts";
import type { Store } from "../store/store.ts";
import { HttpError } from "./app.ts";

export const MAX_UPLOAD_BYTES = 32 * 1024 * 1024;
const TYPES: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif", tiff: "image/tiff", avif: "image/avif" };

export function mountFiles(app: Express, store: Store): void {
  app.get("/api/view", (req, res) => {
    const file = typeof req.query.file === "string" ? req.query.file : "";
    if (!file) throw new HttpError(400, "missing ?file=");
    let path: string | undefined;
    for (const root of [store.paths.outputs, store.paths.uploads]) {
      let candidate: string;
      try { candidate = resolveInside(root, file); } catch { throw new HttpError(403, `"${file}" is outside the outputs and uploads folders`); }
      if (existsSync(candidate) && statSync(candidate).isFile()) { path = candidate; break; }
    }
    if (!path) throw new HttpError(404, `no output or upload named "${file}"`);
    const ext = path.split(".").pop()?.toLowerCase() ?? "";
    res.type(TYPES[ext] ?? "application/octet-stream");
    res.sendFile(path);
  });

  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });
  app.post("/api/upload", (req, res, next) => {
    upload.single("image")(req, res, (err: unknown) => {
      if (err) {
        const e = err as { code?: string; message?: string };
        next(new HttpError(e.code === "LIMIT_FILE_SIZE" ? 413 : 400, e.code === "LIMIT_FILE_SIZE" ? `the image is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB` : `upload failed: ${e.message}`));
        return;
      }
      void (async () => {
        const file = req.file;
        if (!file) throw new HttpError(400, "no file: send multipart/form-data with a field named \"image\"");
        let format: string | undefined, width: number | undefined, height: number | undefined;
        try {
          const meta = await sharp(file.buffer).metadata();
          await sharp(file.buffer).stats(); // decodes the pixels, not just the header
          ({ format, width, height } = meta);
        } catch (e) {
          throw new HttpError(400, `"${file.originalname}" is not an image that can be decoded (${(e as Error).message})`);
        }
        const ext = format === "jpeg" ? "jpg" : format ?? "bin";
        const base = file.originalname.replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_").slice(0, 48) || "image";
        const name = `${base}_${randomUUID().slice(0, 8)}.${ext}`;
        writeFileSync(resolveInside(store.paths.uploads, name), file.buffer);
        res.json({ name, width, height });
      })().catch(next);
    });
  });
}
