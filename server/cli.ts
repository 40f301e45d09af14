// The `sluice` command: serve the studio, run a workflow headless, or (at scale) a queue worker.
import { mkdirSync, readFileSync, copyFileSync, mkdtempSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import type { Literal, NodeSpec } from "../nodes/schema.ts";
import { buildCatalog, compilePrompt, executeWorkflow, ExecutionCancelled, ExecutionFailed, OutputCache } from "./engine/index.ts";
import { createNodeHost } from "./executor/node-host.ts";
import { packOptions } from "./runtime/pack-list.ts";
import { memoryOption } from "./api/memory-check.ts";
import { type LoadProgress, decideMemoryBudget } from "./runtime/index.ts";
import { isLoopbackHost } from "./api/security.ts";

const ROOT = join(import.meta.dirname, "..");
export const DEFAULT_MODELS_DIR = join(ROOT, "models");

const USAGE = `sluice: a node-graph studio for Stable Cascade

usage:
  sluice serve [--port 8788] [--host 127.0.0.1] [--home DIR] [--models DIR] [--device auto|cpu|cuda|webgpu]
               [--memory-budget 6GB] [--token TOKEN] [--allow-host NAME ...] [--allow-origin ORIGIN ...]
               [--redis URL [--attempts 2]] [--max-waiting 64]
  sluice worker --redis URL [--models DIR] [--device auto|cpu|cuda|webgpu] [--name NAME] [--memory-budget 6GB]
               [--lock-ms 30000] [--stalled-ms 30000] [--max-stalled 1]
  sluice run <workflow.json> [--out DIR] [--set NAME=VALUE ...] [--set NODE.INPUT=VALUE ...]
             [--models DIR] [--device ...] [--home DIR] [--memory-budget 6GB]

--memory-budget: the most memory a prompt may need (e.g. 6GB, 6000MB); a prompt estimated over it
is refused before it runs, and the models kept loaded between prompts stay within it (the least
recently used are released first). Default: 70% of available RAM (80% of free GPU memory with
--device cuda). A worker keeps its own models within its own --memory-budget.

The data folder (database, outputs, uploads) is --home, else $SLUICE_HOME, else ~/.sluice.
Off loopback (--host 0.0.0.0 or any other address) every request needs a token: --token, else
$SLUICE_TOKEN, else one generated and printed at start. On loopback a token is used when given.
With --redis, serve queues prompts for workers (one per GPU, on any machine that reaches Redis
and has the packs in its --models folder) instead of running them itself. --prefix names the
keys in Redis (default "sluice"; server and workers must agree).`;

interface Args { command: string; positional: string[]; flags: Map<string, string[]> }

export function parseArgs(argv: string[]): Args {
  const [command = "help", ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      const value = eq > 0 ? arg.slice(eq + 1) : rest[i + 1] !== undefined && !rest[i + 1].startsWith("--") ? rest[++i] : "true";
      flags.set(name, [...(flags.get(name) ?? []), value]);
    } else positional.push(arg);
  }
  return { command, positional, flags };
}

const flag = (args: Args, name: string) => args.flags.get(name)?.at(-1);

/** A whole-number flag within bounds, or its default; anything else is an error naming the flag. */
function intFlag(args: Args, name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const raw = flag(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

function redisFlag(args: Args): string | undefined {
  const url = flag(args, "redis") ?? process.env.SLUICE_REDIS;
  if (url !== undefined && !/^rediss?:\/\/./.test(url)) throw new Error(`--redis must be a redis:// or rediss:// URL, got "${url}"`);
  return url;
}
const homeOf = (args: Args) => resolve(flag(args, "home") ?? process.env.SLUICE_HOME ?? join(homedir(), ".sluice"));

async function serve(args: Args): Promise<void> {
  const { createSluiceServer } = await import("./api/app.ts");
  const port = Number(flag(args, "port") ?? process.env.PORT ?? 8788);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a number from 0 to 65535, got "${flag(args, "port")}"`);
  const host = flag(args, "host") ?? "127.0.0.1";
  const server = await createSluiceServer({
    home: homeOf(args),
    nodeModules: (args.flags.get("nodes") ?? []).map((p) => resolve(p)),
    modelsDir: resolve(flag(args, "models") ?? DEFAULT_MODELS_DIR),
    device: flag(args, "device") ?? "auto",
    redisUrl: redisFlag(args),
    redisPrefix: flag(args, "prefix"),
    maxWaiting: intFlag(args, "max-waiting", undefined, 1, 100_000),
    attempts: intFlag(args, "attempts", undefined, 1, 100),
    memoryBudget: flag(args, "memory-budget"),
    token: flag(args, "token") ?? (process.env.SLUICE_TOKEN || undefined),
    allowedHosts: args.flags.get("allow-host"),
    allowedOrigins: args.flags.get("allow-origin"),
  });
  let url: string, ready: { device: string; deviceNote: string };
  try {
    ({ url } = await server.listen(port, host));
    ready = await server.dispatcher.ready();
  } catch (err) {
    await server.close();
    throw err;
  }
  console.log(`Sluice is serving at ${url}  (${ready.deviceNote || `device: ${ready.device}`}; data: ${server.store.paths.home})`);
  if (server.token !== undefined) {
    console.log(`Every request needs the token. Open ${url}/?token=${server.token}  (or send "Authorization: Bearer <token>")`);
    if (!isLoopbackHost(host)) console.log("The studio is reachable from the network over plain HTTP: put it behind an HTTPS proxy, or reach it through an SSH tunnel (see the README).");
  }
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/**
 * onnxruntime-node creates a session synchronously: this thread stops for the whole load (tens of
 * seconds for a real-size stage). A worker thread redraws the load's line meanwhile, the fraction
 * estimated from the expected time, writing to stderr's descriptor itself (a worker's
 * process.stderr goes through the blocked thread). A message starts a line; null stops it.
 */
const LOAD_TICKER = `
const { parentPort } = require("node:worker_threads");
const { writeSync } = require("node:fs");
let timer;
parentPort.on("message", (m) => {
  clearInterval(timer);
  if (!m) return;
  const started = Date.now() - m.elapsedMs;
  timer = setInterval(() => {
    const ms = Date.now() - started;
    writeSync(2, "\\r" + m.head + ": about " + Math.min(99, Math.round((100 * ms) / m.expectedMs)) + "%, " + (ms / 1000).toFixed(0) + " s\\x1b[K");
  }, 1000);
});
`;
let ticker: Worker | undefined;
function loadTicker(): Worker {
  if (!ticker) {
    ticker = new Worker(LOAD_TICKER, { eval: true });
    ticker.unref();
  }
  return ticker;
}

/**
 * Progress on stderr: on a terminal, a bar for the running node redrawn in place; every node that
 * finishes leaves a line with its steps and time (the only lines when stderr is not a terminal).
 */
function progressBar() {
  const tty = process.stderr.isTTY;
  const width = 30;
  const steps = new Map<string, number>();
  const line = (label: string, filled: number, tail: string) =>
    `${label.padEnd(24).slice(0, 24)} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${tail}`;
  return {
    step(id: string, label: string, step: number, total: number) {
      steps.set(id, total);
      if (tty) process.stderr.write(`\r${line(label, Math.round((step / Math.max(1, total)) * width), `${step}/${total}`)}\x1b[K`);
    },
    nodeDone(id: string, label: string, ms: number) {
      const total = steps.get(id);
      const text = line(label, width, `${total && total > 1 ? `${total}/${total} steps, ` : ""}${ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`}`);
      process.stderr.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    },
    /**
     * A model being converted or loaded: on a terminal redrawn in place (by the ticker thread while
     * ONNX Runtime holds this one), else one line per phase.
     */
    load(p: LoadProgress) {
      if (p.bytes < 100e6) return; // small models load in a blink
      const verb = p.phase === "converting" ? "converting to float32" : p.phase === "loading" ? "loading" : "loaded";
      const head = `${verb} ${p.label} (${(p.bytes / 1e9).toFixed(1)} GB)`;
      const text = `${head}: ${p.phase === "loaded" ? "" : `${p.phase === "loading" ? "about " : ""}${Math.round(p.fraction * 100)}%, `}${(p.elapsedMs / 1000).toFixed(0)} s`;
      if (tty) {
        loadTicker().postMessage(p.phase === "loading" && p.expectedMs ? { head, elapsedMs: p.elapsedMs, expectedMs: p.expectedMs } : null);
        process.stderr.write(`\r${text}\x1b[K${p.phase === "loaded" ? "\n" : ""}`);
      } else if (p.phase === "loaded" || p.fraction === 0) process.stderr.write(`${text}\n`);
    },
    done(message: string) {
      process.stderr.write(`${message}\n`);
    },
  };
}

async function run(args: Args): Promise<number> {
  const file = args.positional[0];
  if (!file) { console.error("sluice run: which workflow? usage: sluice run <workflow.json> [--out DIR]"); return 2; }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    console.error(`sluice run: cannot read ${file}: ${(err as Error).message}`);
    return 2;
  }
  const out = resolve(flag(args, "out") ?? "sluice-output");
  const home = homeOf(args);
  const modelsDir = resolve(flag(args, "models") ?? DEFAULT_MODELS_DIR);
  const uploadsDir = join(home, "uploads");
  mkdirSync(out, { recursive: true });
  mkdirSync(uploadsDir, { recursive: true });
  const budget = decideMemoryBudget({ flag: flag(args, "memory-budget"), device: flag(args, "device") ?? "auto" });
  const tempDir = mkdtempSync(join(tmpdir(), "sluice-run-"));

  const host = await createNodeHost({ outputsDir: tempDir, uploadsDir, tempDir, modelsDir, device: flag(args, "device") ?? "auto", modelMemoryBudgetBytes: budget.bytes, noiseThread: true, nodeModules: (args.flags.get("nodes") ?? []).map((p) => resolve(p)) }, (level, message) => {
    if (level !== "info") console.error(message);
  });
  try {
    const catalog: NodeSpec[] = buildCatalog(host.registry, { outputsDir: out, uploadsDir, tempDir, listOptions: (k) => (k === "packs" ? packOptions(modelsDir) : []) });
    const byType = new Map(catalog.map((s) => [s.type, s]));
    const lookup = (type: string) => byType.get(type);
    const sets: Record<string, Literal> = {};
    for (const s of args.flags.get("set") ?? []) {
      const eq = s.indexOf("=");
      if (eq <= 0) { console.error(`sluice run: --set expects NAME=VALUE, got "${s}"`); return 1; }
      sets[s.slice(0, eq)] = s.slice(eq + 1);
    }
    const compiled = compilePrompt(raw, { lookup, params: sets, memory: memoryOption(host.registry, modelsDir, budget.bytes) });
    if (!compiled.ok) {
      console.error(`sluice run: ${file} is not valid:`);
      for (const e of compiled.errors) console.error(`  ${e}`);
      const types = new Map(parseableNodes(raw).map((n) => [n.id, n.type]));
      for (const [id, list] of Object.entries(compiled.nodeErrors)) {
        for (const e of list) console.error(`  node ${id} (${types.get(id) ?? "?"})${e.input ? ` input "${e.input}"` : ""}: ${e.message}`);
      }
      return 1;
    }
    const workflow = compiled.plan.flat;
    console.error(host.deviceNote);
    const bar = progressBar();
    host.sessions.onLoadProgress((p) => bar.load(p));
    const label = (id: string) => `${workflow.nodes.find((n) => n.id === id)?.type} #${id}`;
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    const started = performance.now();
    const result = await executeWorkflow({
      promptId: `cli-${Date.now().toString(36)}`,
      workflow,
      registry: host.registry,
      cache: new OutputCache(512 * 1024 ** 2),
      services: host.servicesFor("cli"),
      signal: controller.signal,
      hooks: {
        onNodeStart: (id, type) => bar.step(id, label(id), 0, 1),
        onNodeProgress: (id, step, total) => bar.step(id, label(id), step, total),
        onNodeDone: (id, _outputs, ms) => bar.nodeDone(id, label(id), ms),
      },
    });
    const written: string[] = [];
    for (const res of Object.values(result.outputs)) {
      for (const image of res.images ?? []) {
        const target = join(out, basename(image.file));
        copyFileSync(join(tempDir, image.file), target);
        written.push(target);
      }
    }
    bar.done(`done in ${((performance.now() - started) / 1000).toFixed(1)} s: ${result.executed.length} node(s) ran`);
    for (const w of written) console.log(w);
    return 0;
  } catch (err) {
    if (err instanceof ExecutionFailed) {
      console.error(`\nsluice run: node ${err.detail.node} (${err.detail.type}) failed: ${err.detail.message}`);
      return 1;
    }
    if (err instanceof ExecutionCancelled) { console.error("\nsluice run: cancelled"); return 130; }
    throw err;
  } finally {
    await host.dispose();
  }
}

async function worker(args: Args): Promise<number> {
  const redisUrl = redisFlag(args);
  if (!redisUrl) { console.error("sluice worker: which Redis? usage: sluice worker --redis redis://HOST:6379 [--models DIR] [--device ...]"); return 2; }
  const { startBullWorker } = await import("./executor/bullmq-worker.ts");
  const device = flag(args, "device") ?? "auto";
  const budget = decideMemoryBudget({ flag: flag(args, "memory-budget"), device });
  const started = await startBullWorker({
    redisUrl,
    modelsDir: resolve(flag(args, "models") ?? DEFAULT_MODELS_DIR),
    device,
    memoryBudgetBytes: budget.bytes,
    nodeModules: (args.flags.get("nodes") ?? []).map((p) => resolve(p)),
    prefix: flag(args, "prefix"),
    name: flag(args, "name"),
    lockMs: intFlag(args, "lock-ms", undefined, 500, 3_600_000),
    stalledIntervalMs: intFlag(args, "stalled-ms", undefined, 100, 3_600_000),
    maxStalledCount: intFlag(args, "max-stalled", undefined, 0, 100),
    previewIntervalMs: intFlag(args, "preview-ms", undefined, 0, 60_000),
  });
  const stop = async () => {
    await started.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return -1;
}

/** The ids and types of a workflow's nodes as far as they can be read, for error lines. */
function parseableNodes(raw: unknown): { id: string; type: string }[] {
  const nodes = (raw as { nodes?: unknown })?.nodes;
  if (!Array.isArray(nodes)) return [];
  return nodes.filter((n): n is { id: string; type: string } => typeof n?.id === "string" && typeof n?.type === "string");
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  switch (args.command) {
    case "serve": await serve(args); return -1;
    case "run": return run(args);
    case "worker": return worker(args);
    case "help": case "--help": case "-h": console.log(USAGE); return 0;
    default: console.error(`sluice: unknown command "${args.command}"\n\n${USAGE}`); return 2;
  }
}

main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exit(code); }, (err) => {
  console.error(`sluice: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
