// Browser tests of the editor canvas: rendering, connections, palette, undo, clipboard, persistence.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Page } from "playwright-core";
import { imageChain } from "./fixtures.ts";
import {
  currentWorkflow, dragLink, handleCenter, hasTemplate, loadWorkflow, openEditor, pageErrors, serverAndBrowserForFile,
} from "./harness.ts";

const env = serverAndBrowserForFile();

async function withEditor(fn: (page: Page, errors: string[]) => Promise<void>) {
  const { context, page, errors } = await openEditor(env.browser, env.server.url);
  try {
    await fn(page, errors);
    assert.deepEqual(pageErrors(errors), [], "no errors in the page");
  } finally {
    await context.close();
  }
}

async function toastText(page: Page, re: RegExp): Promise<string> {
  const toast = page.locator('[data-testid="toast"]', { hasText: re }).first();
  await toast.waitFor({ timeout: 5000 });
  return (await toast.textContent()) ?? "";
}

/** A point on empty canvas (no node, frame or panel under it). */
async function emptySpot(page: Page): Promise<{ x: number; y: number }> {
  return page.evaluate(() => {
    for (let y = 700; y > 80; y -= 40) {
      for (let x = 300; x < 1000; x += 40) {
        const el = document.elementFromPoint(x, y);
        if (el?.classList.contains("react-flow__pane")) return { x, y };
      }
    }
    throw new Error("no empty canvas spot");
  });
}

describe("editor canvas", () => {
  test("the default graph renders with all its nodes", async () => {
    await withEditor(async (page) => {
      assert.ok(await hasTemplate(env.server.url, "text-to-image"), "the server serves the text-to-image template");
      const tpl = (await (await fetch(`${env.server.url}/api/templates/text-to-image`)).json()) as { nodes: { id: string; type: string }[]; groups?: { title: string }[] };
      for (const n of tpl.nodes) {
        const el = page.locator(`[data-node-id="${n.id}"]`);
        await el.waitFor({ timeout: 10000 });
        assert.equal(await el.getAttribute("data-node-type"), n.type);
      }
      assert.equal(await page.locator("[data-node-id]").count(), tpl.nodes.length);
      for (const g of tpl.groups ?? []) await page.locator(`[data-group-title="${g.title}"]`).waitFor();
      // Laid out left to right: every link goes rightwards.
      const laidOut = await currentWorkflow(page);
      const pos = new Map(laidOut.nodes.map((n) => [n.id, (n.ui?.pos as [number, number])[0]]));
      for (const n of laidOut.nodes) {
        for (const v of Object.values(n.inputs)) {
          if (v && typeof v === "object" && "node" in v) assert.ok(pos.get((v as { node: string }).node)! < pos.get(n.id)!, `link into ${n.id} runs right to left`);
        }
      }
      // Any workflow renders every node with its type, and groups as frames.
      const wf = imageChain();
      await loadWorkflow(page, wf);
      for (const n of wf.nodes) assert.equal(await page.locator(`[data-node-id="${n.id}"]`).getAttribute("data-node-type"), n.type);
      await page.locator('[data-group-title="Make"]').waitFor();
      // A node type the server does not know is kept as a placeholder, links and all.
      const withUnknown = imageChain();
      withUnknown.nodes[1]!.type = "RetiredScaler";
      await loadWorkflow(page, withUnknown);
      await page.locator('[data-node-id="2"][data-node-type="RetiredScaler"]').waitFor();
      assert.equal(await page.locator(".react-flow__edge").count(), 2);
      const back = await currentWorkflow(page);
      assert.equal(back.nodes.find((n) => n.id === "2")!.type, "RetiredScaler");
      assert.deepEqual(back.nodes.find((n) => n.id === "3")!.inputs.image, { node: "2", output: "image" });
    });
  });

  test("an incompatible connection is refused with a reason", async () => {
    await withEditor(async (page) => {
      await loadWorkflow(page, imageChain());
      // LoadImage.mask (MASK) → ImageScale.image (IMAGE): type mismatch.
      await dragLink(page, await handleCenter(page, "4", "source", "mask"), await handleCenter(page, "2", "target", "image"));
      const text = await toastText(page, /mismatch/i);
      assert.match(text, /MASK/);
      let wf = await currentWorkflow(page);
      assert.deepEqual(wf.nodes.find((n) => n.id === "2")!.inputs.image, { node: "1", output: "image" });
      // ImageScale.image ← SaveImage? SaveImage has no outputs; make a cycle with a second scale node instead.
      await loadWorkflow(page, {
        format: "sluice.workflow", version: "1.0.0",
        nodes: [
          { id: "1", type: "EmptyImage", inputs: { width: 64, height: 64, batch: 1, color: "#000000" }, ui: { pos: [0, 0] } },
          { id: "2", type: "ImageBlend", inputs: { a: { node: "1", output: "image" }, factor: 0.5, mode: "normal" }, ui: { pos: [340, 0] } },
          { id: "3", type: "ImageScale", inputs: { image: { node: "2", output: "image" }, width: 64, height: 64, method: "nearest" }, ui: { pos: [680, 0] } },
        ],
      });
      await dragLink(page, await handleCenter(page, "3", "source", "image"), await handleCenter(page, "2", "target", "b"));
      await toastText(page, /cycle/i);
      wf = await currentWorkflow(page);
      assert.equal(wf.nodes.find((n) => n.id === "2")!.inputs.b, undefined);
      // Connecting into an input that is already linked replaces the old link, and says so.
      await dragLink(page, await handleCenter(page, "1", "source", "image"), await handleCenter(page, "3", "target", "image"));
      await toastText(page, /replaced/i);
      wf = await currentWorkflow(page);
      assert.deepEqual(wf.nodes.find((n) => n.id === "3")!.inputs.image, { node: "1", output: "image" });
    });
  });

  test("the palette adds a node by search", async () => {
    await withEditor(async (page) => {
      await loadWorkflow(page, imageChain());
      const spot = await emptySpot(page);
      await page.mouse.dblclick(spot.x, spot.y);
      const search = page.locator('[data-testid="palette-search"]');
      await search.waitFor();
      await search.fill("scale");
      await page.locator('[data-testid="palette-item"][data-node-type="ImageScale"]').first().waitFor();
      await page.keyboard.press("Enter");
      await page.locator('[data-node-id][data-node-type="ImageScale"]').nth(1).waitFor();
      assert.equal(await page.locator('[data-node-id][data-node-type="ImageScale"]').count(), 2);
      // Keyboard: Ctrl+K, fuzzy query, arrow keys, Enter.
      await page.mouse.move(spot.x, spot.y);
      await page.keyboard.press("Control+k");
      await search.waitFor();
      await search.fill("img blnd");
      const first = page.locator('[data-testid="palette-item"]').first();
      assert.equal(await first.getAttribute("data-node-type"), "ImageBlend");
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("ArrowUp");
      await page.keyboard.press("Enter");
      await page.locator('[data-node-id][data-node-type="ImageBlend"]').waitFor();
    });
  });

  test("dropping a link on empty canvas offers compatible nodes and wires the chosen one", async () => {
    await withEditor(async (page) => {
      await loadWorkflow(page, imageChain());
      const from = await handleCenter(page, "4", "source", "image");
      const spot = await emptySpot(page);
      await dragLink(page, from, spot);
      const search = page.locator('[data-testid="palette-search"]');
      await search.waitFor();
      const types = await page.locator('[data-testid="palette-item"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-node-type")));
      assert.ok(types.includes("SaveImage") && types.includes("ImageScale"), `compatible nodes offered: ${types.join(",")}`);
      assert.ok(!types.includes("EmptyImage") && !types.includes("LoadImage"), "nodes without an IMAGE input are filtered out");
      await search.fill("preview");
      await page.locator('[data-testid="palette-item"][data-node-type="PreviewImage"]').first().waitFor();
      assert.equal(await page.locator('[data-testid="palette-item"]').first().getAttribute("data-node-type"), "PreviewImage");
      await page.keyboard.press("Enter");
      await page.locator('[data-node-id][data-node-type="PreviewImage"]').waitFor();
      const wf = await currentWorkflow(page);
      const preview = wf.nodes.find((n) => n.type === "PreviewImage")!;
      assert.deepEqual(preview.inputs.image, { node: "4", output: "image" });
    });
  });

  test("undo restores a deleted node, redo deletes it again", async () => {
    await withEditor(async (page) => {
      await loadWorkflow(page, imageChain());
      await page.locator('[data-node-id="2"] .snode-title').click();
      await page.keyboard.press("Delete");
      await page.locator('[data-node-id="2"]').waitFor({ state: "detached" });
      let wf = await currentWorkflow(page);
      assert.equal(wf.nodes.find((n) => n.id === "3")!.inputs.image, undefined, "the link went with the node");
      await page.keyboard.press("Control+z");
      await page.locator('[data-node-id="2"]').waitFor();
      wf = await currentWorkflow(page);
      assert.deepEqual(wf.nodes.find((n) => n.id === "3")!.inputs.image, { node: "2", output: "image" }, "links are restored too");
      await page.keyboard.press("Control+Shift+z");
      await page.locator('[data-node-id="2"]').waitFor({ state: "detached" });
    });
  });

  test("copy and paste nodes (as workflow JSON), duplicate, and restore after reload", async () => {
    await withEditor(async (page) => {
      await loadWorkflow(page, imageChain());
      await page.locator('[data-node-id="1"] .snode-title').click();
      await page.locator('[data-node-id="2"] .snode-title').click({ modifiers: ["Control"] });
      await page.keyboard.press("Control+c");
      const clip = await page.evaluate(() => localStorage.getItem("sluice.clipboard"));
      assert.ok(clip && JSON.parse(clip).format === "sluice.workflow");
      const spot = await emptySpot(page);
      await page.mouse.move(spot.x, spot.y);
      await page.keyboard.press("Control+v");
      await page.waitForFunction(() => document.querySelectorAll('[data-node-type="EmptyImage"]').length === 2);
      let wf = await currentWorkflow(page);
      const scales = wf.nodes.filter((n) => n.type === "ImageScale");
      assert.equal(scales.length, 2);
      const pastedScale = scales.find((n) => n.id !== "2")!;
      const pastedEmpty = wf.nodes.find((n) => n.type === "EmptyImage" && n.id !== "1")!;
      assert.deepEqual(pastedScale.inputs.image, { node: pastedEmpty.id, output: "image" }, "links inside the copied set are kept");
      // Another tab of the same browser pastes the same nodes.
      const other = await page.context().newPage();
      await other.goto(env.server.url);
      await other.waitForFunction(() => window.__sluice?.ready === true);
      const before = await other.locator('[data-node-id][data-node-type="EmptyImage"]').count();
      const pane = await emptySpot(other);
      await other.mouse.move(pane.x, pane.y);
      await other.keyboard.press("Control+v");
      await other.waitForFunction((n) => document.querySelectorAll('[data-node-id][data-node-type="EmptyImage"]').length === n + 1, before);
      await other.close();
      // Duplicate (Ctrl+D) the pasted selection.
      await page.keyboard.press("Control+d");
      await page.waitForFunction(() => document.querySelectorAll('[data-node-type="EmptyImage"]').length === 3);
      // Edit a widget, reload: the last edited workflow comes back.
      await page.locator('[data-node-id="3"] [data-input="prefix"] input').fill("kept-after-reload");
      await page.waitForTimeout(600);
      wf = await currentWorkflow(page);
      await page.reload();
      await page.waitForFunction(() => window.__sluice?.ready === true);
      await page.locator('[data-node-id="3"]').waitFor();
      const after = await currentWorkflow(page);
      assert.equal(after.nodes.length, wf.nodes.length);
      assert.equal(after.nodes.find((n) => n.id === "3")!.inputs.prefix, "kept-after-reload");
    });
  });

  test("widgets: drag and type numbers within their range, toggle, combo; collapse keeps links", async () => {
    await withEditor(async (page) => {
      await loadWorkflow(page, imageChain());
      const width = page.locator('[data-node-id="1"] [data-input="width"] .w-num');
      const box = (await width.boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2 + 60, box.y + box.height / 2, { steps: 6 });
      await page.mouse.up();
      let wf = await currentWorkflow(page);
      const dragged = wf.nodes.find((n) => n.id === "1")!.inputs.width as number;
      assert.ok(dragged > 64 && dragged % 8 === 0, `dragging right raised the width in steps of 8 (${dragged})`);
      // Click to type; values are clamped to the input's range.
      await width.click();
      await page.locator('[data-node-id="1"] [data-input="width"] input').fill("100000");
      await page.keyboard.press("Enter");
      wf = await currentWorkflow(page);
      assert.equal(wf.nodes.find((n) => n.id === "1")!.inputs.width, 8192);
      await page.locator('[data-node-id="2"] [data-input="method"] select').selectOption("nearest");
      wf = await currentWorkflow(page);
      assert.equal(wf.nodes.find((n) => n.id === "2")!.inputs.method, "nearest");
      // Collapse: the node shrinks to its title, links stay.
      await page.locator('[data-node-id="2"] .snode-collapse').click();
      await page.locator('[data-node-id="2"].collapsed').waitFor();
      assert.equal(await page.locator('[data-node-id="2"] [data-input="method"]').count(), 0);
      assert.equal(await page.locator(".react-flow__edge").count(), 2);
      wf = await currentWorkflow(page);
      assert.equal(wf.nodes.find((n) => n.id === "2")!.ui?.collapsed, true);
    });
  });

  test("context menus: delete a link, add a note, rename a node", async () => {
    await withEditor(async (page) => {
      await loadWorkflow(page, imageChain());
      // Right-click the middle of the link into Scale Image.
      const mid = await page.evaluate(() => {
        const path = document.querySelector('.react-flow__edge[data-id="1:image->2:image"] path.react-flow__edge-path') as SVGPathElement;
        const p = path.getPointAtLength(path.getTotalLength() / 2);
        const m = path.getScreenCTM()!;
        return { x: p.x * m.a + p.y * m.c + m.e, y: p.x * m.b + p.y * m.d + m.f };
      });
      await page.mouse.click(mid.x, mid.y, { button: "right" });
      await page.locator('[data-testid="context-menu"] button', { hasText: "Delete link" }).click();
      let wf = await currentWorkflow(page);
      assert.equal(wf.nodes.find((n) => n.id === "2")!.inputs.image, undefined);
      const spot = await emptySpot(page);
      await page.mouse.click(spot.x, spot.y, { button: "right" });
      await page.locator('[data-testid="context-menu"] button', { hasText: "Add note" }).click();
      await page.locator('[data-node-id][data-node-type="Note"]').waitFor();
      page.once("dialog", (d) => void d.accept("Blue maker"));
      await page.locator('[data-node-id="1"] .snode-title').click({ button: "right" });
      await page.locator('[data-testid="context-menu"] button', { hasText: "Rename" }).click();
      await page.locator('[data-node-id="1"] .snode-title', { hasText: "Blue maker" }).waitFor();
      wf = await currentWorkflow(page);
      assert.equal(wf.nodes.find((n) => n.id === "1")!.ui?.title, "Blue maker");
    });
  });

  test("the server's per-node errors are shown on the nodes and inputs", async () => {
    await withEditor(async (page) => {
      const wf = imageChain();
      delete wf.nodes[1]!.inputs.image;
      await loadWorkflow(page, wf);
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="2"] [data-testid="input-error"]').first().waitFor();
      assert.match((await page.locator('[data-node-id="2"]').getAttribute("class")) ?? "", /has-error/);
      await toastText(page, /cannot run/i);
    });
  });
});
