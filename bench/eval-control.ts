// The control evals of `npm run eval`: image prompts, the canny ControlNet and inpainting, each on
// held-out scenes through the bundled templates (their LoadImage nodes fed the rendered scene).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cannyPlane, lumaPlane } from "../nodes/canny.ts";
import { pixelsToPlanes, tensorToPixels } from "../nodes/image-tensor.ts";
import type { NodeDef, Tensor, Workflow, WorkflowNode } from "../nodes/schema.ts";
import { executeWorkflow, type OutputCache, parseWorkflow } from "../server/engine/index.ts";
import type { NodeServices } from "../nodes/schema.ts";
import { edgeAgreement, maskedPsnr, objectBox } from "./control-metrics.ts";
import { POSITIONS, caption, jitterScene, mulberry32, renderScene, scoreImage, type Expectation, type PositionName } from "./scorer.ts";

export interface ControlEvalEnv {
  root: string;
  registry: Map<string, NodeDef>;
  services: NodeServices;
  cache: OutputCache;
  packName: string;
  size: number;
  steps: { c: number; b: number; cfgC: number; cfgB: number; sampler: string; samplerB: string };
  seed: number;
  /** whether the pack has a super-resolution ControlNet (its section runs only then) */
  superResolution: boolean;
  /** the sections to run (all when absent): image (with two images), canny, inpaint, super_resolution */
  parts?: ReadonlySet<ControlEvalPart>;
}

export const CONTROL_EVAL_PARTS = ["image", "canny", "inpaint", "super_resolution"] as const;
export type ControlEvalPart = (typeof CONTROL_EVAL_PARTS)[number];

export interface ControlEvalResult {
  imagePrompt: number;
  /** colour, position and shape of every object */
  imagePromptShape: number;
  imagePromptItems: number;
  twoImages: number;
  twoImagesItems: number;
  canny: number;
  cannyWithout: number;
  cannyItems: number;
  inpaintPsnrRaw: number;
  inpaintPsnrComposited: number;
  inpaintObject: number;
  inpaintObjectWithout: number;
  inpaintItems: number;
  /** PSNR (dB) at a quarter of the size, output against the scene; absent without the ControlNet */
  superResolution?: number;
  superResolutionWithout?: number;
  superResolutionItems: number;
}

const CANNY = { low: 0.1, high: 0.2 };

/** Bytes (HWC RGB, or RGBA with `alpha`) as an image tensor [1, C, H, W]. */
function toTensor(rgb: Uint8Array, size: number, alpha?: Uint8Array): Tensor {
  const channels = alpha ? 4 : 3;
  const px = new Uint8Array(size * size * channels);
  for (let p = 0; p < size * size; p++) {
    for (let c = 0; c < 3; c++) px[p * channels + c] = rgb[p * 3 + c];
    if (alpha) px[p * 4 + 3] = alpha[p];
  }
  const data = new Float32Array(channels * size * size);
  pixelsToPlanes(px, size, size, channels, data, 0);
  return { data, shape: [1, channels, size, size] };
}

/** RGB bytes (HWC) averaged over k × k blocks: the picture at 1/k of its size, rounded to bytes. */
function blockMeans(rgb: Uint8Array, size: number, k: number): Uint8Array {
  const n = size / k, out = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) sum += rgb[((y * k + dy) * size + x * k + dx) * 3 + c];
    out[(y * n + x) * 3 + c] = Math.round(sum / (k * k));
  }
  return out;
}

function edgesOf(rgb: Uint8Array, size: number): Float32Array {
  const t = toTensor(rgb, size);
  return cannyPlane(lumaPlane(t.data, 0, 3, size, size), size, size, CANNY.low, CANNY.high);
}

export async function controlEvals(env: ControlEvalEnv, prompts: (Expectation & { prompt: string })[], log: (s: string) => void): Promise<ControlEvalResult> {
  const { size } = env;
  // In-memory stand-ins for LoadImage (by key) and SaveImage (capture by node id).
  const images = new Map<string, { image: Tensor; mask: Tensor }>();
  const captured = new Map<string, Tensor>();
  env.registry.set("EvalImage", {
    type: "EvalImage", displayName: "Eval image", category: "eval", description: "an in-memory image", inputs: [{ name: "key", type: "STRING", default: "" }],
    outputs: [{ name: "image", type: "IMAGE" }, { name: "mask", type: "MASK" }], volatile: true,
    execute({ key }) { return images.get(String(key))!; },
  });
  env.registry.set("EvalCaptureAt", {
    type: "EvalCaptureAt", displayName: "Eval capture", category: "eval", description: "keeps an image", output: true, volatile: true,
    inputs: [{ name: "image", type: "IMAGE" }, { name: "key", type: "STRING", default: "" }], outputs: [],
    execute({ image, key }) { captured.set(String(key), image as Tensor); return { ui: {} }; },
  });
  const template = (name: string): Workflow => {
    const wf = parseWorkflow(JSON.parse(readFileSync(join(env.root, "templates", `${name}.json`), "utf8")));
    for (const n of wf.nodes) {
      if (n.type === "LoadCascadePack" || n.type === "LoadControlNet") n.inputs.pack = env.packName;
      if (n.type === "LoadImage") n.type = "EvalImage", n.inputs = { key: n.id };
      if (n.type === "SaveImage") n.type = "EvalCaptureAt", n.inputs = { image: n.inputs.image, key: "out" };
      if (n.type === "CascadeSampler") {
        const isC = n.id === "5";
        Object.assign(n.inputs, { steps: isC ? env.steps.c : env.steps.b, cfg: isC ? env.steps.cfgC : env.steps.cfgB, sampler: isC ? env.steps.sampler : env.steps.samplerB });
      }
    }
    return wf;
  };
  const nodeOf = (wf: Workflow, id: string): WorkflowNode => wf.nodes.find((n) => n.id === id)!;
  const run = async (wf: Workflow, seed: number): Promise<Map<string, Tensor>> => {
    nodeOf(wf, "5").inputs.seed = seed;
    nodeOf(wf, "7").inputs.seed = seed + 1;
    captured.clear();
    await executeWorkflow({ promptId: "eval", workflow: wf, registry: env.registry, cache: env.cache, services: env.services });
    return new Map(captured);
  };
  const bytes = (t: Tensor) => tensorToPixels(t, 0).data;
  const blank = { data: new Float32Array(size * size), shape: [1, 1, size, size] } satisfies Tensor;
  const rand = mulberry32(env.seed * 7919 + 17);

  const runs = (part: ControlEvalPart) => !env.parts || env.parts.has(part);
  // Image prompts: the scene's picture is the whole prompt (empty text).
  let carried = 0, shaped = 0;
  for (const [i, p] of (runs("image") ? prompts : []).entries()) {
    const scene = jitterScene(p, rand);
    const wf = template("image-prompt-two-images");
    // one image: the sampler and Stage B read the first image's conditioning
    wf.nodes = wf.nodes.filter((n) => n.id !== "21" && n.id !== "23");
    nodeOf(wf, "5").inputs.positive = { node: "22", output: "conditioning" };
    nodeOf(wf, "6").inputs.conditioning = { node: "22", output: "conditioning" };
    images.set("20", { image: toTensor(renderScene(scene, size), size), mask: blank });
    const out = await run(wf, env.seed + i);
    const score = scoreImage({ data: bytes(out.get("out")!), width: size, height: size, channels: 3 }, p);
    if (score.colorPosition) carried++;
    if (score.shape) shaped++;
    log(`\rimage prompts ${i + 1}/${prompts.length}`);
  }
  log("\n");
  // Two images mixed: each object of a two-object scene alone in its own image.
  const pairs = prompts.filter((p) => p.objects.length === 2);
  let mixed = 0;
  for (const [i, p] of (runs("image") ? pairs : []).entries()) {
    const scene = jitterScene(p, rand);
    const wf = template("image-prompt-two-images");
    images.set("20", { image: toTensor(renderScene({ background: scene.background, objects: [scene.objects[0]] }, size), size), mask: blank });
    images.set("21", { image: toTensor(renderScene({ background: scene.background, objects: [scene.objects[1]] }, size), size), mask: blank });
    const out = await run(wf, env.seed + 500 + i);
    if (scoreImage({ data: bytes(out.get("out")!), width: size, height: size, channels: 3 }, p).colorPosition) mixed++;
    log(`\rtwo images ${i + 1}/${pairs.length}`);
  }
  log("\n");

  // Canny: the prompt is the scene's caption; the control is the edges of its picture.
  let canny = 0, cannyWithout = 0;
  for (const [i, p] of (runs("canny") ? prompts : []).entries()) {
    const scene = jitterScene(p, rand);
    const picture = renderScene(scene, size);
    const control = edgesOf(picture, size);
    for (const strength of [1, 0]) {
      const wf = template("canny-controlnet");
      nodeOf(wf, "2").inputs.text = caption(p);
      nodeOf(wf, "23").inputs.strength = strength;
      images.set("20", { image: toTensor(picture, size), mask: blank });
      const out = await run(wf, env.seed + 1000 + i);
      const score = edgeAgreement(edgesOf(bytes(out.get("out")!), size), control, size, size, 1);
      if (strength) canny += score;
      else cannyWithout += score;
    }
    log(`\rcanny ${i + 1}/${prompts.length}`);
  }
  log("\n");

  // Inpainting: a two-object scene with its second object's box masked out (transparent) and the
  // full caption as the prompt; the object must come back in the box, the rest must stay.
  const psnrRaw: number[] = [], psnrComp: number[] = [];
  let object = 0, objectWithout = 0;
  for (const [i, p] of (runs("inpaint") ? pairs : []).entries()) {
    const scene = jitterScene(p, rand);
    const target = scene.objects[1];
    const [cx, cy] = POSITIONS[target.position as PositionName];
    const box = objectBox(cx + (target.dx ?? 0), cy + (target.dy ?? 0), target.r ?? 7, size);
    const rest = renderScene({ background: scene.background, objects: [scene.objects[0]] }, size);
    const alpha = box.map((v) => (v ? 0 : 255));
    // the template grows the mask by 2 pixels: the kept area is outside the grown box
    const keep = new Uint8Array(size * size);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
      let near = false;
      for (let dy = -2; dy <= 2 && !near; dy++) for (let dx = -2; dx <= 2 && !near; dx++) {
        const yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < size && xx >= 0 && xx < size && box[yy * size + xx]) near = true;
      }
      keep[y * size + x] = near ? 0 : 1;
    }
    for (const strength of [1, 0]) {
      const wf = template("inpaint");
      nodeOf(wf, "2").inputs.text = caption(p);
      nodeOf(wf, "23").inputs.strength = strength;
      wf.nodes.push({ id: "90", type: "EvalCaptureAt", inputs: { image: { node: "8", output: "image" }, key: "raw" } });
      const image = toTensor(rest, size, alpha);
      const mask: Tensor = { data: Float32Array.from(box), shape: [1, 1, size, size] };
      images.set("20", { image: { data: image.data.slice(0, 3 * size * size), shape: [1, 3, size, size] }, mask });
      const out = await run(wf, env.seed + 2000 + i);
      const composited = bytes(out.get("out")!);
      const found = scoreImage({ data: composited, width: size, height: size, channels: 3 }, { background: p.background, objects: [p.objects[1]] }).colorPosition;
      if (strength) {
        psnrRaw.push(maskedPsnr(bytes(out.get("raw")!), rest, keep));
        psnrComp.push(maskedPsnr(composited, rest, keep));
        if (found) object++;
      } else if (found) objectWithout++;
    }
    log(`\rinpaint ${i + 1}/${pairs.length}`);
  }
  log("\n");

  // Super-resolution: the scene rendered at a quarter of the size is the control, its caption the
  // prompt; measured at that quarter size, the output's 4×4 block means against the scene's.
  const srDb: number[] = [], srDbWithout: number[] = [];
  const quarter = size / 4, everyPixel = new Uint8Array(quarter * quarter).fill(1);
  for (const [i, p] of (runs("super_resolution") && env.superResolution ? prompts : []).entries()) {
    const scene = jitterScene(p, rand);
    const target = blockMeans(renderScene(scene, size), size, 4);
    for (const strength of [1, 0]) {
      const wf = template("super-resolution");
      nodeOf(wf, "2").inputs.text = caption(p);
      nodeOf(wf, "23").inputs.strength = strength;
      images.set("20", { image: toTensor(renderScene(scene, quarter), quarter), mask: blank });
      const out = await run(wf, env.seed + 3000 + i);
      (strength ? srDb : srDbWithout).push(maskedPsnr(blockMeans(bytes(out.get("out")!), size, 4), target, everyPixel));
    }
    log(`\rsuper-resolution ${i + 1}/${prompts.length}`);
  }
  if (srDb.length) log("\n");
  // PSNR averaged as mean squared error (one dB figure for the whole set), capped at 99 dB.
  const meanPsnr = (xs: number[]) => {
    const mse = xs.reduce((s, v) => s + (Number.isFinite(v) ? 255 * 255 / 10 ** (v / 10) : 0), 0) / xs.length;
    return mse === 0 ? 99 : Math.min(99, 10 * Math.log10((255 * 255) / mse));
  };
  return {
    imagePrompt: carried / prompts.length, imagePromptShape: shaped / prompts.length, imagePromptItems: prompts.length,
    twoImages: pairs.length ? mixed / pairs.length : 0, twoImagesItems: pairs.length,
    canny: canny / prompts.length, cannyWithout: cannyWithout / prompts.length, cannyItems: prompts.length,
    inpaintPsnrRaw: meanPsnr(psnrRaw), inpaintPsnrComposited: meanPsnr(psnrComp),
    inpaintObject: pairs.length ? object / pairs.length : 0, inpaintObjectWithout: pairs.length ? objectWithout / pairs.length : 0, inpaintItems: pairs.length,
    ...(srDb.length ? { superResolution: meanPsnr(srDb), superResolutionWithout: meanPsnr(srDbWithout) } : {}), superResolutionItems: srDb.length,
  };
}
