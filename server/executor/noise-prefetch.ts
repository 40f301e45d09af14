// Per-step sampler noise drawn on a helper thread. A stochastic sampler's fresh noise for step i
// depends only on the seed and the step, not on the model's output, so the sampler announces it as
// soon as step i − 1's model run returns, and the helper draws it while the sampler's thread does
// the rest of step i − 1 (a core ONNX Runtime leaves idle between runs) and, on a GPU, during step
// i's model run. The values are the same as drawing them on the sampler's own thread (the helper
// runs the same fillBatchNoise).
//
// Announcing must cost next to nothing, because it sits between two model runs: the two threads
// share one control block and two growable data buffers for their whole life, and a job is a few
// words written there and one Atomics.notify (a postMessage with a fresh buffer cost about 80 µs).
// Two slots, because step i + 1 is announced before step i's noise is taken.
import { Worker } from "node:worker_threads";
import { batchNoise, seedWords, type NoiseSource, type Seed } from "../diffusion/noise.ts";

/** Word offsets in the control block (an Int32Array over a SharedArrayBuffer). */
export const CONTROL = {
  /** number of the latest job announced (the helper waits on this word); jobs count from 1 */
  JOB: 0,
  /** number of the latest job finished (the sampler waits on this word); the helper takes jobs in order */
  DONE: 1,
  /** non-zero: the helper exits */
  STOP: 2,
  /** where the first slot's words start; job n uses slot n % 2 */
  SLOTS: 4,
} as const;
/** Word offsets within a slot. */
export const SLOT = {
  /** NOISE_DONE or NOISE_FAILED once the slot's job is finished */
  STATUS: 0,
  LENGTH: 1,
  STREAM_LO: 2,
  STREAM_HI: 3,
  /** number of seeds; −1 for one seed given alone (not in a list) */
  SEEDS: 4,
  /** each seed as two words, low then high */
  SEED_WORDS: 5,
} as const;
/** Batches with more seeds than this draw their noise inline. */
export const MAX_SEEDS = 64;
export const SLOT_WORDS = SLOT.SEED_WORDS + 2 * MAX_SEEDS;
export const CONTROL_WORDS = CONTROL.SLOTS + 2 * SLOT_WORDS;
export const NOISE_DONE = 1, NOISE_FAILED = 2;

/** What the helper thread receives at start. */
export interface NoiseThreadData {
  control: SharedArrayBuffer;
  /** one growable buffer per slot; the sampler grows it before announcing a longer draw */
  data: [SharedArrayBuffer, SharedArrayBuffer];
}

export const slotOf = (job: number) => job & 1;
/** Whether job counter `counter` has reached job `job` (job numbers wrap at 2^31). */
export const reached = (counter: number, job: number) => ((counter - job) | 0) >= 0;

/** Draws longer than this (float32 values, 64 MB) happen inline: each data buffer reserves this much address space. */
const MAX_VALUES = 16 * 1024 * 1024;
/** How long a draw waits for the helper before drawing on its own thread (the helper is stuck or gone). */
const WAIT_MS = 5000;

const TWO_POW_32 = 4294967296;
const keyOf = (seed: Seed | readonly Seed[], length: number, stream: number) =>
  `${Array.isArray(seed) ? seed.map(String).join(",") : String(seed)}|${length}|${stream}`;

export class NoisePrefetcher implements NoiseSource {
  private readonly control: Int32Array;
  private readonly data: readonly SharedArrayBuffer[];
  private job = 0;
  /** Jobs announced and not yet drawn, by key. */
  private announced = new Map<string, number>();
  private stopped = false;
  /** Draws served by the helper, and drawn on the caller's thread (not announced, or the helper failed). */
  readonly counts = { prefetched: 0, inline: 0 };

  private constructor(private readonly thread: Worker, shared: NoiseThreadData) {
    this.control = new Int32Array(shared.control);
    this.data = shared.data;
    // A helper that fails or exits is simply not used any more: draws happen inline.
    thread.on("error", () => { this.stopped = true; });
    thread.on("exit", () => { this.stopped = true; });
  }

  static start(): NoisePrefetcher {
    const buffer = () => new SharedArrayBuffer(0, { maxByteLength: 4 * MAX_VALUES });
    const shared: NoiseThreadData = { control: new SharedArrayBuffer(4 * CONTROL_WORDS), data: [buffer(), buffer()] };
    const thread = new Worker(new URL("./noise-thread-entry.mjs", import.meta.url), { workerData: shared });
    thread.unref();
    return new NoisePrefetcher(thread, shared);
  }

  prefetch(seed: Seed | readonly Seed[], length: number, stream: number): void {
    const seeds = Array.isArray(seed) ? (seed as readonly Seed[]) : [seed as Seed];
    if (this.stopped || seeds.length > MAX_SEEDS || length > MAX_VALUES || !Number.isSafeInteger(stream) || stream < 0) return;
    const key = keyOf(seed, length, stream);
    if (this.announced.has(key)) return;
    const c = this.control;
    const job = (this.job + 1) | 0;
    // The slot's previous job (job − 2) must be finished: while the helper still draws it, this
    // one goes inline.
    if (!reached(Atomics.load(c, CONTROL.DONE), job - 2)) return;
    let words: { lo: number; hi: number }[];
    try {
      words = seeds.map(seedWords);
    } catch {
      return; // a bad seed: the inline draw reports it
    }
    // A job the sampler never took (it stopped early) gives up its slot.
    for (const [k, j] of this.announced) if (slotOf(j) === slotOf(job)) this.announced.delete(k);
    const data = this.data[slotOf(job)];
    if (data.byteLength < 4 * length) data.grow(4 * length);
    const base = CONTROL.SLOTS + slotOf(job) * SLOT_WORDS;
    c[base + SLOT.STATUS] = 0;
    c[base + SLOT.LENGTH] = length;
    c[base + SLOT.STREAM_LO] = stream % TWO_POW_32;
    c[base + SLOT.STREAM_HI] = Math.floor(stream / TWO_POW_32);
    c[base + SLOT.SEEDS] = Array.isArray(seed) ? seeds.length : -1;
    words.forEach((w, j) => {
      c[base + SLOT.SEED_WORDS + 2 * j] = w.lo;
      c[base + SLOT.SEED_WORDS + 2 * j + 1] = w.hi;
    });
    this.job = job;
    this.announced.set(key, job);
    // The store publishes the words above to the helper (Atomics are sequentially consistent).
    Atomics.store(c, CONTROL.JOB, job);
    Atomics.notify(c, CONTROL.JOB);
  }

  draw(seed: Seed | readonly Seed[], length: number, stream: number): Float32Array {
    const key = keyOf(seed, length, stream);
    const job = this.announced.get(key);
    if (job === undefined) return this.inline(seed, length, stream);
    this.announced.delete(key);
    const c = this.control;
    // Normally finished long ago; this thread is a worker, so it may block while the helper ends.
    const deadline = performance.now() + WAIT_MS;
    for (let done = Atomics.load(c, CONTROL.DONE); !reached(done, job); done = Atomics.load(c, CONTROL.DONE)) {
      const left = deadline - performance.now();
      if (this.stopped || left <= 0) return this.inline(seed, length, stream);
      Atomics.wait(c, CONTROL.DONE, done, left);
    }
    if (c[CONTROL.SLOTS + slotOf(job) * SLOT_WORDS + SLOT.STATUS] !== NOISE_DONE) return this.inline(seed, length, stream);
    this.counts.prefetched++;
    // A copy: a later job writes into the same buffer.
    return new Float32Array(this.data[slotOf(job)], 0, length).slice();
  }

  private inline(seed: Seed | readonly Seed[], length: number, stream: number): Float32Array {
    this.counts.inline++;
    return batchNoise(seed, length, stream);
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.announced.clear();
    Atomics.store(this.control, CONTROL.STOP, 1);
    Atomics.notify(this.control, CONTROL.JOB);
    await this.thread.terminate();
  }
}
