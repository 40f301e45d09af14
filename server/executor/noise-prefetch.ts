// Per-step sampler noise drawn on a helper thread while the model runs. A stochastic sampler's
// fresh noise for step i depends only on the seed and the step, not on the model's output, so it
// can be computed during step i's model run instead of after it: on a GPU the CPU is idle then,
// and on the CPU ONNX Runtime leaves part of a core free. The values are the same as drawing them
// on the sampler's own thread (the helper runs the same fillBatchNoise).
import { Worker } from "node:worker_threads";
import { batchNoise, type NoiseSource, type Seed } from "../diffusion/noise.ts";

/** The flag word at the start of a job's shared buffer. */
export const NOISE_PENDING = 0, NOISE_DONE = 1, NOISE_FAILED = 2;

/** A job for the helper: fill the float32 values after the flag word, then set and notify the flag. */
export interface NoiseJob {
  seed: Seed | readonly Seed[];
  stream: number;
  buffer: SharedArrayBuffer;
}

/** Draws announced but never taken (a sampler cancelled or finished early) are dropped beyond this. */
const MAX_PENDING = 8;
/** How long a draw waits for the helper before drawing on its own thread (the helper is stuck or gone). */
const WAIT_MS = 5000;

const keyOf = (seed: Seed | readonly Seed[], length: number, stream: number) =>
  `${Array.isArray(seed) ? seed.map(String).join(",") : String(seed)}|${length}|${stream}`;

export class NoisePrefetcher implements NoiseSource {
  private pending = new Map<string, SharedArrayBuffer>();
  private stopped = false;
  /** Draws served by the helper, and drawn on the caller's thread (not announced, or the helper failed). */
  readonly counts = { prefetched: 0, inline: 0 };

  private constructor(private readonly thread: Worker) {
    // A helper that fails or exits is simply not used any more: draws happen inline.
    thread.on("error", () => { this.stopped = true; });
    thread.on("exit", () => { this.stopped = true; });
  }

  static start(): NoisePrefetcher {
    const thread = new Worker(new URL("./noise-thread-entry.mjs", import.meta.url));
    thread.unref();
    return new NoisePrefetcher(thread);
  }

  prefetch(seed: Seed | readonly Seed[], length: number, stream: number): void {
    const key = keyOf(seed, length, stream);
    if (this.stopped || this.pending.has(key)) return;
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
    const buffer = new SharedArrayBuffer(4 + 4 * length);
    this.pending.set(key, buffer);
    this.thread.postMessage({ seed, stream, buffer } satisfies NoiseJob);
  }

  draw(seed: Seed | readonly Seed[], length: number, stream: number): Float32Array {
    const key = keyOf(seed, length, stream);
    const buffer = this.pending.get(key);
    if (!buffer) return this.inline(seed, length, stream);
    this.pending.delete(key);
    const flag = new Int32Array(buffer, 0, 1);
    // Normally done long ago (it ran beside the model); this thread is a worker, so it may block.
    Atomics.wait(flag, 0, NOISE_PENDING, WAIT_MS);
    if (Atomics.load(flag, 0) !== NOISE_DONE) return this.inline(seed, length, stream);
    this.counts.prefetched++;
    // A view of the shared buffer, not a copy: the job is done and nothing else holds the buffer.
    return new Float32Array(buffer, 4, length);
  }

  private inline(seed: Seed | readonly Seed[], length: number, stream: number): Float32Array {
    this.counts.inline++;
    return batchNoise(seed, length, stream);
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.pending.clear();
    await this.thread.terminate();
  }
}
