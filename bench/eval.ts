// Prompt adherence of a pack, scored from the pixels (the data set is synthetic, so colour, shape
// and position can be read back). Generates through the normal engine from the held-out prompts
// at the pack's default settings, plus the two-prompt composition template on held-out pairs.
//
//   npm run eval [-- --cfg N] [-- --pack tiny --models DIR --limit N --seed S --no-composition]
//                [-- --prompts FILE]   (another list of {prompt, background, objects})
//                [-- --no-control] [-- --control-only]   (the image prompt / ControlNet / inpaint lines)
//                [-- --control-parts image,canny,inpaint,super_resolution]   (only these control sections; the others print 0)
// Results go to bench/results/ only for the bundled pack on the held-out prompts.
//
// Prints the lines below and writes bench/results/eval.json.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Tensor, Workflow } from "../nodes/schema.ts";
import { tensorToPixels } from "../nodes/image-tensor.ts";
import { executeWorkflow, OutputCache, parseWorkflow } from "../server/engine/index.ts";
import { createNodeHost } from "../server/executor/node-host.ts";
import type { CascadeRuntime } from "../server/runtime/index.ts";
import { CONTROL_EVAL_PARTS, type ControlEvalPart, controlEvals, type ControlEvalResult } from "./eval-control.ts";
import { aggregate, caption, scoreImage, scorerCeiling, type Expectation, type SceneScore } from "./scorer.ts";
import { flag, option } from "./options.ts";

const ROOT = join(import.meta.dirname, "..");
const packName = option("pack") ?? "tiny";
const modelsDir = option("models") ?? join(ROOT, "models");
const limit = option("limit") ? Number(option("limit")) : Infinity;
const baseSeed = Number(option("seed") ?? 1);

const temp = mkdtempSync(join(tmpdir(), "sluice-eval-"));
const host = await createNodeHost({ outputsDir: temp, uploadsDir: temp, tempDir: temp, modelsDir, device: option("device") ?? "cpu" }, () => {});
const runtime = host.servicesFor("eval").runtime as CascadeRuntime;
const pack = await runtime.pack(packName);
const m = pack.manifest;
const cfgC = option("cfg") !== undefined ? Number(option("cfg")) : m.stageC.cfg;
const [width, height] = m.resolution.default;

// A capture node stands in for SaveImage so images stay in memory.
let captured: Tensor | undefined;
host.registry.set("EvalCapture", {
  type: "EvalCapture", displayName: "Eval capture", category: "eval", description: "keeps the image for scoring", output: true,
  inputs: [{ name: "image", type: "IMAGE" }], outputs: [],
  execute({ image }) { captured = image as Tensor; return { ui: {} }; },
});

function load(name: string): Workflow {
  const wf = parseWorkflow(JSON.parse(readFileSync(join(ROOT, "templates", `${name}.json`), "utf8")));
  for (const n of wf.nodes) {
    if (n.type === "LoadCascadePack") n.inputs.pack = packName;
    if (n.type === "SaveImage") n.type = "EvalCapture", n.inputs = { image: n.inputs.image };
    if (n.type === "EmptyCascadeLatent") Object.assign(n.inputs, { width, height, compression: m.stageC.compression });
  }
  return wf;
}

/** The pack's defaults on both samplers of a template (Stage C: node ids in `cNodes`). */
function defaults(wf: Workflow, cNodes: string[], seed: number): Workflow {
  for (const n of wf.nodes) {
    if (n.type !== "CascadeSampler") continue;
    const isC = cNodes.includes(n.id);
    const stage = isC ? m.stageC : m.stageB;
    Object.assign(n.inputs, { steps: stage.steps, cfg: isC ? cfgC : stage.cfg, sampler: stage.sampler, seed: isC ? seed : seed + 1 });
  }
  return wf;
}

function setText(wf: Workflow, nodeId: string, text: string): void {
  wf.nodes.find((n) => n.id === nodeId)!.inputs.text = text;
}

const cache = new OutputCache(256 * 1024 ** 2);
async function generate(wf: Workflow): Promise<Uint8Array> {
  captured = undefined;
  await executeWorkflow({ promptId: "eval", workflow: wf, registry: host.registry, cache, services: host.servicesFor("eval") });
  if (!captured) throw new Error("the workflow produced no image");
  const px = tensorToPixels(captured, 0);
  return px.data;
}

const promptFile = option("prompts") ?? join(ROOT, "bench", "heldout-prompts.json");
const prompts: (Expectation & { prompt: string })[] = JSON.parse(readFileSync(promptFile, "utf8")).slice(0, limit);
const started = performance.now();
const scored: { expectation: Expectation; score: SceneScore }[] = [];
const controlOnly = flag("control-only");
for (const [i, p] of (controlOnly ? [] : prompts).entries()) {
  const wf = defaults(load("text-to-image"), ["5"], baseSeed + i);
  setText(wf, "2", p.prompt);
  const rgb = await generate(wf);
  scored.push({ expectation: p, score: scoreImage({ data: rgb, width, height, channels: 3 }, p) });
  process.stderr.write(`\rgenerating ${i + 1}/${prompts.length}`);
}
process.stderr.write("\n");

// Composition: the object pairs of the held-out two-object prompts, the first object placed on
// the left and the second on the right; the left half of the Stage C latent comes from the left
// object's prompt and the right half from the right object's.
const pairs = flag("no-composition") || controlOnly ? [] : prompts.filter((p) => p.objects.length === 2);
let compositionOk = 0;
for (const [i, p] of pairs.entries()) {
  const left = { ...p.objects[0], position: "left" }, right = { ...p.objects[1], position: "right" };
  const wf = defaults(load("two-prompt-composition"), ["5", "12"], baseSeed + 1000 + i);
  setText(wf, "2", caption({ background: p.background, objects: [left] }));
  setText(wf, "11", caption({ background: p.background, objects: [right] }));
  setText(wf, "14", caption({ background: p.background, objects: [left, right] }));
  const rgb = await generate(wf);
  if (scoreImage({ data: rgb, width, height, channels: 3 }, { background: p.background, objects: [left, right] }).colorPosition) compositionOk++;
  process.stderr.write(`\rcomposing ${i + 1}/${pairs.length}`);
}
process.stderr.write("\n");

/** --control-parts: a comma-separated subset of the control sections. */
function controlParts(list: string): Set<ControlEvalPart> {
  const parts = list.split(",");
  const unknown = parts.filter((p) => !(CONTROL_EVAL_PARTS as readonly string[]).includes(p));
  if (unknown.length) throw new Error(`--control-parts: unknown ${unknown.join(", ")} (known: ${CONTROL_EVAL_PARTS.join(", ")})`);
  return new Set(parts as ControlEvalPart[]);
}

// Image prompts, the ControlNets and inpainting, where the pack has what they need.
let control: ControlEvalResult | undefined;
const hasControl = pack.has("clipVision") && m.controlnets.canny && m.controlnets.inpaint;
if (!flag("no-control") && hasControl) {
  control = await controlEvals({
    root: ROOT, registry: host.registry, services: host.servicesFor("eval"), cache, packName, size: width, seed: baseSeed,
    superResolution: !!m.controlnets.super_resolution,
    ...(option("control-parts") ? { parts: controlParts(option("control-parts")!) } : {}),
    steps: { c: m.stageC.steps, b: m.stageB.steps, cfgC, cfgB: m.stageB.cfg, sampler: m.stageC.sampler, samplerB: m.stageB.sampler },
  }, prompts, (s) => process.stderr.write(s));
}

const a = aggregate(scored);
const ceiling = scorerCeiling(prompts, width);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const composition = pairs.length ? compositionOk / pairs.length : 0;
console.log(`pack ${packName}: ${prompts.length} held-out prompts, Stage C cfg ${cfgC}, ${m.stageC.steps}+${m.stageB.steps} steps (${m.stageC.sampler}/${m.stageB.sampler}), ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (!controlOnly) {
  console.log(`scorer ceiling (real images): ${pct(ceiling)}`);
  console.log(`single-object colour+position: ${pct(a.singleColorPosition)}`);
  console.log(`single-object shape: ${pct(a.singleShape)}`);
  console.log(`two-object colour+position: ${pct(a.twoColorPosition)}`);
  console.log(`two-object shape: ${pct(a.twoShape)}`);
}
if (pairs.length) console.log(`two-prompt composition (each side follows its prompt, ${pairs.length} pairs): ${pct(composition)}`);
if (control) {
  console.log(`image prompt carried: ${pct(control.imagePrompt)}`);
  console.log(`  with the shapes too: ${pct(control.imagePromptShape)}`);
  console.log(`  two images mixed (one object each, ${control.twoImagesItems} pairs): ${pct(control.twoImages)}`);
  console.log(`canny edges followed: ${pct(control.canny)}`);
  console.log(`  without the ControlNet (strength 0, prompt alone): ${pct(control.cannyWithout)}`);
  console.log(`inpaint kept outside mask: ${control.inpaintPsnrRaw.toFixed(1)} dB`);
  console.log(`  after the template's composite through the mask: ${control.inpaintPsnrComposited >= 99 ? "exact" : `${control.inpaintPsnrComposited.toFixed(1)} dB`}`);
  console.log(`inpaint object in mask: ${pct(control.inpaintObject)}`);
  console.log(`  without the ControlNet (masked sampling and prompt alone): ${pct(control.inpaintObjectWithout)}`);
  if (control.superResolution !== undefined) {
    console.log(`super-resolution kept the small picture: ${control.superResolution.toFixed(1)} dB`);
    console.log(`  without the ControlNet (strength 0, prompt alone): ${control.superResolutionWithout!.toFixed(1)} dB`);
  }
} else if (!flag("no-control")) console.log(`(no control lines: pack ${packName} lacks a CLIP vision model or a canny / inpaint ControlNet)`);

// Only the bundled pack on the held-out prompts is the recorded result; other runs just print.
if (option("prompts") !== undefined || option("models") !== undefined || option("pack") !== undefined || controlOnly || option("limit") !== undefined) {
  await host.dispose();
  process.exit(0);
}
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
// The default run is eval.json; a --cfg override goes beside it, so both can be compared.
const resultFile = option("cfg") !== undefined ? `eval-cfg${cfgC}.json` : "eval.json";
writeFileSync(join(ROOT, "bench", "results", resultFile), JSON.stringify({
  date: new Date().toISOString(), pack: packName, cfg: cfgC, prompts: prompts.length,
  scorerCeiling: ceiling, singleColorPosition: a.singleColorPosition, singleShape: a.singleShape,
  twoColorPosition: a.twoColorPosition, twoShape: a.twoShape, composition, compositionPairs: pairs.length,
  ...(control ? { control } : {}),
}, null, 2) + "\n");
await host.dispose();
