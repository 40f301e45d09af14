// The memory budget prompts are checked against: `--memory-budget` where given; else a share of
// the device's free memory, decided once at start.
import { execFileSync } from "node:child_process";
import os from "node:os";
import { parseByteSize } from "./memory-profile.ts";

export interface MemoryBudget {
  bytes: number;
  /** How it was decided, in words (GET /api/system shows it). */
  source: "flag" | "ram" | "gpu";
  note: string;
}

/** Share of available RAM (or free device memory) a run may take: the rest stays for everyone else. */
export const RAM_SHARE = 0.7;
export const GPU_SHARE = 0.8;

const gb = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GB`;

/** Free memory of the first NVIDIA GPU (bytes), or undefined where nvidia-smi does not answer. */
function freeGpuBytes(): number | undefined {
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=memory.free", "--format=csv,noheader,nounits"], { encoding: "utf8", timeout: 3000, stdio: ["ignore", "pipe", "ignore"] });
    const mib = Number(out.trim().split("\n")[0]);
    return Number.isFinite(mib) && mib > 0 ? mib * 1024 ** 2 : undefined;
  } catch {
    return undefined;
  }
}

/** RAM available to this process: the system's available memory, within a cgroup limit where one is set. */
function availableRam(): number {
  let available = os.freemem();
  const limit = typeof process.constrainedMemory === "function" ? process.constrainedMemory() : 0;
  if (limit && limit < os.totalmem()) available = Math.min(available, limit - process.memoryUsage().rss);
  return available;
}

/**
 * `flag`: the --memory-budget text ("6GB", "6000MB"); a bad one throws naming it. `device`: the
 * --device asked for; "cuda" budgets free GPU memory (falling back to RAM where nvidia-smi is
 * missing), anything else RAM.
 */
export function decideMemoryBudget(options: { flag?: string; device: string }): MemoryBudget {
  if (options.flag !== undefined) {
    let bytes: number;
    try {
      bytes = parseByteSize(options.flag);
    } catch (err) {
      throw new Error(`--memory-budget: ${(err as Error).message}`);
    }
    return { bytes, source: "flag", note: `--memory-budget ${options.flag}` };
  }
  if (options.device === "cuda") {
    const free = freeGpuBytes();
    if (free !== undefined) return { bytes: Math.floor(free * GPU_SHARE), source: "gpu", note: `${GPU_SHARE * 100}% of the GPU's free memory at start (${gb(free)})` };
  }
  const available = availableRam();
  const rss = process.memoryUsage().rss;
  const bytes = Math.max(0, Math.floor(available * RAM_SHARE) - rss);
  return { bytes, source: "ram", note: `${RAM_SHARE * 100}% of available RAM at start (${gb(available)}) minus the server's own ${gb(rss)}${options.device === "cuda" ? " (nvidia-smi did not answer)" : ""}` };
}
