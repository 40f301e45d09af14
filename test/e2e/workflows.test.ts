// Browser tests of the workflow library, gates, painting and the ComfyUI import in the editor.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { imageChain } from "./fixtures.ts";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, canRunCascade, currentWorkflow, loadWorkflow, nodeTypes, openEditor, pageErrors, serverAndBrowserForFile, type WorkflowLike } from "./harness.ts";

const env = serverAndBrowserForFile();

describe("workflows", () => {
  test("save to the library, reload, open it from the library, save a new version", async () => {
    assert.notEqual((await fetch(`${env.server.url}/api/workflows`)).status, 404, "the server has /api/workflows");
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      const wf = imageChain();
      wf.nodes[2]!.inputs.prefix = "from-library";
      await loadWorkflow(page, wf);
      await page.click('[data-testid="panel-library"]');
      await page.fill('[data-testid="library-name"]', "My chain");
      await page.click('[data-testid="library-save"]');
      await page.locator('[data-testid="library-item"]', { hasText: "My chain" }).waitFor();
      // A fresh tab (no local state) finds it in the library.
      const second = await openEditor(env.browser, env.server.url);
      try {
        await second.page.click('[data-testid="panel-library"]');
        await second.page.locator('[data-testid="library-item"] .lib-open', { hasText: "My chain" }).click();
        // The default graph has a node 3 too: wait for the library's (the one with a prefix).
        await second.page.locator('[data-node-id="3"] [data-input="prefix"]').waitFor();
        const opened = await currentWorkflow(second.page);
        assert.equal(opened.nodes.find((n) => n.id === "3")!.inputs.prefix, "from-library");
        // Edit and Ctrl+S: a new version of the same entry.
        await second.page.locator('[data-node-id="3"] [data-input="prefix"] input').fill("v2");
        await second.page.locator('[data-node-id="3"] .snode-title').click();
        await second.page.keyboard.press("Control+s");
        await second.page.locator('[data-testid="toast"]', { hasText: /version 2/ }).waitFor();
      } finally {
        await second.context.close();
      }
      const list = (await (await fetch(`${env.server.url}/api/workflows`)).json()) as { name: string; version: number }[];
      assert.equal(list.find((e) => e.name === "My chain")?.version, 2);
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("a gate's preview appears on the Gate node and Continue finishes the run", async () => {
    assert.ok((await nodeTypes(env.server.url)).includes("Gate"), "the server has the Gate node");
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, {
        format: "sluice.workflow", version: "1.0.0",
        nodes: [
          { id: "1", type: "EmptyImage", inputs: { width: 64, height: 64, batch: 1, color: "#22aa44" }, ui: { pos: [0, 0] } },
          { id: "2", type: "Gate", inputs: { value: { node: "1", output: "image" } }, ui: { pos: [340, 0] } },
          { id: "3", type: "SaveImage", inputs: { image: { node: "2", output: "value" }, prefix: "gated" }, ui: { pos: [680, 0] } },
        ],
      });
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="2"] [data-testid="gate-actions"]').waitFor({ timeout: 30000 });
      await page.locator('[data-node-id="2"] [data-testid="node-image"]').waitFor();
      await page.click('[data-node-id="2"] [data-testid="gate-continue"]');
      await page.locator('[data-node-id="3"] [data-testid="node-image"]').waitFor({ timeout: 30000 });
      await page.locator('[data-node-id="2"] [data-testid="gate-actions"]').waitFor({ state: "detached" });
      const first = await page.locator('[data-node-id="3"] [data-testid="node-image"]').getAttribute("src");
      // Again, with a reload while it waits: the gate comes back (with its preview) and can be
      // answered by painting over the image and continuing with the edit.
      await page.locator('[data-node-id="3"] [data-input="prefix"] input').fill("gated-2");
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="2"] [data-testid="gate-actions"]').waitFor({ timeout: 30000 });
      await page.reload();
      await page.waitForFunction(() => window.__sluice?.ready === true);
      await page.locator('[data-node-id="2"] [data-testid="gate-actions"]').waitFor({ timeout: 10000 });
      await page.locator('[data-node-id="2"] [data-testid="node-image"]').waitFor();
      await page.click('[data-node-id="2"] [data-testid="gate-edit"]');
      const canvas = page.locator('[data-testid="painter"] canvas');
      await canvas.waitFor();
      const box = (await canvas.boundingBox())!;
      await page.mouse.move(box.x + 5, box.y + 5);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width - 5, box.y + box.height - 5, { steps: 8 });
      await page.mouse.up();
      await page.click('[data-testid="paint-done"]');
      await page.locator('[data-node-id="3"] [data-testid="node-image"]').waitFor({ timeout: 30000 });
      await page.waitForFunction((old) => document.querySelector('[data-node-id="3"] [data-testid="node-image"]')?.getAttribute("src") !== old, first);
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("a Stage C gate's latent preview can be painted on and the run continues with the painted latent", async () => {
    assert.ok(await canRunCascade(env.server.url), "the server serves the cascade template and a pack");
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      const wf = (await (await fetch(`${env.server.url}/api/templates/gated-review`)).json()) as WorkflowLike;
      await loadWorkflow(page, wf);
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="10"] [data-testid="gate-actions"]').waitFor({ timeout: 30000 });
      await page.locator('[data-node-id="10"] [data-testid="node-image"]').waitFor();
      await page.click('[data-node-id="10"] [data-testid="gate-edit"]');
      const canvas = page.locator('[data-testid="painter"] canvas');
      await canvas.waitFor();
      assert.match((await page.locator('[data-testid="paint-done"]').textContent()) ?? "", /Continue with this latent/);
      const box = (await canvas.boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.8, { steps: 8 });
      await page.mouse.up();
      await page.click('[data-testid="paint-done"]');
      await page.locator('[data-node-id="9"] [data-testid="node-image"]').waitFor({ timeout: 30000 });
      await page.locator('[data-node-id="10"] [data-testid="gate-actions"]').waitFor({ state: "detached" });
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("make a component of selected nodes, run it, edit its definition", async () => {
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, imageChain());
      await page.locator('[data-node-id="1"] .snode-title').click();
      await page.locator('[data-node-id="2"] .snode-title').click({ modifiers: ["Control"] });
      page.once("dialog", (d) => void d.accept("Blue square"));
      await page.click('[data-testid="make-component"]');
      const instance = page.locator('[data-node-id][data-node-type^="component/"]');
      await instance.waitFor();
      await page.locator('[data-node-id="1"]').waitFor({ state: "detached" });
      let wf = await currentWorkflow(page) as unknown as { nodes: { id: string; type: string; inputs: Record<string, unknown> }[]; components: Record<string, { name: string; nodes: unknown[]; outputs: { name: string }[] }> };
      const inst = wf.nodes.find((n) => n.type.startsWith("component/"))!;
      const key = inst.type.slice("component/".length);
      assert.equal(wf.components[key]!.name, "Blue square");
      assert.equal(wf.components[key]!.nodes.length, 2);
      assert.deepEqual(wf.nodes.find((n) => n.id === "3")!.inputs.image, { node: inst.id, output: wf.components[key]!.outputs[0]!.name });
      // The server expands the instance and runs it like the flat graph.
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="3"] [data-testid="node-image"]').waitFor({ timeout: 30000 });
      // Edit: the instance unpacks into its nodes; saving the definition makes it an instance again.
      await page.click(`[data-node-id="${inst.id}"] [data-testid="component-edit"]`);
      await page.locator('[data-testid="component-editing"]').waitFor();
      await page.waitForFunction(() => !document.querySelector('[data-node-id][data-node-type^="component/"]'));
      await page.click('[data-testid="component-save"]');
      await instance.waitFor();
      wf = (await currentWorkflow(page)) as unknown as typeof wf;
      assert.deepEqual(Object.keys(wf.components), [key]);
      const again = wf.nodes.find((n) => n.type === `component/${key}`)!;
      assert.deepEqual(wf.nodes.find((n) => n.id === "3")!.inputs.image, { node: again.id, output: wf.components[key]!.outputs[0]!.name });
      // Ports: rename the output and expose an inner widget (the colour) on every instance.
      await page.click(`[data-node-id="${again.id}"] [data-testid="component-ports-button"]`);
      await page.locator('[data-testid="component-ports"]').waitFor();
      await page.locator('[data-testid="port-output-name"]').first().fill("picture");
      await page.locator('[data-testid="port-expose"]', { hasText: "color" }).click();
      await page.click('[data-testid="ports-save"]');
      await page.locator(`[data-node-id="${again.id}"] [data-input="color"] .w-color-text`).waitFor();
      wf = (await currentWorkflow(page)) as unknown as typeof wf;
      assert.deepEqual(wf.nodes.find((n) => n.id === "3")!.inputs.image, { node: again.id, output: "picture" }, "links follow a renamed port");
      await page.locator(`[data-node-id="${again.id}"] [data-input="color"] .w-color-text`).fill("#00ff00");
      await page.locator(`[data-node-id="${again.id}"] [data-input="color"] .w-color-text`).press("Enter");
      const oldSrc = await page.locator('[data-node-id="3"] [data-testid="node-image"]').getAttribute("src");
      await page.click('[data-testid="queue-button"]');
      await page.waitForFunction((old) => { const img = document.querySelector('[data-node-id="3"] [data-testid="node-image"]'); return img && img.getAttribute("src") !== old; }, oldSrc, { timeout: 30000 });
      // Save it to the library and insert it into an empty canvas.
      await page.locator(`[data-node-id="${again.id}"] .snode-title`).click({ button: "right" });
      await page.locator('[data-testid="context-menu"] button', { hasText: "Save component to library" }).click();
      await page.locator('[data-testid="toast"]', { hasText: /Saved component/ }).waitFor();
      await loadWorkflow(page, { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "1", type: "Note", inputs: { text: "empty" }, ui: { pos: [0, 0] } }] });
      await page.click('[data-testid="panel-library"]');
      const item = page.locator('[data-testid="library-item"]', { hasText: "Blue square" });
      await item.locator("button", { hasText: "Insert" }).click();
      await page.locator(`[data-node-id][data-node-type="component/${key}"]`).waitFor();
      const inserted = (await currentWorkflow(page)) as unknown as typeof wf;
      assert.equal(inserted.components[key]!.name, "Blue square");
      // Undo walks back through the insert.
      await page.keyboard.press("Control+z");
      await page.waitForFunction(() => !document.querySelector('[data-node-id][data-node-type^="component/"]'));
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("a mask is painted for a paint input", async () => {
    assert.ok((await nodeTypes(env.server.url)).includes("MaskFromPreview"), "the server has the MaskFromPreview node");
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "1", type: "MaskFromPreview", inputs: { mask: "", invert: false }, ui: { pos: [0, 0] } }] });
      await page.click('[data-node-id="1"] [data-testid="paint-open"]');
      const canvas = page.locator('[data-testid="painter"] canvas');
      await canvas.waitFor();
      const box = (await canvas.boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.5);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.5, { steps: 8 });
      await page.mouse.up();
      await page.click('[data-testid="paint-done"]');
      await page.locator('[data-testid="painter"]').waitFor({ state: "detached" });
      const wf = await currentWorkflow(page);
      assert.match(String(wf.nodes[0]!.inputs.mask), /^data:image\/png;base64,/);
      await page.locator('[data-node-id="1"] .w-paint-thumb img').waitFor();
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("a ComfyUI workflow opened from a file is imported onto the canvas", async () => {
    const fixture = join(ROOT, "test/fixtures/comfyui/cascade-text-to-image.workflow.json");
    assert.ok(existsSync(fixture), `the ComfyUI fixture ${fixture} exists`);
    const probe = await fetch(`${env.server.url}/api/workflows/import`, { method: "POST", headers: { "content-type": "application/json" }, body: readFileSync(fixture) });
    assert.notEqual(probe.status, 404, "the server has the importer (/api/workflows/import)");
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      await page.locator('.toolbar input[type="file"]').setInputFiles(fixture);
      await page.locator('[data-testid="toast"]', { hasText: /Imported/ }).first().waitFor();
      await page.locator('[data-node-id][data-node-type="CascadeSampler"]').first().waitFor();
      const wf = await currentWorkflow(page);
      assert.ok(wf.nodes.some((n) => n.type === "SaveImage"));
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("an import lists the outputs that will not run and why, and marks those nodes", async () => {
    // ComfyUI's API format: a custom conditioning node the importer cannot map feeds the sampler.
    const prompt = {
      "1": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "stable_cascade_stage_c.safetensors" } },
      "2": { class_type: "CLIPTextEncode", inputs: { text: "a cat", clip: ["1", 1] } },
      "3": { class_type: "StableCascade_EmptyLatentImage", inputs: { width: 64, height: 64, compression: 8, batch_size: 1 } },
      "4": { class_type: "KSampler", inputs: { seed: 7, steps: 4, cfg: 4, sampler_name: "euler", scheduler: "simple", denoise: 1, model: ["1", 0], positive: ["9", 0], negative: ["2", 0], latent_image: ["3", 0] } },
      "9": { class_type: "SomeCustomConditioning", inputs: { conditioning: ["2", 0] } },
      "10": { class_type: "VAEDecode", inputs: { samples: ["4", 0], vae: ["1", 2] } },
      "11": { class_type: "SaveImage", inputs: { filename_prefix: "x", images: ["10", 0] } },
    };
    const dir = mkdtempSync(join(tmpdir(), "sluice-blocked-"));
    const file = join(dir, "custom-conditioning.json");
    writeFileSync(file, JSON.stringify(prompt));
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      await page.locator('.toolbar input[type="file"]').setInputFiles(file);
      const banner = page.locator('[data-testid="blocked-outputs"]');
      await banner.waitFor();
      assert.match(await banner.innerText(), /1 output of the imported workflow will not run/);
      const item = banner.locator('[data-testid="blocked-output"]');
      assert.equal(await item.count(), 1);
      assert.equal(await item.getAttribute("data-node"), "11");
      assert.match(await item.innerText(), /node 11: .*SomeCustomConditioning.*could not be mapped/);
      const badge = page.locator('[data-node-id="11"] [data-testid="blocked-badge"]');
      await badge.waitFor();
      assert.match(String(await badge.getAttribute("title")), /^Will not run: .*SomeCustomConditioning/);
      assert.equal(await page.locator('[data-testid="blocked-badge"]').count(), 1, "only the blocked output is marked");
      await page.click('[data-testid="blocked-dismiss"]');
      await banner.waitFor({ state: "detached" });
      assert.equal(await badge.count(), 1, "the node keeps its mark after the banner is dismissed");
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
