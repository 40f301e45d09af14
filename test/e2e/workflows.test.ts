// Browser tests of later editor features: the workflow library (issue 7) and gates (issue 6).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { imageChain } from "./fixtures.ts";
import { currentWorkflow, launchBrowser, loadWorkflow, nodeTypes, openEditor, startServer, type Server } from "./harness.ts";

let server: Server;
let browser: Browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

describe("workflows", () => {
  test("save to the library, reload, open it from the library, save a new version", async (t) => {
    if ((await fetch(`${server.url}/api/workflows`)).status === 404) { t.skip("no /api/workflows on this server"); return; }
    const { context, page } = await openEditor(browser, server.url);
    try {
      const wf = imageChain();
      wf.nodes[2]!.inputs.prefix = "from-library";
      await loadWorkflow(page, wf);
      await page.click('[data-testid="panel-library"]');
      await page.fill('[data-testid="library-name"]', "My chain");
      await page.click('[data-testid="library-save"]');
      await page.locator('[data-testid="library-item"]', { hasText: "My chain" }).waitFor();
      // A fresh tab (no local state) finds it in the library.
      const second = await openEditor(browser, server.url);
      try {
        await second.page.click('[data-testid="panel-library"]');
        await second.page.locator('[data-testid="library-item"] .lib-open', { hasText: "My chain" }).click();
        await second.page.locator('[data-node-id="3"]').waitFor();
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
      const list = (await (await fetch(`${server.url}/api/workflows`)).json()) as { name: string; version: number }[];
      assert.equal(list.find((e) => e.name === "My chain")?.version, 2);
    } finally {
      await context.close();
    }
  });

  test("a gate's preview appears on the Gate node and Continue finishes the run", async (t) => {
    if (!(await nodeTypes(server.url)).includes("Gate")) { t.skip("no Gate node on this server yet"); return; }
    const { context, page } = await openEditor(browser, server.url);
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
    } finally {
      await context.close();
    }
  });
});
