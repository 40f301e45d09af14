// One measured run for bench/memory.bench.ts, in its own process so each size's peak RSS is its
// own: runs templates/text-to-image.json on a pack at one size and prints one JSON line with the
// resident set before, at its peak (VmHWM) and after the run.
//
//   tsx bench/memory-child.ts --width 256 --height 256 --compression 8 [--pack tiny] [--arena on|off]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { executeWorkflow, OutputCache, parseWorkflow } from "../server/engine/index.ts";
import { createNodeHost } from "../server/executor/node-host.ts";
import { option } from "./options.ts";

const ROOT = join(import.meta.dirname, "..");

/** Resident set now and at its peak, from /proc (bytes). */
function rss(): { now: number; peak: number } {
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { now: kb("VmRSS"), peak: kb("VmHWM") };
}

const temp = mkdtempSync(join(tmpdir(), "sluice-membench-"));
const host = await createNodeHost({ outputsDir: temp, uploadsDir: temp, tempDir: temp, modelsDir: option("models", join(ROOT, "models")), device: "cpu" }, () => {});
const workflow = parseWorkflow(JSON.parse(readFileSync(join(ROOT, "templates", "text-to-image.json"), "utf8")));
for (const n of workflow.nodes) {
  if (n.type === "LoadCascadePack") n.inputs.pack = option("pack", "tiny");
  if (n.type === "EmptyCascadeLatent") Object.assign(n.inputs, { width: Number(option("width", "64")), height: Number(option("height", "64")), compression: Number(option("compression", "8")), batch: Number(option("batch", "1")) });
}
const before = rss().now;
const started = performance.now();
// No output cache: what stays resident afterwards is the runtime's, not cached tensors.
await executeWorkflow({ promptId: "membench", workflow, registry: host.registry, cache: new OutputCache(0), services: host.servicesFor("membench"), signal: new AbortController().signal });
const ms = performance.now() - started;
const peak = rss().peak;
(globalThis as { gc?: () => void }).gc?.();
await new Promise((r) => setTimeout(r, 200));
const after = rss().now;
await host.dispose();
rmSync(temp, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ before, peak, after, ms })}\n`);
