// Running a loaded model: the declared inputs are checked against what the stage needs (names
// and ranks) before anything runs, fed tensors against the declared shapes, float32 is converted
// to float16 where a model declares float16 I/O, and onnxruntime's errors are translated.
import * as ort from "onnxruntime-node";
import { RuntimeError, translateRunError } from "./errors.ts";
import type { LoadedModel, ValueMeta } from "./sessions.ts";
import { type FloatTensor, float32ToFloat16, fromOrt, shapeSize, toOrt } from "./tensors.ts";

/** What a stage needs of a model input. */
export interface ExpectedInput {
  name: string;
  rank: number;
  kind?: "float" | "int";
}

/** What a stage needs of a model output. */
export interface ExpectedOutput {
  name: string;
  rank?: number;
}

function shapeText(shape: readonly (number | string | null)[] | null): string {
  return shape ? `[${shape.map((d) => (d === null ? "?" : d)).join(", ")}]` : "[unknown]";
}

/**
 * Check a model's declared inputs against what the stage feeds: every expected name present with the
 * expected rank, and nothing else required. Errors name the file and tensor:
 * "prior/model.onnx: expected input 'clip_text' missing (model has: sample, ...)".
 */
export function checkDeclaredInputs(
  label: string,
  declared: readonly { name: string; shape: readonly (number | string | null)[] | null; type?: string }[],
  expected: readonly ExpectedInput[],
  expectedOutputs: readonly ExpectedOutput[] = [],
  declaredOutputs?: readonly { name: string; shape: readonly (number | string | null)[] | null }[],
): void {
  const names = declared.map((d) => d.name);
  for (const exp of expected) {
    const d = declared.find((x) => x.name === exp.name);
    if (!d) {
      throw new RuntimeError("bad-input", `${label}: expected input '${exp.name}' missing (model has: ${names.join(", ") || "no inputs"})`, { file: label, tensor: exp.name });
    }
    if (d.shape && d.shape.length > 0 && d.shape.length !== exp.rank) {
      throw new RuntimeError("bad-input", `${label}: input '${exp.name}' has rank ${d.shape.length} ${shapeText(d.shape)}, expected rank ${exp.rank}`, { file: label, tensor: exp.name });
    }
    if (d.type && exp.kind) {
      const isFloat = /float/.test(d.type);
      const isInt = /int/.test(d.type);
      if ((exp.kind === "float" && !isFloat) || (exp.kind === "int" && !isInt)) {
        throw new RuntimeError("bad-input", `${label}: input '${exp.name}' is ${d.type}, expected a ${exp.kind === "float" ? "float" : "integer"} tensor`, { file: label, tensor: exp.name });
      }
    }
  }
  const extra = declared.filter((d) => !expected.some((e) => e.name === d.name));
  if (extra.length) {
    throw new RuntimeError(
      "bad-input",
      `${label}: model has input${extra.length > 1 ? "s" : ""} ${extra.map((e) => `'${e.name}'`).join(", ")} that Sluice does not feed (expected: ${expected.map((e) => e.name).join(", ")})`,
      { file: label, tensor: extra[0].name },
    );
  }
  if (declaredOutputs) {
    const outNames = declaredOutputs.map((o) => o.name);
    for (const exp of expectedOutputs) {
      const o = declaredOutputs.find((x) => x.name === exp.name);
      if (!o) throw new RuntimeError("bad-input", `${label}: expected output '${exp.name}' missing (model has: ${outNames.join(", ")})`, { file: label, tensor: exp.name });
      if (exp.rank !== undefined && o.shape && o.shape.length > 0 && o.shape.length !== exp.rank) {
        throw new RuntimeError("bad-input", `${label}: output '${exp.name}' has rank ${o.shape.length} ${shapeText(o.shape)}, expected rank ${exp.rank}`, { file: label, tensor: exp.name });
      }
    }
  }
}

function checkFedShape(label: string, meta: ValueMeta, dims: readonly number[]): void {
  if (!meta.shape.length) return;
  if (meta.shape.length !== dims.length) {
    throw new RuntimeError("bad-input", `${label}: input '${meta.name}' given shape [${dims.join(", ")}], the model expects ${shapeText(meta.shape)}`, { file: label, tensor: meta.name });
  }
  meta.shape.forEach((d, i) => {
    if (typeof d === "number" && d > 0 && d !== dims[i]) {
      throw new RuntimeError(
        "bad-input",
        `${label}: input '${meta.name}' given shape [${dims.join(", ")}], the model expects ${shapeText(meta.shape)} (dimension ${i} must be ${d})`,
        { file: label, tensor: meta.name },
      );
    }
  });
}

export type Feed = FloatTensor | ort.Tensor;

function isFloatTensor(v: Feed): v is FloatTensor {
  return (v as FloatTensor).data instanceof Float32Array && Array.isArray((v as FloatTensor).shape);
}

/** Milliseconds spent inside ONNX Runtime's run(), per model label: what benchmarks subtract. */
const timeInside = new Map<string, { ms: number; calls: number }>();
let totalInside = 0;

export function modelTimings(): Record<string, { ms: number; calls: number }> {
  return Object.fromEntries([...timeInside].map(([k, v]) => [k, { ...v }]));
}

export function resetModelTimings(): void {
  timeInside.clear();
}

/** All milliseconds spent inside ONNX Runtime's run() by this thread so far (never reset). */
export function totalModelMs(): number {
  return totalInside;
}

/**
 * ONNX Runtime tensors of feeds seen before: a sampler feeds the same conditioning at every step,
 * and wrapping it (converting it, for a float16 model) once is enough. Feeds are never changed in
 * place after a run, so the data array identifies the tensor.
 */
const wrappedFeeds = new WeakMap<Float32Array, { type: string; dims: string; tensor: ort.Tensor }>();

function ortFeed(v: FloatTensor, type: "float32" | "float16"): ort.Tensor {
  const dims = v.shape.join(",");
  const hit = wrappedFeeds.get(v.data);
  if (hit && hit.type === type && hit.dims === dims) return hit.tensor;
  const tensor = toOrt(v, type);
  wrappedFeeds.set(v.data, { type, dims, tensor });
  return tensor;
}

/**
 * Check feeds against a model (every input given with a shape it accepts, nothing it lacks, the
 * outputs asked for exist) and wrap them for ONNX Runtime. `own` names float feeds whose arrays
 * the caller will rewrite between runs: they get tensors of their own instead of the shared ones.
 */
function wrapFeeds(model: LoadedModel, feeds: Record<string, Feed>, fetch: readonly string[], own: readonly string[] = []): Record<string, ort.Tensor> {
  const label = model.label;
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const meta of model.inputs) {
    const v = feeds[meta.name];
    if (v === undefined) {
      throw new RuntimeError("bad-input", `${label}: input '${meta.name}' was not given (given: ${Object.keys(feeds).join(", ")})`, { file: label, tensor: meta.name });
    }
    if (isFloatTensor(v)) {
      checkFedShape(label, meta, v.shape);
      const type = meta.type === "float16" ? "float16" : "float32";
      ortFeeds[meta.name] = own.includes(meta.name) ? toOrt(v, type) : ortFeed(v, type);
    } else {
      checkFedShape(label, meta, v.dims);
      ortFeeds[meta.name] = v;
    }
  }
  for (const name of Object.keys(feeds)) {
    if (!model.inputs.some((m) => m.name === name)) {
      throw new RuntimeError("bad-input", `${label}: model has no input '${name}' (model has: ${model.inputs.map((m) => m.name).join(", ")})`, { file: label, tensor: name });
    }
  }
  for (const name of fetch) {
    if (!model.outputs.some((o) => o.name === name)) {
      throw new RuntimeError("bad-input", `${label}: expected output '${name}' missing (model has: ${model.outputs.map((o) => o.name).join(", ")})`, { file: label, tensor: name });
    }
  }
  return ortFeeds;
}

function account(label: string, ms: number): void {
  const entry = timeInside.get(label);
  if (entry) {
    entry.ms += ms;
    entry.calls += 1;
  } else {
    timeInside.set(label, { ms, calls: 1 });
  }
  totalInside += ms;
}

/**
 * Session runs of these wrapped feeds, each timed into the model's account, errors translated,
 * resolving to `finish` of the result. One reaction on ONNX Runtime's promise, not a chain of async
 * functions, and its handlers made once, not per call: a sampler runs this every step, and each
 * layer of awaiting, like each closure made under tsx (it also sets the closure's name), costs about
 * a microsecond between model runs. Calls come one at a time, each awaited before the next.
 */
function timedRunner<T>(
  model: LoadedModel, ortFeeds: Record<string, ort.Tensor>, fetches: ort.InferenceSession.FetchesType,
  finish: (result: ort.InferenceSession.ReturnType) => T,
): () => Promise<T> {
  let started = 0;
  const done = (result: ort.InferenceSession.ReturnType) => {
    account(model.label, performance.now() - started);
    return finish(result);
  };
  const failed = (e: unknown): never => {
    throw translateRunError(e, model.label, model.device);
  };
  return () => {
    started = performance.now();
    return model.session.run(ortFeeds, fetches).then(done, failed);
  };
}

/** A run's fetched outputs as float32 tensors, each one checked to be there. */
function floatOutputs(model: LoadedModel, fetch: readonly string[]): (result: ort.InferenceSession.ReturnType) => Record<string, FloatTensor> {
  return (result) => {
    const out: Record<string, FloatTensor> = {};
    for (const name of fetch) {
      const t = result[name];
      if (!t) throw new RuntimeError("run-failed", `${model.label}: output '${name}' was not produced`, { file: model.label, tensor: name });
      out[name] = fromOrt(t as ort.Tensor);
    }
    return out;
  };
}

/**
 * Run a loaded model. Float feeds are converted to the declared input type (float16 models with
 * float16 I/O get converted values); outputs come back as float32 tensors. `outputs` limits what
 * is fetched (default: all).
 */
export async function runModel(model: LoadedModel, feeds: Record<string, Feed>, outputs?: readonly string[]): Promise<Record<string, FloatTensor>> {
  const fetch = outputs ? [...outputs] : model.outputs.map((o) => o.name);
  return timedRunner(model, wrapFeeds(model, feeds, fetch), fetch, floatOutputs(model, fetch))();
}

/**
 * A run prepared for many calls whose feeds change only in value, as a sampler's steps do: names
 * and shapes are checked and the feeds wrapped once. The float feeds named in `changing` are the
 * caller's to rewrite between calls (in place, same length); a float32 tensor shares its array, and
 * a float16 one is converted again before each call.
 *
 * With `outputShapes`, float32 outputs are written by ONNX Runtime straight into arrays allocated
 * here once: every call returns the same arrays, overwritten by the next call.
 */
export function prepareRun(
  model: LoadedModel, feeds: Record<string, FloatTensor>, changing: readonly string[], outputs: readonly string[],
  outputShapes: Record<string, readonly number[]> = {},
): () => Promise<Record<string, FloatTensor>> {
  const ortFeeds = wrapFeeds(model, feeds, outputs, changing);
  const converted = changing.filter((name) => ortFeeds[name].type === "float16");
  const reconvert = () => {
    for (const name of converted) (ortFeeds[name].data as Uint16Array).set(float32ToFloat16(feeds[name].data));
  };
  const preallocated = outputs.every((name) => outputShapes[name] && model.outputs.find((o) => o.name === name)?.type === "float32");
  let run: () => Promise<Record<string, FloatTensor>>;
  if (preallocated) {
    const out: Record<string, FloatTensor> = {};
    const fetches: Record<string, ort.Tensor> = {};
    for (const name of outputs) {
      const shape = [...outputShapes[name]];
      out[name] = { data: new Float32Array(shapeSize(shape)), shape };
      fetches[name] = new ort.Tensor("float32", out[name].data, shape);
    }
    run = timedRunner(model, ortFeeds, fetches, () => out);
  } else {
    run = timedRunner(model, ortFeeds, outputs, floatOutputs(model, outputs));
  }
  return () => {
    reconvert();
    return run();
  };
}
