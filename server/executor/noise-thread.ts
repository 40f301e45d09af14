// The helper thread of NoisePrefetcher: waits on the shared control block for jobs, fills each
// job's slot with its noise in the order announced, and says so. It does nothing else, so it
// blocks in Atomics.wait between jobs.
import { workerData } from "node:worker_threads";
import { fillBatchNoise, type Seed } from "../diffusion/noise.ts";
import { CONTROL, NOISE_DONE, NOISE_FAILED, SLOT, SLOT_WORDS, reached, slotOf, type NoiseThreadData } from "./noise-prefetch.ts";

const { control, data } = workerData as NoiseThreadData;
const c = new Int32Array(control);

function draw(job: number): void {
  const base = CONTROL.SLOTS + slotOf(job) * SLOT_WORDS;
  const seedAt = (j: number) => (BigInt(c[base + SLOT.SEED_WORDS + 2 * j + 1] >>> 0) << 32n) | BigInt(c[base + SLOT.SEED_WORDS + 2 * j] >>> 0);
  let status = NOISE_DONE;
  try {
    const count = c[base + SLOT.SEEDS];
    const seed: Seed | Seed[] = count < 0 ? seedAt(0) : Array.from({ length: count }, (_, j) => seedAt(j));
    const stream = (c[base + SLOT.STREAM_HI] >>> 0) * 4294967296 + (c[base + SLOT.STREAM_LO] >>> 0);
    fillBatchNoise(new Float32Array(data[slotOf(job)], 0, c[base + SLOT.LENGTH]), seed, stream);
  } catch {
    status = NOISE_FAILED;
  }
  c[base + SLOT.STATUS] = status;
  // The store publishes the slot's values and status to the sampler.
  Atomics.store(c, CONTROL.DONE, job);
  Atomics.notify(c, CONTROL.DONE);
}

// Jobs count from 1, so a job announced before this thread got here is not missed.
let finished = 0;
while (Atomics.load(c, CONTROL.STOP) === 0) {
  const announced = Atomics.load(c, CONTROL.JOB);
  if (reached(finished, announced)) {
    Atomics.wait(c, CONTROL.JOB, announced);
    continue;
  }
  finished = (finished + 1) | 0;
  draw(finished);
}
