// The helper thread of NoisePrefetcher: waits on the shared control block for jobs, fills each
// job's place in the data buffer with its noise, in the order announced, and says so. It does
// nothing else, so it blocks in Atomics.wait between jobs.
import { workerData } from "node:worker_threads";
import { fillBatchNoise, type Seed } from "../diffusion/noise.ts";
import { CONTROL, JOB, NOISE_DONE, NOISE_FAILED, descriptorOf, reached, type NoiseThreadData } from "./noise-prefetch.ts";

const { control, data } = workerData as NoiseThreadData;
const c = new Int32Array(control);

function draw(job: number): void {
  const d = descriptorOf(job);
  const seedAt = (j: number) => (BigInt(c[d + JOB.SEED_WORDS + 2 * j + 1] >>> 0) << 32n) | BigInt(c[d + JOB.SEED_WORDS + 2 * j] >>> 0);
  let status = NOISE_DONE;
  try {
    const count = c[d + JOB.SEEDS];
    const seed: Seed | Seed[] = count < 0 ? seedAt(0) : Array.from({ length: count }, (_, j) => seedAt(j));
    const stream = (c[d + JOB.STREAM_HI] >>> 0) * 4294967296 + (c[d + JOB.STREAM_LO] >>> 0);
    fillBatchNoise(new Float32Array(data, 4 * c[d + JOB.OFFSET], c[d + JOB.LENGTH]), seed, stream);
  } catch {
    status = NOISE_FAILED;
  }
  c[d + JOB.STATUS] = status;
  // The store publishes the values and the status to the sampler.
  Atomics.store(c, CONTROL.DONE, job);
  Atomics.notify(c, CONTROL.DONE);
}

// Jobs count from 1, so jobs announced before this thread got here are not missed.
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
