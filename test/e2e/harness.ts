// Shared helpers of the browser tests: a real Sluice server on a free port with a temporary home,
// Debian's Chromium driven by playwright-core, and small page helpers.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = join(ROOT, "test-artifacts");

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-quic",
];

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

export interface Server {
  url: string;
  home: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts `sluice serve` on a free port with a fresh home folder and waits for its URL line. */
export async function startServer(opts: { timeoutMs?: number; extraArgs?: string[]; port?: number; home?: string; keepHome?: boolean } = {}): Promise<Server> {
  const port = opts.port ?? await freePort();
  const home = opts.home ?? mkdtempSync(join(tmpdir(), "sluice-e2e-"));
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "server/cli.ts", "serve", "--port", String(port), "--home", home, ...(opts.extraArgs ?? [])],
    { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  // Never leave a server behind, even when a test file crashes.
  const killOnExit = () => { if (child.exitCode === null) child.kill("SIGKILL"); };
  process.once("exit", killOnExit);
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not print its URL within ${opts.timeoutMs ?? 60000}ms:\n${output}`)), opts.timeoutMs ?? 60000);
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = output.match(/https?:\/\/[\w.:[\]-]+(?::\d+)?\/?/);
      if (m) { clearTimeout(timer); res(m[0].replace(/\/$/, "")); }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (b: Buffer) => { output += b.toString(); });
    child.on("exit", (code) => { clearTimeout(timer); rej(new Error(`server exited (${code}) before it was ready:\n${output}`)); });
  });
  child.stdout!.on("data", (b: Buffer) => { output += b.toString(); });
  return {
    url,
    home,
    log: () => output,
    async stop() {
      process.removeListener("exit", killOnExit);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      if (!opts.keepHome) rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * A Sluice server and a browser shared by the tests of one file: started before them, stopped
 * after them. Read `env.server` and `env.browser` inside tests (they are set once `before` ran).
 */
export function serverAndBrowserForFile(): { readonly server: Server; readonly browser: Browser } {
  const env = {} as { server: Server; browser: Browser };
  before(async () => {
    env.server = await startServer();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** A fresh context (empty localStorage) at 1280×800 with the editor open and the catalog loaded. */
export async function openEditor(browser: Browser, url: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  await page.waitForSelector(".react-flow__renderer", { timeout: 20000 });
  await page.waitForFunction(() => (window as unknown as { __sluice?: { ready?: boolean } }).__sluice?.ready === true, undefined, { timeout: 20000 });
  return { context, page, errors };
}

export interface WorkflowLike {
  format: "sluice.workflow";
  version: string;
  nodes: { id: string; type: string; inputs: Record<string, unknown>; ui?: Record<string, unknown>; mode?: number }[];
  groups?: unknown[];
  components?: Record<string, unknown>;
}

/** Loads a workflow into the editor through its test hook (as if opened from a file). */
export async function loadWorkflow(page: Page, wf: WorkflowLike): Promise<void> {
  await page.evaluate((w) => (window as unknown as { __sluice: { load(w: unknown): void } }).__sluice.load(w), wf);
  const ids = wf.nodes.map((n) => n.id).sort();
  await page.waitForFunction((want) => {
    const have = [...document.querySelectorAll("[data-node-id]")].map((e) => e.getAttribute("data-node-id")).sort();
    return JSON.stringify(have) === JSON.stringify(want);
  }, ids);
  // The canvas fits the view after a load; let that settle before reading positions.
  await page.waitForTimeout(250);
}

/** The workflow as the editor would queue it. */
export async function currentWorkflow(page: Page): Promise<WorkflowLike> {
  return page.evaluate(() => (window as unknown as { __sluice: { workflow(): unknown } }).__sluice.workflow()) as Promise<WorkflowLike>;
}

export async function hasTemplate(url: string, id: string): Promise<boolean> {
  const res = await fetch(`${url}/api/templates/${id}`);
  return res.ok;
}

export async function nodeTypes(url: string): Promise<string[]> {
  const res = await fetch(`${url}/api/nodes`);
  const specs = (await res.json()) as { type: string }[];
  return specs.map((s) => s.type);
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** The centre of a node's handle, in page coordinates. */
export async function handleCenter(page: Page, nodeId: string, kind: "source" | "target", handle: string) {
  const box = await page.locator(`.react-flow__node[data-id="${nodeId}"] .react-flow__handle-${kind === "source" ? "right" : "left"}[data-handleid="${handle}"]`).boundingBox();
  if (!box) throw new Error(`handle ${nodeId}.${handle} (${kind}) not visible`);
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

/** Drags a link from one handle to another with the mouse. */
export async function dragLink(page: Page, from: { x: number; y: number }, to: { x: number; y: number }) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  const steps = 12;
  for (let i = 1; i <= steps; i++) await page.mouse.move(from.x + ((to.x - from.x) * i) / steps, from.y + ((to.y - from.y) * i) / steps);
  await page.mouse.up();
}

/** Whether the server can run the cascade: the text-to-image template and at least one model pack. */
export async function canRunCascade(url: string): Promise<boolean> {
  if (!(await hasTemplate(url, "text-to-image"))) return false;
  const specs = (await (await fetch(`${url}/api/nodes`)).json()) as { type: string; inputs: { name: string; options?: string[] }[] }[];
  const loader = specs.find((s) => s.type === "LoadCascadePack");
  return !!loader?.inputs.find((i) => i.name === "pack")?.options?.length;
}

/** Page errors and console errors, minus failed resource loads (a 404 for a missing template is expected). */
export function pageErrors(errors: string[]): string[] {
  return errors.filter((e) => !/Failed to load resource|404/.test(e));
}
