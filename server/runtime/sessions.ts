// The session cache: one onnxruntime session per (file, device, options), loaded asynchronously
// (concurrent loads of the same key share one promise), unloaded least-recently-used when the
// estimated memory of the loaded models exceeds a budget. Sessions in use (pinned by `use`) are
// never released under a running model.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import type { ModelLoading } from "../../nodes/events.ts";
import { type Device, type DeviceChoice, sessionOptionsFor } from "./device.ts";
import { RuntimeError, translateLoadError } from "./errors.ts";
import { convertFloat16Model } from "./float16.ts";
import { findGraphHazards } from "./hazards.ts";
import { type OnnxGraph, float16Weights, readOnnxGraph } from "./onnx-graph.ts";
import { OnnxParseError, readModelSignature } from "./onnx-proto.ts";

export interface ValueMeta {
  name: string;
  type: string;
  /** Numbers for fixed dimensions, strings for symbolic ones. */
  shape: (number | string)[];
}

export interface LoadedModel {
  key: string;
  file: string;
  /** How the file is named in messages (pack-relative, e.g. "prior/model.onnx"). */
  label: string;
  device: Device;
  session: ort.InferenceSession;
  /** Estimated memory: the model file plus its external data. */
  bytes: number;
  inputs: ValueMeta[];
  outputs: ValueMeta[];
}

export interface SessionCacheOptions {
  /** The device sessions run on unless a load names another (a resolved choice or a device name). */
  device: DeviceChoice | Device;
  /** Unload least-recently-used models when the loaded total exceeds this (default 60% of RAM). */
  budgetBytes?: number;
  log?: (line: string) => void;
  /** Replaces ort.InferenceSession.create (tests). */
  create?: (file: string, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
  /**
   * Where float32 copies of float16 models are kept for the CPU (default: sluice-float32 in the
   * system's temporary folder). A copy is made once per model file and reused.
   */
  convertedDir?: string;
  /**
   * Once no model has run for this long, models whose arena (see chargeArena) is larger than their
   * weights are released: loading them again costs less than the memory they hold. Default 30 s.
   */
  idleGiveBackMs?: number;
}

/**
 * A model load under way, for progress displays: sent when each phase starts, about every second
 * while float16 weights are converted, and when the session is ready. ONNX Runtime's Node binding
 * creates a session synchronously, blocking the thread that asked for it, so nothing is sent while
 * it loads: a display on another thread (the CLI's ticker) or in another process (the server, for
 * an executor's load) counts the time against `expectedMs`. The event the server sends is the same
 * with the prompt and node added.
 */
export type LoadProgress = Omit<ModelLoading, "promptId" | "nodeId">;

export interface LoadOptions {
  label?: string;
  device?: Device;
  /** Extra session options (part of the cache key). */
  sessionOptions?: Partial<ort.InferenceSession.SessionOptions>;
  /**
   * Load float16 weights as they are on the CPU too (no float32 copy): what a GPU gets, for
   * tests and benchmarks of that path. Part of the cache key.
   */
  keepFloat16?: boolean;
  /**
   * What a loaded session takes beyond its files (a pack's memory profile, the one the prompt
   * check uses): the budget counts file bytes × weightFactor + sessionBytes. Default: the files.
   */
  residency?: ModelResidency;
}

export interface ModelResidency {
  weightFactor: number;
  sessionBytes: number;
}

/** Memory a session of a model with `fileBytes` of weights takes, as the budget counts it. */
export function residentBytes(fileBytes: number, residency: ModelResidency | undefined): number {
  return residency ? Math.ceil(fileBytes * residency.weightFactor) + residency.sessionBytes : fileBytes;
}

/** Models smaller than this load without progress lines in the log. */
const PROGRESS_LOG_BYTES = 200e6;

export interface SessionCacheStats {
  loaded: { file: string; label: string; device: Device; bytes: number; pinned: boolean }[];
  totalBytes: number;
  budgetBytes: number;
  loads: number;
  hits: number;
  evictions: number;
}

interface Entry {
  key: string;
  promise: Promise<LoadedModel>;
  model?: LoadedModel;
  /** What the budget counts: the model's weights, plus its arena once a run has measured it. */
  bytes: number;
  arenaBytes: number;
  pins: number;
  lastUsed: number;
  released: boolean;
}

/** Bytes a model will take, estimated from the .onnx file and the external data files it names. */
export function estimateModelBytes(file: string): number {
  let bytes = fs.statSync(file).size;
  let external: string[] = [];
  try {
    external = readModelSignature(file).externalData;
  } catch {
    external = [`${path.basename(file)}.data`];
  }
  for (const rel of external) {
    const p = path.join(path.dirname(file), rel);
    if (fs.existsSync(p)) bytes += fs.statSync(p).size;
  }
  return bytes;
}

/** Bytes a model will take once loaded on `device`: on the CPU, float16 weights become float32. */
export function estimateLoadedBytes(file: string, device: Device): number {
  const bytes = estimateModelBytes(file);
  return device === "cpu" ? bytes + float16Weights(readOnnxGraph(file)).bytes : bytes;
}

function gb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(0)} MB`;
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/**
 * Check a model file before handing it to onnxruntime, so the common problems get a clear error:
 * missing file, not an ONNX model (truncated, garbage), missing external data.
 */
export function preflightModel(file: string, label: string): void {
  if (!fs.existsSync(file)) throw new RuntimeError("missing-file", `${label}: file not found (${file})`, { file: label });
  let sig;
  try {
    sig = readModelSignature(file);
  } catch (e) {
    if (e instanceof OnnxParseError) {
      throw new RuntimeError("corrupt-model", `${label}: not a valid ONNX model, the file is corrupt or truncated (${e.message}). Download or export it again.`, { file: label, cause: e });
    }
    throw e;
  }
  for (const rel of sig.externalData) {
    const p = path.join(path.dirname(file), rel);
    if (!fs.existsSync(p)) {
      throw new RuntimeError(
        "missing-external-data",
        `${label}: its external weights file '${rel}' is missing (expected beside the model at ${p}). Big models keep their weights in model.onnx.data: copy or download it too.`,
        { file: label },
      );
    }
  }
  checkGraphHazards(readOnnxGraph(file), label);
}

/**
 * Refuse a graph with a node known to crash or be refused by ONNX Runtime (hazards.ts), naming the
 * node: such a model must never reach session creation, where a crash ends the process.
 */
export function checkGraphHazards(graph: OnnxGraph, label: string): void {
  const hazards = findGraphHazards(graph.nodes);
  if (!hazards.length) return;
  const h = hazards[0];
  const more = hazards.length > 1 ? ` (${hazards.length - 1} more node${hazards.length > 2 ? "s" : ""} like it)` : "";
  throw new RuntimeError(
    "unsafe-graph",
    `${label}: node '${h.node}' (${h.opType}) ${h.problem}${more}. Sluice refuses to load this model.`,
    { file: label, op: h.opType, node: h.node },
  );
}

/**
 * What a pack needs of sessions and devices: load a model file on the device (checked, converted
 * where the device needs it, within the memory budget), pin it while it runs, release it. The
 * SessionCache below is the implementation; a pack knows nothing else of ONNX Runtime's sessions.
 */
export interface ModelSessions {
  readonly defaultDevice: Device;
  load(file: string, options?: LoadOptions): Promise<LoadedModel>;
  isLoaded(model: LoadedModel): boolean;
  hold(model: LoadedModel): (() => Promise<void>) | undefined;
  useLoaded<T>(model: LoadedModel, fn: (model: LoadedModel) => Promise<T>): Promise<T>;
  unload(file: string, options?: LoadOptions, why?: string): Promise<boolean>;
  chargeArena(model: LoadedModel, bytes: number): Promise<void>;
  clear(): Promise<void>;
  stats(): SessionCacheStats;
  onLoadProgress(listener: (p: LoadProgress) => void): () => void;
}

export class SessionCache implements ModelSessions {
  readonly budgetBytes: number;
  readonly defaultDevice: Device;
  private entries = new Map<string, Entry>();
  private plainKeys = new Map<string, string>();
  private clock = 0;
  private counters = { loads: 0, hits: 0, evictions: 0 };
  private log: (line: string) => void;
  private create: (file: string, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
  private convertedDir: string;
  private progressListeners = new Set<(p: LoadProgress) => void>();
  private readonly idleGiveBackMs: number;
  private idleTimer?: ReturnType<typeof setTimeout>;
  private pinned = 0;
  /** Bytes per millisecond ONNX Runtime loaded at last time (for the estimated fraction). */
  private loadRate = 250e3;

  constructor(options: SessionCacheOptions) {
    this.defaultDevice = typeof options.device === "string" ? options.device : options.device.device;
    this.budgetBytes = options.budgetBytes ?? Math.floor(os.totalmem() * 0.6);
    this.log = options.log ?? (() => {});
    this.create = options.create ?? ((file, opts) => ort.InferenceSession.create(file, opts));
    this.convertedDir = options.convertedDir ?? path.join(os.tmpdir(), "sluice-float32");
    this.idleGiveBackMs = options.idleGiveBackMs ?? 30_000;
  }

  /** Listen to model loads (progress displays); returns the function that stops listening. */
  onLoadProgress(listener: (p: LoadProgress) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  private emitProgress(p: LoadProgress): void {
    for (const l of this.progressListeners) {
      try {
        l(p);
      } catch {
        // a display's error is not the load's
      }
    }
  }

  /**
   * The file ONNX Runtime should load for `file` on `device`: on the CPU a model with float16
   * weights becomes a float32 copy, made once (see float16.ts); elsewhere the file itself.
   */
  private fileForDevice(file: string, label: string, device: Device, graph: OnnxGraph, started: number): string {
    if (device !== "cpu") return file;
    const half = float16Weights(graph);
    if (!half.count) return file;
    const externalFiles = [...new Set(graph.initializers.flatMap((t) => (t.external ? [path.join(path.dirname(file), t.external.location)] : [])))];
    let lastTick = 0;
    const progress = (fraction: number) => {
      const now = performance.now();
      if (now - lastTick < 1000 && fraction < 1) return;
      lastTick = now;
      this.emitProgress({ label, phase: "converting", fraction, bytes: half.bytes * 2, elapsedMs: now - started });
      if (half.bytes * 2 >= PROGRESS_LOG_BYTES) this.log(`converting ${label} to float32 for the CPU: ${Math.round(fraction * 100)}%`);
    };
    progress(0);
    let conversion;
    try {
      conversion = convertFloat16Model(file, this.convertedDir, { externalFiles, float16Bytes: half.bytes, onProgress: progress });
    } catch (e) {
      throw new RuntimeError("load-failed", `${label}: its float16 weights could not be converted to float32 for the CPU: ${(e as Error).message}`, { file: label, cause: e });
    }
    this.log(conversion.converted
      ? `${label}: ${conversion.tensors} float16 weights converted to float32 for the CPU in ${(conversion.ms / 1000).toFixed(1)} s (kept in ${path.dirname(conversion.file)})`
      : `${label}: float32 copy of its float16 weights reused (${path.dirname(conversion.file)})`);
    return conversion.file;
  }

  keyOf(file: string, options: LoadOptions = {}): string {
    const device = options.device ?? this.defaultDevice;
    // Asked on every model run: the common case (absolute path, default options) is remembered.
    const memo = !options.sessionOptions && !options.keepFloat16 && path.isAbsolute(file) ? `${device}\0${file}` : undefined;
    const known = memo === undefined ? undefined : this.plainKeys.get(memo);
    if (known !== undefined) return known;
    const key = stableStringify({ file: path.resolve(file), device, options: options.sessionOptions ?? {}, ...(options.keepFloat16 ? { keepFloat16: true } : {}) });
    if (memo !== undefined) this.plainKeys.set(memo, key);
    return key;
  }

  /** Whether a model load() gave is still loaded (not evicted or unloaded since). */
  isLoaded(model: LoadedModel): boolean {
    const e = this.entries.get(model.key);
    return !!e && e.model === model && !e.released;
  }

  has(file: string, options: LoadOptions = {}): boolean {
    const e = this.entries.get(this.keyOf(file, options));
    return !!e?.model && !e.released;
  }

  /** The loaded model for `file`, loading it (once, however many callers ask at the same time). */
  load(file: string, options: LoadOptions = {}): Promise<LoadedModel> {
    const key = this.keyOf(file, options);
    const hit = this.entries.get(key);
    if (hit) {
      this.counters.hits++;
      hit.lastUsed = ++this.clock;
      return hit.promise;
    }
    const label = options.label ?? file;
    const device = options.device ?? this.defaultDevice;
    const entry: Entry = { key, promise: undefined as unknown as Promise<LoadedModel>, bytes: 0, arenaBytes: 0, pins: 0, lastUsed: ++this.clock, released: false };
    entry.promise = (async () => {
      const started = performance.now();
      preflightModel(file, label);
      const loadFile = options.keepFloat16 ? file : this.fileForDevice(file, label, device, readOnnxGraph(file), started);
      entry.bytes = residentBytes(estimateModelBytes(loadFile), options.residency);
      if (entry.bytes > this.budgetBytes) {
        throw new RuntimeError(
          "over-budget",
          `${label}: needs about ${gb(entry.bytes)} of memory${loadFile !== file ? " (its weights as float32, as the CPU runs them)" : ""}, more than the whole memory budget of ${gb(this.budgetBytes)}. ` +
            "Raise the memory budget, or use a smaller pack (a lite Stage C or B).",
          { file: label },
        );
      }
      // Make room first, so a big model does not have to share memory with the ones it replaces.
      await this.evict(entry.bytes, key);
      const opts = sessionOptionsFor(device, options.sessionOptions);
      let session: ort.InferenceSession;
      const loadStart = performance.now();
      const expectedMs = Math.max(1, entry.bytes / this.loadRate);
      this.emitProgress({ label, phase: "loading", fraction: 0, bytes: entry.bytes, elapsedMs: loadStart - started, expectedMs });
      if (entry.bytes >= PROGRESS_LOG_BYTES) this.log(`loading ${label} (${gb(entry.bytes)}) on ${device}: about ${Math.round(expectedMs / 1000)} s`);
      try {
        session = await this.create(loadFile, opts);
      } catch (e) {
        throw translateLoadError(e, label, device);
      }
      const loadMs = performance.now() - loadStart;
      if (entry.bytes >= PROGRESS_LOG_BYTES) this.loadRate = entry.bytes / Math.max(1, loadMs);
      this.emitProgress({ label, phase: "loaded", fraction: 1, bytes: entry.bytes, elapsedMs: performance.now() - started });
      this.counters.loads++;
      const meta = (list: readonly ort.InferenceSession.ValueMetadata[] | undefined, names: readonly string[]): ValueMeta[] =>
        names.map((name) => {
          const m = list?.find((x) => x.name === name);
          return m && m.isTensor ? { name, type: m.type, shape: [...m.shape] } : { name, type: "unknown", shape: [] };
        });
      const model: LoadedModel = {
        key, file, label, device, session, bytes: entry.bytes,
        inputs: meta(session.inputMetadata, session.inputNames),
        outputs: meta(session.outputMetadata, session.outputNames),
      };
      entry.model = model;
      this.log(`loaded ${label} on ${device} (${(entry.bytes / 1e6).toFixed(1)} MB, ${(loadMs / 1000).toFixed(1)} s)`);
      return model;
    })();
    entry.promise.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    this.entries.set(key, entry);
    return entry.promise;
  }

  /** Run `fn` with the model loaded and pinned (it cannot be unloaded while `fn` runs). */
  async use<T>(file: string, fn: (model: LoadedModel) => Promise<T>, options: LoadOptions = {}): Promise<T> {
    const model = await this.load(file, options);
    if (!this.isLoaded(model)) return this.use(file, fn, options); // unloaded between load and use: load again
    return this.useLoaded(model, fn);
  }

  /**
   * Like use(), for a model load() already gave: skips the lookup by file, which every run would
   * otherwise repeat. A model unloaded since is loaded again (with default options).
   */
  async useLoaded<T>(model: LoadedModel, fn: (model: LoadedModel) => Promise<T>): Promise<T> {
    const release = this.hold(model);
    if (!release) return this.use(model.file, fn, { label: model.label, device: model.device });
    try {
      return await fn(model);
    } finally {
      await release();
    }
  }

  /**
   * Pin a model load() gave, so that no eviction or unload releases it, until the returned function
   * is called (a sampler holds its stage for all its steps). Undefined when it is no longer loaded.
   */
  hold(model: LoadedModel): (() => Promise<void>) | undefined {
    if (!this.isLoaded(model)) return undefined;
    const entry = this.entries.get(model.key)!;
    entry.pins++;
    this.pinned++;
    clearTimeout(this.idleTimer);
    entry.lastUsed = ++this.clock;
    let held = true;
    return async () => {
      if (!held) return;
      held = false;
      entry.pins--;
      if (--this.pinned === 0) {
        this.idleTimer = setTimeout(() => void this.giveBackArenas(), this.idleGiveBackMs);
        this.idleTimer.unref();
      }
      if (entry.released && entry.pins === 0) await model.session.release().catch(() => {});
    };
  }

  /** Release the idle models whose arena outweighs their weights. */
  async giveBackArenas(): Promise<void> {
    for (const e of [...this.entries.values()]) {
      if (e.model && !e.released && e.pins === 0 && e.arenaBytes > e.model.bytes) {
        await this.release(e, "idle, its arena larger than its weights");
      }
    }
  }

  /** Release least-recently-used, unpinned models until `incoming` more bytes fit in the budget. */
  private async evict(incoming: number, except: string): Promise<void> {
    const loaded = () => [...this.entries.values()].filter((e) => e.model && !e.released && e.key !== except);
    let total = loaded().reduce((s, e) => s + e.bytes, 0);
    if (total + incoming <= this.budgetBytes) return;
    const victims = loaded().filter((e) => e.pins === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const v of victims) {
      if (total + incoming <= this.budgetBytes) break;
      await this.release(v, "over the memory budget");
      this.counters.evictions++;
      total -= v.bytes;
    }
    if (total + incoming > this.budgetBytes) {
      this.log(`memory budget ${(this.budgetBytes / 1e6).toFixed(0)} MB exceeded: ${((total + incoming) / 1e6).toFixed(0)} MB needed by models in use`);
    }
  }

  private async release(entry: Entry, why: string): Promise<void> {
    entry.released = true;
    this.entries.delete(entry.key);
    this.log(`unloaded ${entry.model?.label ?? entry.key} (${why})`);
    if (entry.model && entry.pins === 0) await entry.model.session.release().catch(() => {});
  }

  /**
   * Count what a model's runs keep in ONNX Runtime's arena (its largest run so far) against the
   * budget beside its weights, releasing least-recently-used other models that no longer fit. The
   * arena is given back with the model when the budget needs the room, or when the runtime has
   * been idle for `idleGiveBackMs` and the arena is the larger part (see giveBackArenas).
   */
  async chargeArena(model: LoadedModel, bytes: number): Promise<void> {
    const entry = this.entries.get(model.key);
    if (!entry || entry.model !== model || entry.released || bytes <= entry.arenaBytes) return;
    entry.arenaBytes = bytes;
    entry.bytes = model.bytes + bytes;
    await this.evict(entry.bytes, entry.key);
  }

  /** Unload one model now (waits for no run: a pinned model is released when its run ends). */
  async unload(file: string, options: LoadOptions = {}, why = "asked"): Promise<boolean> {
    const entry = this.entries.get(this.keyOf(file, options));
    if (!entry) return false;
    await entry.promise.catch(() => {});
    if (!entry.model) return false;
    await this.release(entry, why);
    return true;
  }

  async clear(): Promise<void> {
    for (const e of [...this.entries.values()]) {
      await e.promise.catch(() => {});
      if (e.model && !e.released) {
        await this.release(e, "cleared");
      }
    }
  }

  stats(): SessionCacheStats {
    const loaded = [...this.entries.values()].filter((e) => e.model && !e.released).sort((a, b) => a.lastUsed - b.lastUsed);
    return {
      loaded: loaded.map((e) => ({ file: e.model!.file, label: e.model!.label, device: e.model!.device, bytes: e.bytes, pinned: e.pins > 0 })),
      totalBytes: loaded.reduce((s, e) => s + e.bytes, 0),
      budgetBytes: this.budgetBytes,
      ...this.counters,
    };
  }
}
