// One child process of bench/real.bench.ts: load one model through Sluice's session cache (its
// session options, the float32 conversion of float16 weights) or, with --raw, straight into ONNX
// Runtime, then time steps of it. Prints one JSON line.
//
//   tsx bench/real/ort-step.ts --model FILE --feeds stageC|stageB|matmul --image 1024 --steps 3 [--raw] [--converted DIR] [--device cpu|cuda|webgpu]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { type FloatTensor, SessionCache, float16Weights, readOnnxGraph, resolveDevice, sessionOptionsFor } from "../../server/runtime/index.ts";
import { flag, option, requiredOption } from "../options.ts";

const file = path.resolve(requiredOption("model"));
const kind = requiredOption("feeds");
const image = Number(option("image", "1024"));
const steps = Number(option("steps", "3"));
const raw = flag("raw");

/** Deterministic values (the same in every run): a sine pattern of the given scale. */
function filled(shape: number[], scale = 1, offset = 0): FloatTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = offset + scale * Math.sin(i * 0.61);
  return { data, shape };
}

function feedsFor(width: number): Record<string, FloatTensor> {
  const c = Math.ceil(image / 42.67);
  if (kind === "stageC") {
    return {
      sample: filled([2, 16, c, c]), timestep_ratio: filled([2], 0, 0.5), clip_text_pooled: filled([2, 1, width]),
      clip_text: filled([2, 77, width]), clip_img: filled([2, 1, 768], 0),
    };
  }
  if (kind === "stageB") {
    return { sample: filled([2, 4, image / 4, image / 4]), timestep_ratio: filled([2], 0, 0.5), clip_text_pooled: filled([2, 1, width]), effnet: filled([2, 16, c, c]) };
  }
  // matmul: x [M, K] of the graph's declared shape
  const sig = readOnnxGraph(file);
  const w = sig.initializers.find((t) => t.name === "w")!;
  return { x: filled([Number(option("m", "4096")), w.dims[0]], 0.1) };
}

const device = (await resolveDevice(option("device", "cpu"))).device;
const started = performance.now();
let session: ort.InferenceSession;
let converted = false;
if (raw) {
  session = await ort.InferenceSession.create(file, sessionOptionsFor(device));
} else {
  const cache = new SessionCache({ device, budgetBytes: 64e9, convertedDir: option("converted", path.join(os.tmpdir(), "sluice-float32")) });
  const model = await cache.load(file, { label: path.relative(path.dirname(path.dirname(file)), file) });
  session = model.session;
  converted = device === "cpu" && float16Weights(readOnnxGraph(file)).count > 0;
}
const loadMs = performance.now() - started;
/** A fixed dimension a model declares for an input (the text width), if it declares one. */
function declaredDim(name: string, axis: number): number | undefined {
  const meta = session.inputMetadata.find((m) => m.name === name);
  const d = meta && meta.isTensor ? meta.shape[axis] : undefined;
  return typeof d === "number" ? d : undefined;
}
const width = kind === "matmul" ? 0 : (declaredDim("clip_text_pooled", 2) ?? 1280);
const feeds = Object.fromEntries(Object.entries(feedsFor(width)).map(([k, t]) => [k, new ort.Tensor("float32", t.data, t.shape)]));
const stepMs: number[] = [];
let outMean = 0;
await session.run(feeds); // warm-up: first-run allocations and kernel choices
for (let i = 0; i < steps; i++) {
  const t = performance.now();
  const out = await session.run(feeds);
  stepMs.push(performance.now() - t);
  const first = Object.values(out)[0].data as Float32Array;
  outMean = first.reduce((s, v) => s + Math.abs(v), 0) / first.length;
}
const modelBytes = fs.statSync(file).size + (fs.existsSync(`${file}.data`) ? fs.statSync(`${file}.data`).size : 0);
console.log(JSON.stringify({
  engine: "onnxruntime", device, kind, image, raw, converted, file, modelBytes, loadMs, stepMs, outMean,
  peakRssBytes: process.resourceUsage().maxRSS * 1024, threads: os.availableParallelism(), ort: ort.env.versions.common,
}));
await session.release();
