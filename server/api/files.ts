// Files: serving outputs and uploads (never anything outside them, never through a symbolic link),
// and image uploads checked by decoding them within the pixel limit.
import type { Express } from "express";
import { createReadStream } from "node:fs";
import { randomUUID } from "node:crypto";
import multer from "multer";
import { checkImage, ImageRefused } from "../media/decode.ts";
import { existingFileInside, openNoFollow, PathRefused, resolveInside } from "../media/paths.ts";
import { writeFileAtomic } from "../media/write.ts";
import type { Store } from "../store/store.ts";
import { HttpError } from "./http-error.ts";

export const UPLOAD_PATH = "/api/upload";
export const MAX_UPLOAD_BYTES = 32 * 1024 * 1024;
const TYPES: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif", tiff: "image/tiff", avif: "image/avif" };

export function mountFiles(app: Express, store: Store): void {
  app.get("/api/view", (req, res, next) => {
    const file = typeof req.query.file === "string" ? req.query.file : "";
    if (!file) throw new HttpError(400, "missing ?file=");
    let path: string | undefined;
    for (const root of [store.paths.outputs, store.paths.uploads]) {
      try {
        path = existingFileInside(root, file);
      } catch (err) {
        if (err instanceof PathRefused) throw new HttpError(403, `"${file}" is refused: ${err.message}`);
        throw err;
      }
      if (path) break;
    }
    if (!path) throw new HttpError(404, `no output or upload named "${file}"`);
    let fd: number;
    try {
      fd = openNoFollow(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ELOOP" || err instanceof PathRefused) throw new HttpError(403, `"${file}" is refused: symbolic links are not followed`);
      throw err;
    }
    const ext = path.split(".").pop()?.toLowerCase() ?? "";
    res.type(TYPES[ext] ?? "application/octet-stream");
    const stream = createReadStream("", { fd, autoClose: true });
    stream.on("error", next);
    stream.pipe(res);
  });

  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });
  app.post(UPLOAD_PATH, (req, res, next) => {
    upload.single("image")(req, res, (err: unknown) => {
      if (err) {
        const e = err as { code?: string; message?: string };
        next(new HttpError(e.code === "LIMIT_FILE_SIZE" ? 413 : 400, e.code === "LIMIT_FILE_SIZE" ? `the image is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB` : `upload failed: ${e.message}`));
        return;
      }
      void (async () => {
        const file = req.file;
        if (!file) throw new HttpError(400, "no file: send multipart/form-data with a field named \"image\"");
        let checked;
        try {
          checked = await checkImage(file.buffer, `"${file.originalname}"`);
        } catch (e) {
          if (e instanceof ImageRefused) throw new HttpError(e.tooLarge ? 413 : 400, e.message);
          throw e;
        }
        const { format, width, height } = checked;
        const ext = format === "jpeg" ? "jpg" : format;
        const base = file.originalname.replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_").slice(0, 48) || "image";
        const name = `${base}_${randomUUID().slice(0, 8)}.${ext}`;
        writeFileAtomic(resolveInside(store.paths.uploads, name), file.buffer);
        res.json({ name, width, height });
      })().catch(next);
    });
  });
}
