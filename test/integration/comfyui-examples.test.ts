// Stable Cascade workflows as ComfyUI's examples build them (API format, written from ComfyUI's
// documented formats: test/fixtures/comfyui/*.api.json) import with no placeholder and run to an
// image on the tiny pack, once their images are uploaded. The checkpoints are the release's, so the
// import falls back to the tiny pack and scales the sizes to it.
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { importComfyUi } from "../../server/import/index.ts";
import { executeWorkflow, OutputCache } from "../../server/engine/index.ts";
import { createNodeHost } from "../../server/executor/node-host.ts";
import { packSize } from "../../server/runtime/pack-list.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures", "comfyui");
const ASSETS = join(ROOT, "templates", "assets");

describe("ComfyUI's Stable Cascade examples import and run on the tiny pack", () => {
  let dir: string;
  let host: Awaited<ReturnType<typeof createNodeHost>>;
  const cache = new OutputCache(64 * 1024 ** 2);
  const ctx = {
    packs: ["tiny"], defaultPack: "tiny",
    packStages: { tiny: ["textEncoder", "stageC", "stageB", "stageA", "effnet", "previewer", "clipVision"] },
    packSizes: { tiny: packSize(join(ROOT, "models", "tiny"))! },
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "sluice-comfy-examples-"));
    // "Uploading the images they name"
    for (const [name, asset] of [["example.png", "example-shapes.png"], ["first.png", "example-red-circle.png"], ["second.png", "example-blue-square.png"], ["hole.png", "example-inpaint.png"]]) copyFileSync(join(ASSETS, asset), join(dir, name));
    host = await createNodeHost({ outputsDir: dir, uploadsDir: dir, tempDir: dir, modelsDir: join(ROOT, "models"), device: "cpu" }, () => {});
  });
  after(async () => {
    await host.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const name of ["image-to-image", "image-remix-two-images", "canny-controlnet", "inpaint-controlnet", "outpaint"]) {
    it(`${name}: imports without placeholders and runs to a 64 × 64 image`, async () => {
      const { workflow, warnings } = importComfyUi(JSON.parse(readFileSync(join(FIXTURES, `${name}.api.json`), "utf8")), ctx);
      assert.deepEqual(workflow.nodes.filter((n) => n.placeholder).map((n) => n.type), [], warnings.join("\n"));
      assert.equal(warnings.some((w) => w.includes("will not run")), false, warnings.join("\n"));
      if (name !== "image-to-image" && name !== "outpaint" && name !== "inpaint-controlnet") {
        assert.ok(warnings.some((w) => /1024×1024 at compression 42\); scaled to pack 'tiny': 64×64 at compression 8/.test(w)), warnings.join("\n"));
      }
      const result = await executeWorkflow({ promptId: name, workflow, registry: host.registry, cache, services: host.servicesFor(name) });
      const out = Object.values(result.outputs).flatMap((o) => ((o as { images?: { width: number; height: number }[] }).images ?? []));
      assert.equal(out.length, 1, JSON.stringify(result.outputs));
      assert.deepEqual([out[0].width, out[0].height], [64, 64]);
    });
  }

  it("the canny example keeps its RescaleCFG and ModelSamplingStableCascade as the sampler's settings and previews through the websocket node", () => {
    const { workflow } = importComfyUi(JSON.parse(readFileSync(join(FIXTURES, "canny-controlnet.api.json"), "utf8")), ctx);
    const sampler = workflow.nodes.find((n) => n.id === "6")!;
    assert.deepEqual([sampler.inputs.shift, sampler.inputs.cfg_rescale], [2, 0.7]);
    assert.equal(workflow.nodes.find((n) => n.id === "10")!.type, "PreviewImage");
    assert.deepEqual(workflow.nodes.find((n) => n.id === "9")!.inputs.stage_a, { node: "17", output: "stage_a" });
  });
});
