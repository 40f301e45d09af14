// The helper thread of NoisePrefetcher: fills each job's shared buffer with its noise.
import { parentPort } from "node:worker_threads";
import { fillBatchNoise } from "../diffusion/noise.ts";
import { NOISE_DONE, NOISE_FAILED, type NoiseJob } from "./noise-prefetch.ts";

if (!parentPort) throw new Error("noise-thread.ts must run in a worker thread");
parentPort.on("message", (job: NoiseJob) => {
  const flag = new Int32Array(job.buffer, 0, 1);
  try {
    fillBatchNoise(new Float32Array(job.buffer, 4), job.seed, job.stream);
    Atomics.store(flag, 0, NOISE_DONE);
  } catch {
    Atomics.store(flag, 0, NOISE_FAILED);
  }
  Atomics.notify(flag, 0);
});
