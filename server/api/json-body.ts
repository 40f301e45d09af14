// JSON request bodies: only as application/json (a text/plain body is what a page on another site
// can send without asking), at most MAX_BODY_BYTES, and nested at most MAX_JSON_DEPTH levels. The
// depth is measured on the text before parsing, so a body nested 100 000 levels deep is refused
// with a message instead of overflowing the stack of the parser or of the checks after it.
import express, { type NextFunction, type Request, type Response } from "express";
import { HttpError } from "./http-error.ts";

export const MAX_JSON_DEPTH = 64;
export const MAX_BODY_BYTES = 50 * 1024 * 1024;

/** The deepest nesting of arrays and objects in a JSON text (strings skipped). */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0, deepest = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return deepest;
}

/** Parses JSON text, refusing too deep a nesting with a 400 that says so. */
export function parseJsonBody(text: string): unknown {
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new HttpError(400, `the request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

function hasBody(req: Request): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/**
 * Middleware for the JSON routes (every path but those in `ownBodies`, which read their bodies
 * themselves): a body must be application/json; it becomes req.body.
 */
export function jsonBodies(ownBodies: string[]) {
  const text = express.text({ type: ["application/json", "application/*+json"], limit: MAX_BODY_BYTES });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (ownBodies.includes(req.path) || !hasBody(req)) { next(); return; }
    if (!req.is(["application/json", "application/*+json"])) {
      next(new HttpError(415, `the request body must be JSON sent as application/json (got ${req.headers["content-type"] ?? "no content-type"})`));
      return;
    }
    text(req, res, (err: unknown) => {
      if (err) {
        const e = err as { status?: number; message?: string };
        next(new HttpError(e.status === 413 ? 413 : 400, e.status === 413 ? `the request body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MB` : `the request body could not be read: ${e.message}`));
        return;
      }
      try {
        req.body = typeof req.body === "string" && req.body.length > 0 ? parseJsonBody(req.body) : undefined;
        next();
      } catch (e) {
        next(e);
      }
    });
  };
}
