// Per-step sampler noise drawn on a helper thread. A stochastic sampler's fresh noise for step i
// depends only on the seed and the step, not on the model's output, so a sampler announces its
// steps' noise ahead and the helper draws it beside the model runs: on a GPU the CPU is idle then,
// and on the CPU ONNX Runtime leaves the second core idle about 40% of a tiny-pack run (its small
// operators run on one thread). The values are the same as drawing them on the sampler's own
// thread (the helper runs the same fillBatchNoise).
//
// Announcing must cost next to nothing: waking a sleeping thread costs about 50 µs on a small
// virtual machine, so a sampler announces many steps at once and wakes the helper once. The two threads
// share, for their whole life, a control block with a ring of job descriptors and one growable
// data buffer that jobs fill one after another.
import { Worker } from "node:worker_threads";
import { batchNoise, seedWords, type NoiseSource, type Seed } from "../diffusion/noise.ts";

/** Word offsets in the control block (an Int32Array over a SharedArrayBuffer). */
export const CONTROL = {
  /** number of the latest job announced (the helper waits on this word); jobs count from 1 */
  JOB: 0,
  /** number of the latest job finished (a draw waits on this word); the helper takes jobs in order */
  DONE: 1,
  /** non-zero: the helper exits */
  STOP: 2,
  /** where the ring of job descriptors starts; job n uses descriptor n % RING */
  JOBS: 4,
} as const;
/** Word offsets within a job descriptor. */
export const JOB = {
  /** NOISE_DONE or NOISE_FAILED once the job is finished */
  STATUS: 0,
  /** where the job's values start in the data buffer (float32 index) */
  OFFSET: 1,
  LENGTH: 2,
  STREAM_LO: 3,
  STREAM_HI: 4,
  /** number of seeds; −1 for one seed given alone (not in a list) */
  SEEDS: 5,
  /** each seed as two words, low then high */
  SEED_WORDS: 6,
} as const;
/** Job descriptors: how many draws can be announced and not yet drawn. */
export const RING = 64;
/** Batches with more seeds than this draw their noise inline. */
export const MAX_SEEDS = 64;
export const JOB_WORDS = JOB.SEED_WORDS + 2 * MAX_SEEDS;
export const CONTROL_WORDS = CONTROL.JOBS + RING * JOB_WORDS;
export const NOISE_DONE = 1, NOISE_FAILED = 2;

/** What the helper thread receives at start. */
export interface NoiseThreadData {
  control: SharedArrayBuffer;
  /** growable; grown by the announcing side before it announces values past its end */
  data: SharedArrayBuffer;
}

export const descriptorOf = (job: number) => CONTROL.JOBS + (job & (RING - 1)) * JOB_WORDS;
/** Whether job counter `counter` has reached job `job` (job numbers wrap at 2^31). */
export const reached = (counter: number, job: number) => ((counter - job) | 0) >= 0;

/** Values announced and not yet drawn may take this much by default (float32 values, 64 MB); beyond it draws happen inline. */
const MAX_VALUES = 16 * 1024 * 1024;
/** How long a draw waits for the helper before drawing on its own thread (the helper is stuck or gone). */
const WAIT_MS = 5000;

const TWO_POW_32 = 4294967296;

/** Whether two seeds (or lists of seeds) are the same seeds: 5, 5n and "5" are. */
function sameSeed(a: Seed | readonly Seed[], b: Seed | readonly Seed[]): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((s: Seed, j) => sameSeed(s, b[j] as Seed));
  }
  return String(a) === String(b);
}

/** A job announced and not yet drawn: what it draws, its number and where its values go. */
interface Place {
  seed: Seed | readonly Seed[];
  stream: number;
  length: number;
  job: number;
  offset: number;
}

export class NoisePrefetcher implements NoiseSource {
  private readonly control: Int32Array;
  private readonly data: SharedArrayBuffer;
  private job = 0;
  /**
   * Jobs announced and not yet drawn, in the order announced: their values lie from the first
   * one's offset to `end`, wrapping at `capacity`. A sampler draws in that order, so a draw finds
   * its job first in the list (compared field by field: a key string costs more than the search).
   */
  private live: Place[] = [];
  /** Where the next job's values go in the data buffer. */
  private end = 0;
  /** Jobs written since the helper was last woken. */
  private unannounced = false;
  private stopped = false;
  /** Draws served by the helper, and drawn on the caller's thread (not announced, or the helper failed). */
  readonly counts = { prefetched: 0, inline: 0 };

  private constructor(private readonly thread: Worker, shared: NoiseThreadData, private readonly capacity: number) {
    this.control = new Int32Array(shared.control);
    this.data = shared.data;
    // A helper that fails or exits is simply not used any more: draws happen inline.
    thread.on("error", () => { this.stopped = true; });
    thread.on("exit", () => { this.stopped = true; });
  }

  /** `capacity`: float32 values the data buffer may grow to (it reserves that much address space). */
  static start(capacity = MAX_VALUES): NoisePrefetcher {
    const shared: NoiseThreadData = {
      control: new SharedArrayBuffer(4 * CONTROL_WORDS),
      data: new SharedArrayBuffer(0, { maxByteLength: 4 * capacity }),
    };
    // Compiled, the helper's code lies beside this module's (dist/); from source it runs through tsx.
    const entry = import.meta.url.endsWith(".ts") ? "./noise-thread-entry.mjs" : "./noise-thread.js";
    const thread = new Worker(new URL(entry, import.meta.url), { workerData: shared });
    thread.unref();
    return new NoisePrefetcher(thread, shared, capacity);
  }

  /**
   * Writes a job for the helper. It starts at the next `wake()` or `draw()`, so that a sampler
   * announcing all its steps wakes the helper once.
   */
  prefetch(seed: Seed | readonly Seed[], length: number, stream: number): void {
    const seeds = Array.isArray(seed) ? (seed as readonly Seed[]) : [seed as Seed];
    if (this.stopped || length <= 0 || seeds.length > MAX_SEEDS || !Number.isSafeInteger(stream) || stream < 0) return;
    if (this.find(seed, length, stream) >= 0) return;
    const c = this.control;
    const job = (this.job + 1) | 0;
    // The descriptor's previous job must be finished and taken (or forgotten).
    if (this.live.some((p) => p.job === job - RING)) return;
    if (!reached(Atomics.load(c, CONTROL.DONE), job - RING)) return;
    const offset = this.place(length);
    if (offset === undefined) return;
    let words: { lo: number; hi: number }[];
    try {
      words = seeds.map(seedWords);
    } catch {
      return; // a bad seed: the inline draw reports it
    }
    if (this.data.byteLength < 4 * (offset + length)) this.data.grow(4 * (offset + length));
    const d = descriptorOf(job);
    c[d + JOB.STATUS] = 0;
    c[d + JOB.OFFSET] = offset;
    c[d + JOB.LENGTH] = length;
    c[d + JOB.STREAM_LO] = stream % TWO_POW_32;
    c[d + JOB.STREAM_HI] = Math.floor(stream / TWO_POW_32);
    c[d + JOB.SEEDS] = Array.isArray(seed) ? seeds.length : -1;
    for (let j = 0; j < words.length; j++) {
      c[d + JOB.SEED_WORDS + 2 * j] = words[j].lo;
      c[d + JOB.SEED_WORDS + 2 * j + 1] = words[j].hi;
    }
    this.end = offset + length;
    this.job = job;
    this.live.push({ seed, stream, length, job, offset });
    // The store publishes the words above to the helper (Atomics are sequentially consistent).
    Atomics.store(c, CONTROL.JOB, job);
    this.unannounced = true;
  }

  /**
   * Where `length` values can go without touching a job not yet drawn: after the last job, or from
   * the start of the buffer when that is free up to the oldest one. (Values of forgotten jobs the
   * helper still writes may be overwritten: it writes jobs in order, so the newer job's values win.)
   */
  private place(length: number): number | undefined {
    if (this.live.length === 0) return length <= this.capacity ? 0 : undefined;
    const first = this.live[0].offset;
    if (this.end > first) {
      if (this.end + length <= this.capacity) return this.end;
      return length <= first ? 0 : undefined;
    }
    return this.end + length <= first ? this.end : undefined;
  }

  /** Wakes the helper for the jobs written since it last woke. */
  wake(): void {
    if (!this.unannounced) return;
    this.unannounced = false;
    Atomics.notify(this.control, CONTROL.JOB);
  }

  /** Where the job drawing these values is in `live`, or −1. */
  private find(seed: Seed | readonly Seed[], length: number, stream: number): number {
    return this.live.findIndex((p) => p.stream === stream && p.length === length && sameSeed(p.seed, seed));
  }

  draw(seed: Seed | readonly Seed[], length: number, stream: number): Float32Array {
    const at = this.find(seed, length, stream);
    if (at < 0) return this.inline(seed, length, stream);
    this.wake();
    const [{ job, offset }] = this.live.splice(at, 1);
    const c = this.control;
    if (!reached(Atomics.load(c, CONTROL.DONE), job)) {
      // Normally finished long ago; this thread is a worker, so it may block while the helper ends.
      const deadline = performance.now() + WAIT_MS;
      for (let done = Atomics.load(c, CONTROL.DONE); !reached(done, job); done = Atomics.load(c, CONTROL.DONE)) {
        const left = deadline - performance.now();
        if (this.stopped || left <= 0) return this.inline(seed, length, stream);
        Atomics.wait(c, CONTROL.DONE, done, left);
      }
    }
    if (c[descriptorOf(job) + JOB.STATUS] !== NOISE_DONE) return this.inline(seed, length, stream);
    this.counts.prefetched++;
    // A view, valid until the next prefetch may place a job over it (see NoiseSource.draw).
    return new Float32Array(this.data, 4 * offset, length);
  }

  /** Drops jobs announced and not drawn (a sampler that stopped early); the helper may still finish them. */
  forget(): void {
    this.live = [];
  }

  private inline(seed: Seed | readonly Seed[], length: number, stream: number): Float32Array {
    this.counts.inline++;
    return batchNoise(seed, length, stream);
  }

  /** Stops the helper: it leaves its loop at once; the thread ends on its own (it is unref'd). */
  async close(): Promise<void> {
    this.stopped = true;
    this.forget();
    Atomics.store(this.control, CONTROL.STOP, 1);
    Atomics.notify(this.control, CONTROL.JOB);
    void this.thread.terminate();
  }
}
