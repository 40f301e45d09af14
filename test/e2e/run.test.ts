// Browser tests of running and watching: queue, progress, previews, final image, cache badges,
// history gallery, and a screenshot of the canvas after a run (test-artifacts/).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Page } from "playwright-core";
import { imageChain } from "./fixtures.ts";
import { artifactPath, canRunCascade, currentWorkflow, pageErrors, loadWorkflow, nodeTypes, openEditor, serverAndBrowserForFile, type WorkflowLike } from "./harness.ts";

const env = serverAndBrowserForFile();

/** Records what the page showed while running: statuses, progress, images per node. */
async function watch(page: Page) {
  // A string, not a function: tsx's name helpers do not exist inside the page.
  await page.evaluate(`(() => {
    const seen = { running: [], progress: [], images: [] };
    window.__seen = seen;
    new MutationObserver(() => {
      for (const el of document.querySelectorAll("[data-node-id]")) {
        const id = el.getAttribute("data-node-id");
        if (el.dataset.status === "running" && !seen.running.includes(id)) seen.running.push(id);
        const bar = el.querySelector(".snode-progress > div");
        const m = bar && bar.style.transform.match(/scaleX\\(([\\d.]+)\\)/);
        if ((el.querySelector(".badge.step") || (m && Number(m[1]) > 0 && el.dataset.status === "running")) && !seen.progress.includes(id)) seen.progress.push(id);
        if (el.querySelector('[data-testid="node-image"]') && !seen.images.includes(id)) seen.images.push(id);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status", "style", "src"] });
  })()`);
  return () => page.evaluate(() => (window as unknown as { __seen: { running: string[]; progress: string[]; images: string[] } }).__seen);
}

describe("running and watching", () => {
  test("editing the prompt and queueing shows progress, a preview and then the final image on the Save node", async () => {
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      // The cascade when the server has its template and a model pack; image nodes otherwise.
      const cascade = await canRunCascade(env.server.url);
      if (!cascade) await loadWorkflow(page, imageChain());
      const wf = await currentWorkflow(page);
      const save = wf.nodes.find((n) => n.type === "SaveImage");
      assert.ok(save, "the graph has a Save node");
      if (cascade) {
        const encoder = wf.nodes.find((n) => n.type === "TextEncode")!;
        const prompt = page.locator(`[data-node-id="${encoder.id}"] textarea`).first();
        await prompt.fill("a red circle on a blue background");
      } else {
        await page.locator('[data-node-id="1"] [data-input="color"] .w-color-text').fill("#cc3322");
        await page.locator('[data-node-id="1"] [data-input="color"] .w-color-text').press("Enter");
      }
      // Seed "after run: increment" on the first sampler (cascade only).
      const firstSampler = cascade ? wf.nodes.find((n) => n.type === "CascadeSampler") : undefined;
      if (firstSampler) await page.locator(`[data-node-id="${firstSampler.id}"] [data-input="seed"] .w-seed-after select`).selectOption("increment");
      const seedBefore = firstSampler ? Number((await currentWorkflow(page)).nodes.find((n) => n.id === firstSampler.id)!.inputs.seed) : 0;
      const seen = await watch(page);
      const started = Date.now();
      await page.click('[data-testid="queue-button"]');
      const img = page.locator(`[data-node-id="${save.id}"] [data-testid="node-image"]`);
      await img.waitFor({ timeout: 60000 });
      await page.waitForFunction((id) => (document.querySelector(`[data-node-id="${id}"] [data-testid="node-image"]`) as HTMLImageElement | null)?.complete, save.id);
      const elapsed = Date.now() - started;
      const src = await img.getAttribute("src");
      assert.match(src ?? "", /\/api\/view\?file=/);
      const res = await fetch(`${env.server.url}${src}`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /image\//);
      const s = await seen();
      assert.ok(s.running.length > 0, "some node was highlighted as running");
      if (cascade) {
        const samplers = wf.nodes.filter((n) => n.type === "CascadeSampler").map((n) => n.id);
        assert.ok(samplers.some((id) => s.progress.includes(id)), `progress shown on a sampler (seen on ${s.progress.join(",")})`);
        for (const id of samplers) assert.ok(s.images.includes(id), `a live preview shown on sampler ${id} (seen on ${s.images.join(",")})`);
        assert.ok(elapsed < 10000, `the cascade finished in ${elapsed} ms (under ten seconds)`);
        const seedAfter = Number((await currentWorkflow(page)).nodes.find((n) => n.id === firstSampler!.id)!.inputs.seed);
        assert.equal(seedAfter, seedBefore + 1, "the seed was incremented after the prompt was queued");
        // The editor state reflects the prompt edit that was queued.
        const queued = await currentWorkflow(page);
        assert.equal(queued.nodes.find((n) => n.type === "TextEncode")!.inputs[Object.keys(queued.nodes.find((n) => n.type === "TextEncode")!.inputs).find((k) => typeof queued.nodes.find((n) => n.type === "TextEncode")!.inputs[k] === "string" && /red circle/.test(String(queued.nodes.find((n) => n.type === "TextEncode")!.inputs[k])))!], "a red circle on a blue background");
      }
      // Done: no node stays highlighted, the Save node is marked done.
      await page.waitForFunction(() => !document.querySelector('[data-status="running"]'));
      assert.equal(await page.locator(`[data-node-id="${save.id}"]`).getAttribute("data-status"), "done");
      await page.screenshot({ path: artifactPath("canvas-after-run.png") });
      console.log(`# run finished in ${elapsed} ms (${cascade ? "cascade template" : "image nodes"})`);
      // Click to enlarge; the lightbox links the full image.
      await img.click();
      await page.locator('[data-testid="lightbox"]').waitFor();
      assert.match((await page.locator('[data-testid="open-full"]').getAttribute("href")) ?? "", /\/api\/view\?file=/);
      await page.keyboard.press("Escape");
      await page.locator('[data-testid="lightbox"]').waitFor({ state: "detached" });
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("queueing the same graph again marks cached nodes; history loads the workflow of a run", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      const wf = imageChain();
      wf.nodes[2]!.inputs.prefix = "history-test";
      await loadWorkflow(page, wf);
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="3"] [data-testid="node-image"]').waitFor({ timeout: 30000 });
      await page.waitForFunction(() => !document.querySelector('[data-status="running"]'));
      await page.click('[data-testid="queue-button"]');
      // The output comes from the cache, so its sources are not even visited.
      await page.locator('[data-node-id="3"] [data-testid="cached-badge"]').waitFor({ timeout: 30000 });
      // History: the run is listed; clicking it loads its workflow (replacing the canvas).
      await loadWorkflow(page, { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "9", type: "Note", inputs: { text: "scratch" }, ui: { pos: [0, 0] } }] });
      await page.click('[data-testid="panel-history"]');
      const item = page.locator('[data-testid="history-item"]').first();
      await item.waitFor({ timeout: 10000 });
      await item.click();
      await page.locator('[data-node-id="3"]').waitFor();
      const loaded = await currentWorkflow(page);
      assert.equal(loaded.nodes.find((n) => n.id === "3")!.inputs.prefix, "history-test");
      // Queue panel opens and lists nothing running now.
      await page.click('[data-testid="panel-queue"]');
      await page.locator('[data-testid="side-queue"]').waitFor();
      await page.click('[data-testid="panel-system"]');
      await page.locator('[data-testid="system-device"]').waitFor();
    } finally {
      await context.close();
    }
  });

  test("a run-time error appears on the failing node", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, {
        format: "sluice.workflow", version: "1.0.0",
        nodes: [
          { id: "1", type: "EmptyImage", inputs: { width: 64, height: 64, batch: 1, color: "#000000" }, ui: { pos: [0, 0] } },
          { id: "2", type: "EmptyImage", inputs: { width: 32, height: 32, batch: 1, color: "#ffffff" }, ui: { pos: [0, 300] } },
          { id: "3", type: "ImageBlend", inputs: { a: { node: "1", output: "image" }, b: { node: "2", output: "image" }, factor: 0.5, mode: "normal" }, ui: { pos: [340, 0] } },
          { id: "4", type: "SaveImage", inputs: { image: { node: "3", output: "image" }, prefix: "err" }, ui: { pos: [680, 0] } },
        ],
      });
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="3"][data-status="error"]').waitFor({ timeout: 30000 });
      const message = await page.locator('[data-node-id="3"] [data-testid="node-error"]').textContent();
      assert.ok(message && message.length > 5, `the node shows the message (${message})`);
      await page.locator('[data-testid="toast"]', { hasText: /failed/i }).first().waitFor();
    } finally {
      await context.close();
    }
  });

  test("an image uploaded on Load Image or dropped on the canvas shows its thumbnail", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      // Any PNG will do: make one with the server.
      const made = await fetch(`${env.server.url}/api/prompt`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ workflow: { format: "sluice.workflow", version: "1.0.0", nodes: [
          { id: "1", type: "EmptyImage", inputs: { width: 48, height: 40, batch: 1, color: "#aa8800" } },
          { id: "2", type: "SaveImage", inputs: { image: { node: "1", output: "image" }, prefix: "upload-src" } },
        ] } }),
      });
      const { promptId } = (await made.json()) as { promptId: string };
      let file = "";
      for (let i = 0; i < 100 && !file; i++) {
        const entry = (await (await fetch(`${env.server.url}/api/history/${promptId}`)).json()) as { outputs?: Record<string, { images?: { file: string }[] }> };
        file = entry.outputs?.["2"]?.images?.[0]?.file ?? "";
        if (!file) await new Promise((r) => setTimeout(r, 100));
      }
      const png = Buffer.from(await (await fetch(`${env.server.url}/api/view?file=${encodeURIComponent(file)}`)).arrayBuffer());
      await loadWorkflow(page, { format: "sluice.workflow", version: "1.0.0", nodes: [{ id: "1", type: "LoadImage", inputs: { image: "" }, ui: { pos: [0, 0] } }] });
      await page.locator('[data-node-id="1"] input[type="file"]').setInputFiles({ name: "mine.png", mimeType: "image/png", buffer: png });
      const thumb = page.locator('[data-node-id="1"] .w-upload-thumb img');
      await thumb.waitFor();
      const wf = await currentWorkflow(page);
      const name = String(wf.nodes[0]!.inputs.image);
      assert.ok(name.length > 0, "the node holds the uploaded name");
      assert.match((await thumb.getAttribute("src")) ?? "", new RegExp(encodeURIComponent(name).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
      // Dropping a plain image on empty canvas adds a Load Image node holding it.
      const drop = (pngBase64: string | null) => page.evaluate(`(async () => {
        let blob;
        if (${JSON.stringify(pngBase64)}) blob = new Blob([Uint8Array.from(atob(${JSON.stringify(pngBase64)}), (c) => c.charCodeAt(0))], { type: "image/png" });
        else {
          const c = document.createElement("canvas");
          c.width = 40; c.height = 30;
          const g = c.getContext("2d"); g.fillStyle = "#3399ff"; g.fillRect(0, 0, 40, 30);
          blob = await new Promise((r) => c.toBlob(r, "image/png"));
        }
        const dt = new DataTransfer();
        dt.items.add(new File([blob], "dropped.png", { type: "image/png" }));
        const pane = document.querySelector(".react-flow__pane");
        const r = pane.getBoundingClientRect();
        const at = { clientX: r.left + r.width * 0.7, clientY: r.top + r.height * 0.7, bubbles: true, cancelable: true, dataTransfer: dt };
        pane.dispatchEvent(new DragEvent("dragover", at));
        pane.dispatchEvent(new DragEvent("drop", at));
      })()`);
      await drop(null);
      await page.locator('[data-node-id][data-node-type="LoadImage"]').nth(1).locator(".w-upload-thumb img").waitFor();
      // A PNG made by Sluice carries its workflow: dropping it restores the graph that made it.
      await drop(png.toString("base64"));
      await page.locator('[data-node-id="2"][data-node-type="SaveImage"]').waitFor();
      const restored = await currentWorkflow(page);
      assert.equal(restored.nodes.find((n) => n.id === "2")!.inputs.prefix, "upload-src");
    } finally {
      await context.close();
    }
  });

  test("branching: several results side by side, picking one keeps its seed", async () => {
    assert.ok(await canRunCascade(env.server.url), "the server serves the cascade template and a pack");
    assert.ok((await nodeTypes(env.server.url)).includes("BranchSeeds"), "the server has the BranchSeeds node");
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      const wf = (await (await fetch(`${env.server.url}/api/templates/text-to-image`)).json()) as WorkflowLike;
      const latent = wf.nodes.find((n) => n.type === "EmptyCascadeLatent")!;
      const stageB = wf.nodes.filter((n) => n.type === "CascadeSampler")[1]!;
      const save = wf.nodes.find((n) => n.type === "SaveImage")!;
      wf.nodes.push({ id: "branch", type: "BranchSeeds", inputs: { latent: { node: latent.id, output: "stage_b" }, seed: 0, count: 1, seeds: "5, 6" }, ui: { pos: [900, 700] } });
      stageB.inputs.latent = { node: "branch", output: "latent" };
      await loadWorkflow(page, wf);
      await page.click('[data-testid="queue-button"]');
      const thumbs = page.locator(`[data-node-id="${save.id}"] .snode-thumbs img`);
      await page.waitForFunction((id) => document.querySelectorAll(`[data-node-id="${id}"] .snode-thumbs img`).length === 2, save.id, { timeout: 60000 });
      await thumbs.nth(1).click();
      await page.click(`[data-node-id="${save.id}"] [data-testid="keep-seed"]`);
      const after = await currentWorkflow(page);
      assert.equal(after.nodes.find((n) => n.id === "branch")!.inputs.seeds, "6");
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("queue panel: running and pending prompts, cancel one, clear all", async () => {
    assert.ok(await canRunCascade(env.server.url), "the server serves the cascade template and a pack (runs slow enough to queue up)");
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      await page.click('[data-testid="panel-queue"]');
      // Long Stage C runs, so prompts are still pending when the panel is used (runs are fast).
      const slowWf = await currentWorkflow(page);
      for (const n of slowWf.nodes) if (n.type === "CascadeSampler" && n.inputs.model && (n.inputs.model as { output?: string }).output === "stage_c") n.inputs.steps = 400;
      await loadWorkflow(page, slowWf);
      const wf = await currentWorkflow(page);
      const encoder = wf.nodes.find((n) => n.type === "TextEncode")!;
      // Different prompts, so nothing is served from the cache.
      for (let i = 0; i < 4; i++) {
        await page.locator(`[data-node-id="${encoder.id}"] textarea`).first().fill(`queue test ${i}`);
        await page.click('[data-testid="queue-button"]');
        await page.waitForTimeout(150);
      }
      const pending = page.locator('[data-testid="side-queue"] .q-item.pending');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="side-queue"] .q-item.pending').length >= 2, undefined, { timeout: 10000 });
      const before = await pending.count();
      await pending.first().locator("button").click();
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="side-queue"] .q-item.pending').length < n, before);
      await page.click('[data-testid="queue-clear"]');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="side-queue"] .q-item.pending').length === 0);
      // Stop interrupts the running one (if it has not finished meanwhile).
      const stop = page.locator('[data-testid="stop-button"]');
      if (await stop.isEnabled()) {
        await stop.click();
        await page.waitForFunction(() => !document.querySelector('[data-status="running"]'), undefined, { timeout: 15000 });
      }
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });
});
