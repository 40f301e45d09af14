// POST /api/workflows/import: a workflow file as it is (Sluice, ComfyUI UI or API JSON) in the body,
// or multipart with a field "file" (JSON or PNG). Answers {workflow, warnings} or 400 {error, reasons}.
// The body is read raw (app.ts leaves this path to us) so that 64-bit seeds keep every digit.
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import multer from "multer";
import { basename, extname } from "node:path";
import { importFile, ImportError, importJsonText, importWorkflowValue, type ImportContext, type ImportResult } from "../import/index.ts";
import { HttpError } from "./http-error.ts";

export const IMPORT_PATH = "/api/workflows/import";
const MAX_FILE_BYTES = 32 * 1024 * 1024;

export interface ImportDeps {
  /** The packs as GET /api/packs lists them; the first is the default for unknown checkpoints. */
  packs(): { name: string; stages?: string[] }[];
}

function nameOf(filename: string | undefined): string | undefined {
  if (!filename) return undefined;
  const base = basename(filename);
  return base.slice(0, base.length - extname(base).length) || undefined;
}

export function mountImport(app: Express, deps: ImportDeps): void {
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_FILE_BYTES, files: 1 } });
  const text = express.text({ type: ["application/json", "text/*", "application/*+json"], limit: "50mb" });
  const raw = express.raw({ type: ["image/png", "application/octet-stream"], limit: "50mb" });

  const context = (filename?: string): ImportContext => {
    const packs = deps.packs();
    const names = packs.map((p) => p.name);
    return {
      packs: names,
      defaultPack: names[0] ?? "tiny",
      packStages: Object.fromEntries(packs.filter((p) => p.stages).map((p) => [p.name, p.stages!])),
      name: nameOf(filename),
    };
  };

  const answer = (res: Response, run: () => ImportResult) => {
    try {
      res.json(run());
    } catch (err) {
      if (err instanceof ImportError) throw new HttpError(400, err.message, { reasons: err.reasons });
      throw err;
    }
  };

  app.post(IMPORT_PATH, (req: Request, res: Response, next: NextFunction) => {
    if (req.is("multipart/form-data")) {
      upload.single("file")(req, res, (err: unknown) => {
        try {
          if (err) {
            const e = err as { code?: string; message?: string };
            if (e.code === "LIMIT_FILE_SIZE") throw new HttpError(413, `the file is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB`, { reasons: [] });
            throw new HttpError(400, `upload failed: ${e.message}`, { reasons: [] });
          }
          const file = req.file;
          if (!file) throw new HttpError(400, "no file: send multipart/form-data with a field named \"file\"", { reasons: ["the form has no field \"file\""] });
          answer(res, () => importFile(file.buffer, context(file.originalname)));
        } catch (e) {
          next(e);
        }
      });
      return;
    }
    const parser = req.is(["image/png", "application/octet-stream"]) ? raw : text;
    parser(req, res, (err: unknown) => {
      try {
        if (err) {
          const e = err as { status?: number; message?: string };
          throw new HttpError(e.status === 413 ? 413 : 400, `the request body could not be read: ${e.message}`, { reasons: [] });
        }
        const filename = typeof req.query.filename === "string" ? req.query.filename : undefined;
        const body: unknown = req.body;
        if (Buffer.isBuffer(body)) { answer(res, () => importFile(body, context(filename))); return; }
        if (typeof body === "string") {
          if (!body.trim()) throw new HttpError(400, "the request body is empty", { reasons: ["send the workflow file's content as the body, or multipart with a field \"file\""] });
          answer(res, () => importJsonText(body, context(filename)));
          return;
        }
        // Parsed by someone else (no raw text): import the value as it is.
        if (body !== undefined && body !== null && typeof body === "object" && Object.keys(body).length) { answer(res, () => importWorkflowValue(body, context(filename))); return; }
        throw new HttpError(400, "the request body is empty", { reasons: ["send the workflow file's content as a JSON body (content-type application/json), or multipart with a field \"file\""] });
      } catch (e) {
        next(e);
      }
    });
  });
}
