// A model that takes seconds to load, seen in the editor: the node that waits on it shows what
// loads, its size and the seconds so far, so do the Queue panel's running prompt and the tab
// title, and all of it clears
// when the load ends and the run goes on to its image. The pack is real-small with a Stage C that
// ONNX Runtime takes seconds to build a session of (tools/fixtures/make_slow_load_prior.py).
import assert from "node:assert/strict";
import { cpSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { artifactPath, launchBrowser, loadWorkflow, openEditor, pageErrors, ROOT, startServer, type Server, type WorkflowLike } from "./harness.ts";

const FIXTURES = join(ROOT, "test", "fixtures");

function slowLoadWorkflow(): WorkflowLike {
  const wf = JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8")) as WorkflowLike;
  const set = (id: string, inputs: Record<string, unknown>) => Object.assign(wf.nodes.find((n) => n.id === id)!.inputs, inputs);
  for (const node of wf.nodes) if (node.type === "LoadCascadePack") node.inputs.pack = "slow-load";
  set("4", { width: 128, height: 128, compression: 32 });
  set("5", { steps: 2 });
  set("7", { steps: 1 });
  return wf;
}

describe("a model loading, in the editor", () => {
  let server: Server;
  let browser: Browser;
  let models: string;
  before(async () => {
    models = mkdtempSync(join(tmpdir(), "sluice-e2e-models-"));
    cpSync(join(FIXTURES, "real-packs", "real-small"), join(models, "slow-load"), { recursive: true });
    copyFileSync(join(FIXTURES, "packs", "slow-load", "prior.onnx"), join(models, "slow-load", "prior", "model.onnx"));
    server = await startServer({ extraArgs: ["--models", models, "--device", "cpu"] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(models, { recursive: true, force: true });
  });

  test("the node waiting on Stage C shows 'loading prior/model.onnx · size · seconds' until it has loaded, then the run finishes", async () => {
    const { context, page, errors } = await openEditor(browser, server.url);
    try {
      const wf = slowLoadWorkflow();
      await loadWorkflow(page, wf);
      await page.click('[data-testid="panel-queue"]');
      await page.click('[data-testid="queue-button"]');

      const loading = page.locator('[data-testid="node-loading"]').filter({ hasText: "prior/model.onnx" });
      await loading.waitFor({ timeout: 60_000 });
      assert.match(await loading.innerText(), /^loading prior\/model\.onnx · [\d.]+ MB · about \d+% · \d+ s$/);
      const nodeId = await loading.evaluate((el) => el.closest("[data-node-id]")!.getAttribute("data-node-id"));
      assert.ok(wf.nodes.some((n) => n.id === nodeId), `shown on node ${nodeId}`);
      assert.match(await page.title(), /\[loading model\]/);
      const queued = page.locator('[data-testid="queue-loading"]');
      await queued.waitFor({ timeout: 30_000 });
      assert.match(await queued.innerText(), /^loading prior\/model\.onnx · [\d.]+ MB · about \d+% · \d+ s$/);
      await page.screenshot({ path: artifactPath("model-loading.png") });
      // The seconds go on while ONNX Runtime builds the session (the server sends nothing then).
      await page.waitForFunction(() => /· [1-9]\d* s$/.test(document.querySelector('[data-testid="node-loading"]')?.textContent ?? ""), undefined, { timeout: 30_000 });

      // The image, or the run's error (named in the failure rather than a bare timeout).
      const image = page.locator('[data-node-id="9"] [data-testid="node-image"]');
      const failed = page.locator('[data-testid="toast"]', { hasText: "Run failed" });
      await image.or(failed).first().waitFor({ timeout: 180_000 });
      assert.equal(await failed.count(), 0, await failed.allInnerTexts().then((t) => t.join("; ")));
      assert.equal(await page.locator('[data-testid="node-loading"]').count(), 0);
      assert.equal(await page.locator('[data-testid="queue-loading"]').count(), 0);
      assert.doesNotMatch(await page.title(), /loading model/);
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });
});
