// server/runtime: ONNX Runtime sessions, device choice, model packs, tensors and the tokenizer.
// See docs/runtime.md.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { type DeviceChoice, type DeviceRequest, resolveDevice } from "./device.ts";
import { RuntimeError } from "./errors.ts";
import { type Pack, type PackSummary, listPacks, loadPack } from "./pack.ts";
import { SessionCache } from "./sessions.ts";

export * from "./device.ts";
export * from "./errors.ts";
export * from "./float16.ts";
export * from "./hazards.ts";
export * from "./onnx-graph.ts";
export * from "./manifest.ts";
export * from "./memory-profile.ts";
export * from "./model.ts";
export * from "./onnx-proto.ts";
export * from "./pack.ts";
export * from "./discovery.ts";
export * from "./processing.ts";
export * from "./specs.ts";
export * from "./tiling.ts";
export * from "./pack-memory.ts";
export * from "./sessions.ts";
export * from "./tensors.ts";
export * from "./tokenizer.ts";

export interface CascadeRuntimeOptions {
  /** --device (default auto). */
  device?: DeviceRequest | string;
  /** --models: a folder of packs (or one pack). */
  modelsDir: string;
  /** Memory budget of loaded models in bytes (default 60% of RAM). */
  budgetBytes?: number;
  /** Where float32 copies of float16 models are kept for the CPU (see SessionCacheOptions). */
  convertedDir?: string;
  log?: (line: string) => void;
}

/** Total memory of the first CUDA GPU (from nvidia-smi), or undefined where it cannot be read. */
export function cudaMemoryBytes(): number | undefined {
  const r = spawnSync("nvidia-smi", ["--query-gpu=memory.total", "--format=csv,noheader,nounits"], { encoding: "utf8", timeout: 5000 });
  const mib = r.status === 0 ? Number(r.stdout.trim().split("\n")[0]) : NaN;
  return Number.isFinite(mib) && mib > 0 ? mib * 1024 * 1024 : undefined;
}

/**
 * What a host hands to the stage nodes (services.runtime): the chosen device, one session cache
 * shared by every pack, and the packs of the models folder, each loaded once.
 */
export class CascadeRuntime {
  readonly device: DeviceChoice;
  readonly sessions: SessionCache;
  readonly modelsDir: string;
  private packs = new Map<string, Promise<Pack>>();

  private constructor(device: DeviceChoice, sessions: SessionCache, modelsDir: string) {
    this.device = device;
    this.sessions = sessions;
    this.modelsDir = modelsDir;
  }

  static async create(options: CascadeRuntimeOptions): Promise<CascadeRuntime> {
    const device = await resolveDevice(options.device ?? "auto", { log: options.log });
    // On CUDA the sessions' weights live in the GPU's memory: that is what the budget is about.
    const gpuBytes = device.device === "cuda" && options.budgetBytes === undefined ? cudaMemoryBytes() : undefined;
    if (gpuBytes) options.log?.(`memory budget: 90% of the GPU's ${(gpuBytes / 1e9).toFixed(1)} GB`);
    const budgetBytes = options.budgetBytes ?? (gpuBytes ? Math.floor(gpuBytes * 0.9) : undefined);
    const sessions = new SessionCache({ device, budgetBytes, convertedDir: options.convertedDir, log: options.log });
    return new CascadeRuntime(device, sessions, path.resolve(options.modelsDir));
  }

  listPacks(): PackSummary[] {
    return listPacks(this.modelsDir);
  }

  /** A pack by folder name (as listPacks gives it), loaded once. */
  pack(name: string): Promise<Pack> {
    let p = this.packs.get(name);
    if (!p) {
      const found = this.listPacks().find((s) => s.name === name);
      if (!found) {
        const known = this.listPacks().map((s) => s.name);
        return Promise.reject(new RuntimeError("missing-pack", `pack '${name}' not found in ${this.modelsDir} (found: ${known.join(", ") || "none"})`, { file: path.join(this.modelsDir, name) }));
      }
      p = loadPack(found.dir, { sessions: this.sessions });
      p.catch(() => this.packs.delete(name));
      this.packs.set(name, p);
    }
    return p;
  }
}
export * from "./budget.ts";
