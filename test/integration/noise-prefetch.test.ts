// Sampler noise drawn on a helper thread: the same values as drawing it inline, for every way a
// sampler asks.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { batchNoise, decideGuidance, sample, type Predict } from "../../server/diffusion/index.ts";
import { NoisePrefetcher } from "../../server/executor/noise-prefetch.ts";

const prefetcher = NoisePrefetcher.start();
const small = NoisePrefetcher.start(1000);
after(() => Promise.all([prefetcher.close(), small.close()]));

describe("noise drawn on a helper thread", () => {
  it("equals inline noise for one seed, a batch of seeds and a 64-bit seed", () => {
    for (const [seed, length, stream] of [[42, 1000, 3], [["1", "2", "18446744073709551615"], 96, 7], [18446744073709551615n, 5, 1]] as const) {
      prefetcher.prefetch(seed, length, stream);
      assert.deepEqual(prefetcher.draw(seed, length, stream), batchNoise(seed, length, stream));
    }
  });

  it("draws on the caller's thread what was never announced", () => {
    const before = prefetcher.counts.inline;
    assert.deepEqual(prefetcher.draw(9, 10, 2), batchNoise(9, 10, 2));
    assert.equal(prefetcher.counts.inline, before + 1);
  });

  it("serves draws announced before the earlier ones were taken, as a sampler announcing ahead does", () => {
    const before = prefetcher.counts.prefetched;
    prefetcher.prefetch(5, 300, 1);
    prefetcher.prefetch(5, 300, 2);
    assert.deepEqual(prefetcher.draw(5, 300, 1), batchNoise(5, 300, 1));
    prefetcher.prefetch(5, 300, 3);
    assert.deepEqual(prefetcher.draw(5, 300, 2), batchNoise(5, 300, 2));
    assert.deepEqual(prefetcher.draw(5, 300, 3), batchNoise(5, 300, 3));
    assert.equal(prefetcher.counts.prefetched - before, 3);
  });

  it("keeps serving after draws that were announced and never taken (a sampler stopped early)", () => {
    for (let stream = 10; stream < 16; stream++) prefetcher.prefetch(8, 64, stream);
    prefetcher.wake();
    prefetcher.forget(); // what a sampler that stopped early does; the helper may still be drawing them
    const before = prefetcher.counts.prefetched;
    prefetcher.prefetch(8, 2000, 99);
    assert.deepEqual(prefetcher.draw(8, 2000, 99), batchNoise(8, 2000, 99));
    assert.equal(prefetcher.counts.prefetched - before, 1);
  });

  it("reuses its buffer from the start once the draws at the start were taken (a buffer of 1000 values, draws of 300)", () => {
    const before = small.counts.prefetched;
    for (let stream = 1; stream <= 3; stream++) small.prefetch(3, 300, stream);
    for (let stream = 1; stream <= 12; stream++) {
      assert.deepEqual(small.draw(3, 300, stream), batchNoise(3, 300, stream), `stream ${stream}`);
      small.prefetch(3, 300, stream + 3);
    }
    assert.equal(small.counts.prefetched - before, 12, "every draw served by the helper");
    small.forget();
  });

  it("gives a stochastic sampler byte-identical results, the helper serving every step's draw", async () => {
    const shape = [1, 4, 4, 4];
    const predict: Predict = async (x) => {
      await new Promise((r) => setTimeout(r, 2)); // a model run, during which the helper works
      return { cond: x.map((v) => 0.3 * v) };
    };
    const opts = { x: new Float32Array(64), shape, sampler: "ddpm" as const, steps: 8, shift: 2, seed: 1234, guidance: decideGuidance(1), predict };
    const plain = await sample(opts);
    const before = prefetcher.counts.prefetched;
    const helped = await sample({ ...opts, noise: prefetcher });
    assert.deepEqual(helped.samples, plain.samples);
    assert.equal(prefetcher.counts.prefetched - before, 7, "7 updates draw noise after 8 steps");
  });
});
