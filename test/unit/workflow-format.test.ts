// The workflow file: migration of older versions, schema errors, and workflows inside PNGs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sharp from "sharp";
import { addPngText, asciiJson, readPngText } from "../../server/media/png.ts";
import { WORKFLOW_VERSION } from "../../nodes/schema.ts";
import { parseWorkflow, WorkflowFormatError } from "../../server/engine/index.ts";

describe("workflow format", () => {
  it("migrates a 0.1.0 file (nodes keyed by id, widgets and links apart) to the current version", () => {
    const old = {
      format: "sluice.workflow",
      version: "0.1.0",
      nodes: {
        "1": { type: "EmptyImage", widgets: { width: 64, color: "#ff0000" }, pos: [10, 20] },
        "2": { type: "SaveImage", widgets: { prefix: "x" }, links: { image: ["1", "image"] } },
      },
    };
    const wf = parseWorkflow(old);
    assert.equal(wf.version, WORKFLOW_VERSION);
    assert.deepEqual(wf.nodes[0], { id: "1", type: "EmptyImage", inputs: { width: 64, color: "#ff0000" }, ui: { pos: [10, 20] } });
    assert.deepEqual(wf.nodes[1].inputs, { prefix: "x", image: { node: "1", output: "image" } });
  });

  it("refuses a file from a newer Sluice, saying so", () => {
    assert.throws(() => parseWorkflow({ format: "sluice.workflow", version: "99.0.0", nodes: [] }), /newer than this Sluice understands/);
  });

  it("names the field that is wrong", () => {
    assert.throws(() => parseWorkflow({ format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "1" }] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowFormatError);
      assert.match(err.message, /nodes\.0\.type/);
      return true;
    });
  });

  it("keeps seeds beyond 2^53 exact as decimal strings", () => {
    const wf = parseWorkflow({ format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "1", type: "X", inputs: { seed: "18446744073709551615" } }] });
    assert.equal(wf.nodes[0].inputs.seed, "18446744073709551615");
  });
});

describe("PNG text chunks", () => {
  it("carry a workflow that reads back equal, non-ASCII text included", async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#336699" } }).png().toBuffer();
    const workflow = { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "1", type: "TextEncode", inputs: { text: "un café, ein Bär, 猫 🐱" } }] };
    const withText = addPngText(png, { "sluice.workflow": asciiJson(workflow) });
    assert.deepEqual(JSON.parse(readPngText(withText)["sluice.workflow"]), workflow);
    const meta = await sharp(withText).metadata();
    assert.equal(meta.width, 4, "the PNG still decodes");
  });

  it("refuse a file that is not a PNG", () => {
    assert.throws(() => readPngText(Buffer.from("GIF89a....")), /not a PNG/);
  });
});
