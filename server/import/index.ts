// Import of workflow files: a Sluice workflow (migrated forward), a ComfyUI UI workflow or API
// prompt, as JSON text or inside a PNG's tEXt chunks. Pure: bytes and text in, workflow out.
import { readPngText } from "../media/png.ts";
import { WORKFLOW_FORMAT, WORKFLOW_VERSION } from "../../nodes/schema.ts";
import { migrateWorkflow, parseWorkflow, WorkflowFormatError } from "../engine/index.ts";
import { importComfyUi, ImportError, isComfyUiPrompt, isComfyUiWorkflow, parseJsonKeepingBigInts, type ImportContext, type ImportResult } from "./comfyui.ts";

export { importComfyUi, ImportError, mapSamplerName, parseJsonKeepingBigInts, type ImportContext, type ImportResult } from "./comfyui.ts";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A parsed value in any of the three formats → a Sluice workflow. */
export function importWorkflowValue(raw: unknown, ctx: ImportContext): ImportResult {
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw) && (raw as { format?: unknown }).format === WORKFLOW_FORMAT) {
    try {
      const { migratedFrom } = migrateWorkflow(raw);
      const workflow = parseWorkflow(raw);
      const named = ctx.name && !workflow.name ? { ...workflow, name: ctx.name } : workflow;
      return { workflow: named, warnings: migratedFrom ? [`migrated from format version ${migratedFrom} to ${WORKFLOW_VERSION}`] : [] };
    } catch (err) {
      if (err instanceof WorkflowFormatError) throw new ImportError(`not a usable Sluice workflow: ${err.message}`, err.issues.length ? err.issues : [err.message]);
      throw err;
    }
  }
  if (isComfyUiWorkflow(raw) || isComfyUiPrompt(raw)) return importComfyUi(raw, ctx);
  throw new ImportError("unknown workflow format", [
    `not a Sluice workflow: no "format": "${WORKFLOW_FORMAT}"`,
    "not a ComfyUI UI workflow: no \"nodes\" and \"links\" arrays",
    "not a ComfyUI API prompt: no object of nodes with a \"class_type\"",
  ]);
}

/** JSON text (big integers kept exactly) → a Sluice workflow. */
export function importJsonText(text: string, ctx: ImportContext): ImportResult {
  let raw: unknown;
  try {
    raw = parseJsonKeepingBigInts(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    throw new ImportError("the file is not JSON", [`JSON: ${(err as Error).message}`]);
  }
  return importWorkflowValue(raw, ctx);
}

/**
 * A PNG's embedded workflow: Sluice's "sluice.workflow" chunk first, else ComfyUI's "workflow"
 * (UI format), else its "prompt" (API format).
 */
export function importPng(png: Buffer, ctx: ImportContext): ImportResult {
  let chunks: Record<string, string>;
  try {
    chunks = readPngText(png);
  } catch (err) {
    throw new ImportError("the PNG could not be read", [(err as Error).message]);
  }
  const reasons: string[] = [];
  for (const key of ["sluice.workflow", "workflow", "prompt"]) {
    const text = chunks[key];
    if (text === undefined) continue;
    try {
      return importJsonText(text, ctx);
    } catch (err) {
      if (!(err instanceof ImportError)) throw err;
      reasons.push(`tEXt chunk "${key}": ${err.message}${err.reasons.length ? ` (${err.reasons.join("; ")})` : ""}`);
    }
  }
  if (reasons.length) throw new ImportError("the PNG's workflow could not be imported", reasons);
  throw new ImportError("the PNG carries no workflow (no sluice.workflow, workflow or prompt text chunk)", [
    Object.keys(chunks).length ? `its text chunks are: ${Object.keys(chunks).join(", ")}` : "it has no text chunks",
  ]);
}

/** A file's bytes: a PNG (by its signature) or JSON text. */
export function importFile(bytes: Buffer, ctx: ImportContext): ImportResult {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return importPng(bytes, ctx);
  if (!bytes.length) throw new ImportError("the file is empty", ["send a workflow .json or a PNG that carries one"]);
  return importJsonText(bytes.toString("utf8"), ctx);
}
