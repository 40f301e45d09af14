// Import of whole files: Sluice workflows pass through (migrated), PNGs give up the workflow in
// their tEXt chunks in order of preference, and what carries nothing usable is refused with reasons.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import sharp from "sharp";
import { addPngText, asciiJson } from "../../server/media/png.ts";
import { WORKFLOW_VERSION } from "../../nodes/schema.ts";
import { importFile, ImportError, importPng, importWorkflowValue, type ImportContext } from "../../server/import/index.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures", "comfyui");
const UI_TEXT = readFileSync(join(FIXTURES, "cascade-text-to-image.workflow.json"), "utf8");
const API_TEXT = readFileSync(join(FIXTURES, "cascade-text-to-image.prompt.json"), "utf8");
const TEMPLATE = JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8"));
const CTX: ImportContext = { packs: ["tiny"], defaultPack: "tiny" };

const blankPng = () => sharp({ create: { width: 8, height: 8, channels: 3, background: "#808080" } }).png().toBuffer();

describe("workflow file import", () => {
  it("passes a current Sluice workflow through unchanged, with no warnings", () => {
    const { workflow, warnings } = importWorkflowValue(TEMPLATE, CTX);
    assert.deepEqual(warnings, []);
    assert.deepEqual(workflow.nodes, TEMPLATE.nodes);
  });

  it("migrates an older Sluice workflow and says so", () => {
    const old = { format: "sluice.workflow", version: "0.1.0", nodes: { "1": { type: "Note", widgets: { text: "hi" } } } };
    const { workflow, warnings } = importWorkflowValue(old, CTX);
    assert.equal(workflow.version, WORKFLOW_VERSION);
    assert.deepEqual(workflow.nodes, [{ id: "1", type: "Note", inputs: { text: "hi" } }]);
    assert.deepEqual(warnings, [`migrated from format version 0.1.0 to ${WORKFLOW_VERSION}`]);
  });

  it("reads a PNG's sluice.workflow chunk before ComfyUI's workflow and prompt chunks", async () => {
    const png = addPngText(await blankPng(), { prompt: API_TEXT, workflow: UI_TEXT, "sluice.workflow": asciiJson(TEMPLATE) });
    assert.equal(importPng(png, CTX).workflow.name, "Text to image");
  });

  it("reads ComfyUI's workflow chunk (UI format) before its prompt chunk, keeping the big seed exact", async () => {
    const png = addPngText(await blankPng(), { prompt: API_TEXT, workflow: UI_TEXT });
    const { workflow } = importFile(png, CTX);
    assert.deepEqual(workflow.extra?.importedFrom, { app: "ComfyUI", format: "ui" });
    assert.equal(workflow.nodes.find((n) => n.id === "6")?.inputs.seed, "18446744073709551615");
  });

  it("falls back to the prompt chunk (API format)", async () => {
    const { workflow } = importPng(addPngText(await blankPng(), { prompt: API_TEXT }), CTX);
    assert.deepEqual(workflow.extra?.importedFrom, { app: "ComfyUI", format: "api" });
    assert.equal(workflow.nodes.find((n) => n.id === "6")?.inputs.seed, "18446744073709551615");
  });

  it("refuses a PNG without a workflow chunk, naming the chunks it looked for", async () => {
    const png = addPngText(await blankPng(), { Software: "GIMP" });
    assert.throws(() => importPng(png, CTX), (err: unknown) =>
      err instanceof ImportError && err.message === "the PNG carries no workflow (no sluice.workflow, workflow or prompt text chunk)" && /Software/.test(err.reasons[0]));
  });

  it("refuses bytes that are neither JSON nor a PNG, and JSON of no known format, with reasons", () => {
    assert.throws(() => importFile(Buffer.from("GIF89a garbage"), CTX), (err: unknown) => err instanceof ImportError && err.message === "the file is not JSON" && err.reasons.length === 1);
    assert.throws(() => importFile(Buffer.from('{"a": 1}'), CTX), (err: unknown) => err instanceof ImportError && err.message === "unknown workflow format" && err.reasons.length === 3);
    assert.throws(() => importWorkflowValue({ format: "sluice.workflow", version: "1.0.0", nodes: "x" }, CTX), (err: unknown) => err instanceof ImportError && /nodes/.test(err.reasons.join(" ")));
  });
});
