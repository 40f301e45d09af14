// Browser tests of the editor for daily use: bypass, mute, reroute, queue N, size presets and
// warnings, the gallery, Stop from another page, and the panels while the server is down. Waits
// are long and nothing is timed: the suite must pass on a loaded machine.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Page } from "playwright-core";
import { imageChain } from "./fixtures.ts";
import { canRunCascade, currentWorkflow, dragLink, freePort, handleCenter, loadWorkflow, openEditor, pageErrors, serverAndBrowserForFile, startServer, type WorkflowLike } from "./harness.ts";

const env = serverAndBrowserForFile();
const LONG = { timeout: 120000 };

interface HistoryEntry { promptId: string; status: string; outputs: Record<string, { images?: { file: string; width?: number }[] }>; workflow?: WorkflowLike }

async function history(): Promise<HistoryEntry[]> {
  return (await fetch(`${env.server.url}/api/history?limit=200`)).json() as Promise<HistoryEntry[]>;
}
async function entry(id: string): Promise<HistoryEntry> {
  return (await fetch(`${env.server.url}/api/history/${id}`)).json() as Promise<HistoryEntry>;
}
/** Waits until the server's history holds `count` more finished prompts than `before`. */
async function finishedSince(before: Set<string>, count: number): Promise<HistoryEntry[]> {
  for (;;) {
    const fresh = (await history()).filter((e) => !before.has(e.promptId));
    if (fresh.length >= count && fresh.every((e) => ["done", "failed", "cancelled"].includes(e.status))) return fresh;
    await new Promise((r) => setTimeout(r, 300));
  }
}
const ids = async () => new Set((await history()).map((e) => e.promptId));

/** The cascade template with few steps (quick on any machine), its prompt set to `text`. */
async function quickCascade(text: string): Promise<WorkflowLike> {
  const wf = (await (await fetch(`${env.server.url}/api/templates/text-to-image`)).json()) as WorkflowLike;
  for (const n of wf.nodes) {
    if (n.type === "CascadeSampler") n.inputs.steps = 2;
    if (n.type === "TextEncode" && typeof n.inputs.text === "string" && n.inputs.text.trim()) n.inputs.text = text;
  }
  return wf;
}

async function selectNode(page: Page, id: string) {
  await page.locator(`[data-node-id="${id}"] .snode-head`).click({ position: { x: 60, y: 8 } });
}

describe("bypass, mute and reroute", () => {
  test("Ctrl+B bypasses a node: it looks bypassed, is saved with mode 4, and its input passes to its consumers", async () => {
    const { context, page, errors } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, imageChain());
      await selectNode(page, "2");
      await page.keyboard.press("Control+b");
      await page.locator('[data-node-id="2"][data-mode="bypass"] [data-testid="bypass-badge"]').waitFor();
      assert.equal((await currentWorkflow(page)).nodes.find((n) => n.id === "2")!.mode, 4);
      const before = await ids();
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="3"] [data-testid="node-image"]').waitFor(LONG);
      const [run] = await finishedSince(before, 1);
      const image = Object.values(run!.outputs).flatMap((o) => o.images ?? [])[0]!;
      assert.equal(image.width, 64, "the Save node got EmptyImage's 64 px image, not ImageScale's 96 px");
      // Ctrl+B again: it runs again.
      await selectNode(page, "2");
      await page.keyboard.press("Control+b");
      await page.locator('[data-node-id="2"][data-mode="always"]').waitFor();
      assert.equal((await currentWorkflow(page)).nodes.find((n) => n.id === "2")!.mode, undefined);
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("muting from the context menu skips the node and what needs it; the rest runs and the skipped output is named", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      const wf = imageChain();
      wf.nodes.push(
        { id: "5", type: "EmptyImage", inputs: { width: 48, height: 48, batch: 1, color: "#aa3366" }, ui: { pos: [0, 520] } },
        { id: "6", type: "SaveImage", inputs: { image: { node: "5", output: "image" }, prefix: "muted" }, ui: { pos: [680, 520] } },
      );
      await loadWorkflow(page, wf);
      await page.locator('[data-node-id="5"] .snode-head').click({ button: "right", position: { x: 60, y: 8 } });
      await page.locator('[data-testid="context-menu"] button', { hasText: "Mute" }).click();
      await page.locator('[data-node-id="5"][data-mode="mute"] [data-testid="mute-badge"]').waitFor();
      const before = await ids();
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-testid="toast"]', { hasText: "Will not run: node 6 (SaveImage)" }).waitFor(LONG);
      const [run] = await finishedSince(before, 1);
      assert.equal(run!.status, "done");
      assert.deepEqual(Object.keys(run!.outputs).sort(), ["3"], "only the unmuted branch saved an image");
    } finally {
      await context.close();
    }
  });

  test("a Reroute takes the type of its link, refuses other types, and passes its value on", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, {
        format: "sluice.workflow", version: "1.1.0",
        nodes: [
          { id: "1", type: "EmptyImage", inputs: { width: 40, height: 40, batch: 1, color: "#22aa44" }, ui: { pos: [0, 0] } },
          { id: "2", type: "Reroute", inputs: { input: { node: "1", output: "image" } }, ui: { pos: [360, 60] } },
          { id: "3", type: "SaveImage", inputs: { image: { node: "2", output: "output" }, prefix: "reroute" }, ui: { pos: [520, 0] } },
          { id: "4", type: "EmptyCascadeLatent", inputs: { width: 64, height: 64, compression: 8, batch: 1 }, ui: { pos: [0, 300] } },
        ],
      });
      await page.locator('[data-node-id="2"][data-socket="IMAGE"]').waitFor();
      // A LATENT cannot go into a Reroute that carries an IMAGE.
      await dragLink(page, await handleCenter(page, "4", "source", "stage_c"), await handleCenter(page, "2", "target", "input"));
      await page.locator('[data-testid="toast"]', { hasText: "Type mismatch" }).waitFor();
      assert.deepEqual((await currentWorkflow(page)).nodes.find((n) => n.id === "2")!.inputs.input, { node: "1", output: "image" });
      const before = await ids();
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="3"] [data-testid="node-image"]').waitFor(LONG);
      const [run] = await finishedSince(before, 1);
      assert.equal(Object.values(run!.outputs).flatMap((o) => o.images ?? [])[0]!.width, 40);
    } finally {
      await context.close();
    }
  });
});

describe("queueing", () => {
  test("queue N sends N prompts whose seeds move by their after-run control", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      const cascade = await canRunCascade(env.server.url);
      assert.ok(cascade, "the bundled tiny pack runs the cascade");
      const wf = await quickCascade("a blue circle in the center");
      const sampler = wf.nodes.find((n) => n.type === "CascadeSampler")!;
      sampler.inputs.seed = 1000;
      sampler.ui = { ...(sampler.ui ?? {}), seedControl: { seed: "increment" } };
      await loadWorkflow(page, wf);
      await page.fill('[data-testid="batch-count"]', "3");
      const before = await ids();
      await page.click('[data-testid="queue-button"]');
      const runs = await finishedSince(before, 3);
      const seeds = await Promise.all(runs.map(async (r) => Number((await entry(r.promptId)).workflow!.nodes.find((n) => n.id === sampler.id)!.inputs.seed)));
      assert.deepEqual(seeds.sort((a, b) => a - b), [1000, 1001, 1002]);
      assert.equal(Number((await currentWorkflow(page)).nodes.find((n) => n.id === sampler.id)!.inputs.seed), 1003, "the canvas holds the next seed");
      assert.ok(runs.every((r) => r.status === "done"));
    } finally {
      await context.close();
    }
  });

  test("Stop in a second browser stops the prompt the first one queued; the first says the run was stopped", async () => {
    const a = await openEditor(env.browser, env.server.url);
    const b = await openEditor(env.browser, env.server.url);
    try {
      const wf = await quickCascade("a long run");
      for (const n of wf.nodes) if (n.type === "CascadeSampler") n.inputs.steps = 1000;
      await loadWorkflow(a.page, wf);
      const before = await ids();
      await a.page.click('[data-testid="queue-button"]');
      await a.page.locator('[data-status="running"]').first().waitFor(LONG);
      const stop = b.page.locator('[data-testid="stop-button"]');
      await b.page.waitForFunction(() => !(document.querySelector('[data-testid="stop-button"]') as HTMLButtonElement).disabled, undefined, LONG);
      await stop.click();
      await a.page.locator('[data-testid="toast"]', { hasText: "Run stopped" }).waitFor(LONG);
      const [run] = await finishedSince(before, 1);
      assert.equal(run!.status, "cancelled");
      await a.page.waitForFunction(() => !document.querySelector('[data-status="running"]'), undefined, LONG);
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });

  test("cancelling a pending prompt says it was cancelled before it ran, not that a run was interrupted", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      const wf = await quickCascade("waiting behind another");
      for (const n of wf.nodes) if (n.type === "CascadeSampler") n.inputs.steps = 1000;
      await loadWorkflow(page, wf);
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-status="running"]').first().waitFor(LONG);
      // While a run streams previews the page is busy: clicks skip the wait for a still frame.
      await page.click('[data-testid="queue-button"]', { force: true });
      await page.click('[data-testid="panel-queue"]', { force: true });
      const pending = page.locator('.q-item.pending [title="Remove from the queue"]');
      await pending.first().waitFor(LONG);
      await pending.first().click({ force: true });
      await page.locator('[data-testid="toast"]', { hasText: "Queued prompt cancelled before it ran" }).waitFor(LONG);
      assert.equal(await page.locator('[data-testid="toast"]', { hasText: "Run interrupted" }).count(), 0);
      // The running one shows its progress in the Queue panel and the tab title.
      await page.locator('[data-testid="queue-progress"]').waitFor(LONG);
      await page.waitForFunction(() => document.title.startsWith("["), undefined, LONG);
      await page.click('[data-testid="stop-button"]', { force: true });
      await page.waitForFunction(() => !document.querySelector('[data-status="running"]'), undefined, LONG);
    } finally {
      await context.close();
    }
  });
});

describe("sizes", () => {
  test("a new latent takes the pack's size; a size beyond the pack is flagged on the node; a preset puts it back", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, { format: "sluice.workflow", version: "1.1.0", nodes: [{ id: "1", type: "Note", inputs: { text: "sizes" }, ui: { pos: [0, 0] } }] });
      const pane = (await page.locator(".react-flow__pane").boundingBox())!;
      await page.mouse.dblclick(pane.x + pane.width / 2, pane.y + pane.height / 2);
      await page.fill('[data-testid="palette-search"]', "Empty Cascade Latent");
      await page.keyboard.press("Enter");
      const node = page.locator('[data-node-type="EmptyCascadeLatent"]');
      await node.waitFor();
      const id = (await node.getAttribute("data-node-id"))!;
      const values = () => currentWorkflow(page).then((w) => w.nodes.find((n) => n.id === id)!.inputs);
      const packs = (await (await fetch(`${env.server.url}/api/packs`)).json()) as { name: string; native?: { width: number; height: number; compression: number } }[];
      const native = packs.find((p) => p.native)!.native!;
      assert.deepEqual([(await values()).width, (await values()).height, (await values()).compression], [native.width, native.height, native.compression], "not the catalog's 1024² at compression 42");
      assert.equal(await node.locator('[data-testid="size-warning"]').count(), 0);
      // Type a width far beyond the pack's size.
      await node.locator('[data-input="width"] .w-num-value').click();
      await node.locator('[data-input="width"] .w-num-input').fill(String(native.width * 16));
      await node.locator('[data-input="width"] .w-num-input').press("Enter");
      await node.locator('[data-testid="size-warning"]').first().waitFor();
      assert.match((await node.locator('[data-testid="size-warning"]').first().textContent()) ?? "", /beyond what pack/);
      // The first preset is the native size.
      await node.locator('[data-testid="size-preset"]').selectOption("0");
      await page.waitForFunction((nid) => !document.querySelector(`[data-node-id="${nid}"] [data-testid="size-warning"]`), id);
      assert.equal((await values()).width, native.width);
    } finally {
      await context.close();
    }
  });

  test("a value typed out of range is clamped and the person is told", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, imageChain());
      await page.locator('[data-node-id="1"] [data-input="width"] .w-num-value').click();
      await page.locator('[data-node-id="1"] [data-input="width"] .w-num-input').fill("-5");
      await page.locator('[data-node-id="1"] [data-input="width"] .w-num-input').press("Enter");
      await page.locator('[data-testid="toast"]', { hasText: "below the minimum" }).waitFor();
    } finally {
      await context.close();
    }
  });
});

describe("gallery", () => {
  test("shows outputs with their prompt; searches; opens one large; loads its workflow; deletes it", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      const text = "a yellow triangle at the bottom";
      await loadWorkflow(page, await quickCascade(text));
      const before = await ids();
      await page.click('[data-testid="queue-button"]');
      const [run] = await finishedSince(before, 1);
      assert.equal(run!.status, "done");
      await page.click('[data-testid="panel-gallery"]');
      const item = page.locator(`[data-testid="gallery-item"][data-prompt-id="${run!.promptId}"]`);
      await item.waitFor(LONG);
      await page.fill('[data-testid="gallery-search"]', "yellow triangle");
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="gallery-item"]').length >= 1);
      await page.fill('[data-testid="gallery-search"]', "no such prompt anywhere");
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="gallery-item"]').length === 0);
      await page.fill('[data-testid="gallery-search"]', "");
      await item.click();
      await page.locator('[data-testid="gallery-view"]').waitFor();
      assert.equal(await page.locator('[data-testid="gallery-meta-prompt"]').textContent(), text);
      // Load its workflow onto a canvas that holds something else.
      await page.click('[data-testid="gallery-load"]');
      await page.locator('[data-node-type="CascadeSampler"]').first().waitFor();
      await page.click('[data-testid="panel-gallery"]');
      await page.click('[data-testid="panel-gallery"]');
      await item.click();
      page.once("dialog", (d) => void d.accept());
      await page.click('[data-testid="gallery-delete"]');
      await item.waitFor({ state: "detached", ...LONG });
      assert.equal((await fetch(`${env.server.url}/api/history/${run!.promptId}`)).status, 404);
    } finally {
      await context.close();
    }
  });
});

describe("components", () => {
  test("an inner widget of a component is promoted to its instances in one click, keeping its value", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, {
        format: "sluice.workflow", version: "1.1.0",
        nodes: [
          { id: "1", type: "component/box", inputs: {}, ui: { pos: [0, 0] } },
          { id: "2", type: "SaveImage", inputs: { image: { node: "1", output: "image" }, prefix: "box" }, ui: { pos: [400, 0] } },
        ],
        components: {
          box: {
            name: "Box", inputs: [],
            nodes: [{ id: "a", type: "EmptyImage", inputs: { width: 24, height: 24, batch: 1, color: "#123456" } }],
            outputs: [{ name: "image", type: "IMAGE", source: { node: "a", output: "image" } }],
          },
        },
      } as WorkflowLike);
      assert.equal(await page.locator('[data-node-id="1"] [data-input="color"]').count(), 0);
      await page.click('[data-node-id="1"] [data-testid="component-inner"]');
      await page.click('[data-node-id="1"] [data-testid="promote-widget"][data-inner="a.color"]');
      await page.locator('[data-node-id="1"] [data-input="color"]').waitFor();
      const wf = await currentWorkflow(page) as WorkflowLike & { components: Record<string, { inputs: { name: string; targets: unknown[] }[] }> };
      assert.deepEqual(wf.components.box!.inputs.map((p) => [p.name, p.targets]), [["color", [{ node: "a", input: "color" }]]]);
      assert.equal(wf.nodes.find((n) => n.id === "1")!.inputs.color, "#123456");
    } finally {
      await context.close();
    }
  });
});

describe("layout", () => {
  test("the gated-review template: groups do not overlap and each of its staged nodes sits inside a group", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      const wf = (await (await fetch(`${env.server.url}/api/templates/gated-review`)).json()) as WorkflowLike;
      await loadWorkflow(page, wf);
      await page.waitForTimeout(1000);
      const boxes = await page.evaluate(() => [...document.querySelectorAll(".react-flow__node")].map((e) => {
        const r = e.getBoundingClientRect();
        return { frame: e.classList.contains("react-flow__node-frame"), id: e.getAttribute("data-id")!, x: r.x, y: r.y, r: r.right, b: r.bottom };
      }));
      const frames = boxes.filter((b) => b.frame);
      assert.equal(frames.length, 3);
      for (const f of frames) for (const g of frames) {
        if (f === g) continue;
        const overlap = f.x < g.r - 1 && g.x < f.r - 1 && f.y < g.b - 1 && g.y < f.b - 1;
        assert.ok(!overlap, `groups ${f.id} and ${g.id} overlap`);
      }
      for (const id of ["5", "10", "6", "7", "8", "9"]) {
        const n = boxes.find((b) => b.id === id)!;
        assert.ok(frames.some((f) => n.x >= f.x && n.y >= f.y && n.r <= f.r && n.b <= f.b), `node ${id} lies inside a group`);
      }
    } finally {
      await context.close();
    }
  });

  test("the first node added to an empty canvas lands where the person double-clicked", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      await page.click('[data-testid="file-menu"]');
      await page.click("text=New (empty canvas)");
      await page.locator('[data-testid="empty-hint"]').waitFor();
      const pane = (await page.locator(".react-flow__pane").boundingBox())!;
      const at = { x: pane.x + 260, y: pane.y + 180 };
      await page.mouse.dblclick(at.x, at.y);
      await page.fill('[data-testid="palette-search"]', "Empty Image");
      await page.keyboard.press("Enter");
      const node = page.locator('.react-flow__node:has([data-node-type="EmptyImage"])');
      await node.waitFor();
      await page.waitForTimeout(1000);
      const box = (await node.boundingBox())!;
      assert.ok(Math.abs(box.x - at.x) < 30 && Math.abs(box.y - at.y) < 30, `the node's corner (${box.x}, ${box.y}) is at the click (${at.x}, ${at.y})`);
    } finally {
      await context.close();
    }
  });
});

describe("resilience", () => {
  test("with the server down the panels still open, a banner says so, and everything comes back without a reload", async () => {
    const port = await freePort();
    let server = await startServer({ port, keepHome: true });
    const home = server.home;
    const { context, page } = await openEditor(env.browser, server.url);
    try {
      await loadWorkflow(page, imageChain());
      await server.stop();
      await page.locator('[data-testid="disconnected-banner"]').waitFor(LONG);
      for (const panel of ["history", "queue", "library", "system", "gallery"]) {
        await page.click(`[data-testid="panel-${panel}"]`);
        await page.locator(`[data-testid="side-${panel}"]`).waitFor();
      }
      assert.equal(await page.locator('[data-node-id="3"]').count(), 1, "the canvas is still there");
      // Undo history survives: an edit made while offline can be undone after the server is back.
      await selectNode(page, "4");
      await page.keyboard.press("Delete");
      await page.locator('[data-node-id="4"]').waitFor({ state: "detached" });
      server = await startServer({ port, home, keepHome: false });
      await page.locator('[data-testid="disconnected-banner"]').waitFor({ state: "detached", ...LONG });
      await page.click('[data-testid="panel-system"]');
      await page.locator('[data-testid="system-device"]').waitFor(LONG);
      await page.keyboard.press("Control+z");
      await page.locator('[data-node-id="4"]').waitFor();
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="3"] [data-testid="node-image"]').waitFor(LONG);
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("an error on a node goes away when the node is edited", async () => {
    const { context, page } = await openEditor(env.browser, env.server.url);
    try {
      await loadWorkflow(page, {
        format: "sluice.workflow", version: "1.1.0",
        nodes: [
          { id: "1", type: "EmptyImage", inputs: { width: 64, height: 64, batch: 1, color: "#000000" }, ui: { pos: [0, 0] } },
          { id: "2", type: "EmptyImage", inputs: { width: 32, height: 32, batch: 1, color: "#ffffff" }, ui: { pos: [0, 300] } },
          { id: "3", type: "ImageBlend", inputs: { a: { node: "1", output: "image" }, b: { node: "2", output: "image" }, factor: 0.5, mode: "normal" }, ui: { pos: [340, 0] } },
          { id: "4", type: "SaveImage", inputs: { image: { node: "3", output: "image" }, prefix: "err" }, ui: { pos: [680, 0] } },
        ],
      });
      await page.click('[data-testid="queue-button"]');
      await page.locator('[data-node-id="3"][data-status="error"]').waitFor(LONG);
      await page.locator('[data-node-id="3"] [data-input="factor"] .w-num-value').click();
      await page.locator('[data-node-id="3"] [data-input="factor"] .w-num-input').fill("0.4");
      await page.locator('[data-node-id="3"] [data-input="factor"] .w-num-input').press("Enter");
      await page.locator('[data-node-id="3"][data-status="idle"]').waitFor();
      assert.equal(await page.locator('[data-node-id="3"] [data-testid="node-error"]').count(), 0);
    } finally {
      await context.close();
    }
  });
});
