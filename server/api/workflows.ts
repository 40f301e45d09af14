// The workflow library over HTTP: /api/workflows.
import type { Express } from "express";
import { z } from "zod";
import { parseWorkflow, WorkflowFormatError } from "../engine/index.ts";
import { Library, SaveFailed } from "../store/library.ts";
import type { Store } from "../store/store.ts";
import { HttpError } from "./http-error.ts";

const SaveBody = z.object({ name: z.string().min(1).max(200).optional(), tags: z.array(z.string().max(50)).max(50).optional(), workflow: z.unknown(), note: z.string().max(500).optional() });
const MetaBody = z.object({ name: z.string().min(1).max(200).optional(), tags: z.array(z.string().max(50)).max(50).optional() });

function checked<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new HttpError(400, `invalid request: ${r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
  return r.data;
}

function workflowOf(raw: unknown) {
  try {
    return parseWorkflow(raw);
  } catch (err) {
    if (err instanceof WorkflowFormatError) throw new HttpError(400, err.message);
    throw err;
  }
}

function saving<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SaveFailed) throw new HttpError(507, err.message);
    throw err;
  }
}

export function mountWorkflows(app: Express, store: Store): Library {
  const library = new Library(store.db);
  const notFound = (id: string) => new HttpError(404, `no saved workflow with id "${id}"`);

  app.get("/api/workflows", (req, res) => {
    res.json(library.list({ q: typeof req.query.q === "string" ? req.query.q : undefined, tag: typeof req.query.tag === "string" ? req.query.tag : undefined }));
  });
  app.post("/api/workflows", (req, res) => {
    const body = checked(SaveBody, req.body);
    const workflow = workflowOf(body.workflow);
    const name = body.name ?? workflow.name ?? "Untitled";
    res.status(201).json(saving(() => library.create({ name, tags: body.tags, workflow, note: body.note })));
  });
  app.get("/api/workflows/:id", (req, res) => {
    const entry = library.entry(req.params.id);
    if (!entry) throw notFound(req.params.id);
    res.json({ ...entry, workflow: library.current(req.params.id) });
  });
  app.put("/api/workflows/:id", (req, res) => {
    const body = checked(SaveBody, req.body);
    const entry = saving(() => library.save(req.params.id, { workflow: workflowOf(body.workflow), name: body.name, tags: body.tags, note: body.note }));
    if (!entry) throw notFound(req.params.id);
    res.json(entry);
  });
  app.patch("/api/workflows/:id", (req, res) => {
    const entry = saving(() => library.update(req.params.id, checked(MetaBody, req.body)));
    if (!entry) throw notFound(req.params.id);
    res.json(entry);
  });
  app.delete("/api/workflows/:id", (req, res) => {
    if (!saving(() => library.remove(req.params.id))) throw notFound(req.params.id);
    res.json({ deleted: req.params.id });
  });
  app.post("/api/workflows/:id/duplicate", (req, res) => {
    const entry = saving(() => library.duplicate(req.params.id, typeof req.body?.name === "string" ? req.body.name : undefined));
    if (!entry) throw notFound(req.params.id);
    res.status(201).json(entry);
  });
  app.get("/api/workflows/:id/versions", (req, res) => {
    if (!library.entry(req.params.id)) throw notFound(req.params.id);
    res.json(library.versions(req.params.id));
  });
  app.get("/api/workflows/:id/versions/:version", (req, res) => {
    const wf = library.version(req.params.id, Number(req.params.version));
    if (!wf) throw new HttpError(404, `workflow "${req.params.id}" has no version ${req.params.version}`);
    res.json(wf);
  });
  app.post("/api/workflows/:id/versions/:version/restore", (req, res) => {
    const entry = saving(() => library.restore(req.params.id, Number(req.params.version)));
    if (!entry) throw new HttpError(404, `workflow "${req.params.id}" has no version ${req.params.version}`);
    res.json(entry);
  });
  return library;
}
