// Benchmark of the editor's canvas in Chromium: frame times while panning and zooming graphs of
// about 10, 50 and 150 nodes (the bundled templates tiled side by side, with their links and
// groups), and the long tasks seen meanwhile.
//
//   npm run build:client && npm run bench:editor [-- --seconds 4]
//
// Prints a table and writes bench/results/editor.json.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { launchBrowser, openEditor, ROOT, startServer, type WorkflowLike } from "../test/e2e/harness.ts";
import { option } from "./options.ts";

const seconds = Number(option("seconds", "4"));
const TARGETS = option("only", "") ? [Number(option("only", ""))] : [10, 50, 150];
const TEMPLATES = ["gated-review", "text-to-image", "prompt-switch", "two-prompt-composition", "image-to-image"];

type Node = WorkflowLike["nodes"][number];
interface Tiled { workflow: WorkflowLike; nodes: number; edges: number; groups: number }

/** Templates placed side by side (ids renumbered) until there are at least `target` nodes. */
function tile(target: number): Tiled {
  const nodes: Node[] = [];
  const groups: { title: string; bounds: [number, number, number, number] }[] = [];
  let edges = 0;
  for (let k = 0; nodes.length < target; k++) {
    const t = JSON.parse(readFileSync(join(ROOT, "templates", `${TEMPLATES[k % TEMPLATES.length]}.json`), "utf8")) as WorkflowLike & { groups?: typeof groups };
    const dx = (k % 4) * 2600, dy = Math.floor(k / 4) * 1500;
    const id = (old: string) => `${k}_${old}`;
    for (const n of t.nodes) {
      const inputs: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(n.inputs)) {
        if (v && typeof v === "object" && "node" in (v as object)) { inputs[name] = { ...(v as object), node: id((v as { node: string }).node) }; edges++; }
        else inputs[name] = v;
      }
      const pos = (n.ui?.pos as [number, number] | undefined) ?? [0, 0];
      nodes.push({ ...n, id: id(n.id), inputs, ui: { ...(n.ui ?? {}), pos: [pos[0] + dx, pos[1] + dy] } });
    }
    for (const g of t.groups ?? []) groups.push({ ...g, bounds: [g.bounds[0] + dx, g.bounds[1] + dy, g.bounds[2], g.bounds[3]] });
  }
  return { workflow: { format: "sluice.workflow", version: "1.1.0", nodes, groups }, nodes: nodes.length, edges, groups: groups.length };
}

interface Measure { frames: number; p50: number; p95: number; p99: number; max: number; longTasks: number; longestTask: number }

/** Pans (drags the pane) and zooms (wheel) for `seconds`, recording every frame's duration. */
async function panAndZoom(page: Page): Promise<Measure> {
  await page.evaluate(`(() => {
    const rec = { frames: [], long: [] };
    window.__bench = rec;
    let last = performance.now();
    const tick = (t) => { rec.frames.push(t - last); last = t; if (!rec.stop) requestAnimationFrame(tick); };
    requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
    try { new PerformanceObserver((l) => { for (const e of l.getEntries()) rec.long.push(e.duration); }).observe({ type: "longtask", buffered: false }); } catch {}
  })()`);
  const pane = await page.locator(".react-flow__pane").boundingBox();
  if (!pane) throw new Error("no canvas pane");
  const cx = pane.x + pane.width / 2, cy = pane.y + pane.height / 2;
  const end = Date.now() + seconds * 1000;
  let phase = 0;
  while (Date.now() < end) {
    // Pan: a drag across the pane and back.
    await page.mouse.move(cx - 200, cy);
    await page.mouse.down();
    for (let i = 0; i <= 20; i++) await page.mouse.move(cx - 200 + i * 20 * (phase % 2 ? -1 : 1), cy + Math.sin(i / 3) * 40);
    await page.mouse.up();
    // Zoom: wheel in, then out.
    await page.mouse.move(cx, cy);
    for (let i = 0; i < 8; i++) await page.mouse.wheel(0, -120);
    for (let i = 0; i < 8; i++) await page.mouse.wheel(0, 120);
    phase++;
  }
  const rec = await page.evaluate(`(() => { window.__bench.stop = true; return window.__bench; })()`) as { frames: number[]; long: number[] };
  const f = rec.frames.slice(2).sort((a, b) => a - b);
  const pct = (p: number) => f[Math.min(f.length - 1, Math.floor((p / 100) * f.length))] ?? 0;
  return { frames: f.length, p50: pct(50), p95: pct(95), p99: pct(99), max: f[f.length - 1] ?? 0, longTasks: rec.long.length, longestTask: Math.max(0, ...rec.long) };
}

const server = await startServer();
const browser = await launchBrowser();
const rows: (Omit<Tiled, "workflow"> & Measure & { target: number })[] = [];
try {
  for (const target of TARGETS) {
    const t = tile(target);
    const { context, page } = await openEditor(browser, server.url);
    // Big graphs render only what is in view: wait for the workflow, not for every node's element.
    await page.evaluate((w) => (window as unknown as { __sluice: { load(w: unknown): void } }).__sluice.load(w), t.workflow);
    await page.waitForFunction((n) => (window as unknown as { __sluice: { workflow(): { nodes: unknown[] } } }).__sluice.workflow().nodes.length === n, t.nodes);
    await page.waitForSelector(".react-flow__node");
    await page.waitForTimeout(1500);
    // Fit everything in view first (the worst case: every node visible), then let it settle.
    await page.keyboard.press("f");
    await page.waitForTimeout(800);
    const m = await panAndZoom(page);
    rows.push({ target, nodes: t.nodes, edges: t.edges, groups: t.groups, ...m });
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
}

const r1 = (v: number) => Math.round(v * 10) / 10;
console.log(`\nEditor canvas: pan and zoom for ${seconds} s in Chromium (frame times in ms)\n`);
console.log("| nodes | edges | groups | frames | p50 | p95 | p99 | max | long tasks | longest |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.nodes} | ${r.edges} | ${r.groups} | ${r.frames} | ${r1(r.p50)} | ${r1(r.p95)} | ${r1(r.p99)} | ${r1(r.max)} | ${r.longTasks} | ${r1(r.longestTask)} |`);
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "editor.json"), JSON.stringify({
  date: new Date().toISOString(), seconds, chromium: browser.version(),
  rows: rows.map((r) => ({ ...r, p50: r1(r.p50), p95: r1(r.p95), p99: r1(r.p99), max: r1(r.max), longestTask: r1(r.longestTask) })),
}, null, 2) + "\n");
console.log("\nwrote bench/results/editor.json");
