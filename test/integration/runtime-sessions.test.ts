import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { runModel } from "../../server/runtime/model.ts";
import { SessionCache, estimateModelBytes } from "../../server/runtime/sessions.ts";

const PACK = path.resolve("test/fixtures/packs/random");
const A = path.join(PACK, "vae_decoder/model.onnx");
const B = path.join(PACK, "previewer/model.onnx");
const C = path.join(PACK, "effnet/model.onnx");

function countingCache(budgetBytes?: number) {
  let creates = 0;
  const released: string[] = [];
  const cache = new SessionCache({
    device: "cpu",
    budgetBytes,
    create: async (file, opts) => {
      creates++;
      const s = await ort.InferenceSession.create(file, opts);
      const release = s.release.bind(s);
      (s as { release: () => Promise<void> }).release = async () => { released.push(path.basename(path.dirname(file))); await release(); };
      return s;
    },
  });
  return { cache, creates: () => creates, released };
}

test("session cache reuses a loaded session", async () => {
  const { cache, creates } = countingCache();
  const a1 = await cache.load(A);
  const a2 = await cache.load(A);
  assert.equal(a1.session, a2.session);
  assert.equal(creates(), 1);
  await cache.clear();
});

test("session cache shares one load between concurrent callers", async () => {
  const { cache, creates } = countingCache();
  const [x, y, z] = await Promise.all([cache.load(B), cache.load(B), cache.load(B)]);
  assert.equal(x.session, y.session);
  assert.equal(y.session, z.session);
  assert.equal(creates(), 1);
  await cache.clear();
});

test("session cache keys by device and options", async () => {
  const { cache, creates } = countingCache();
  await cache.load(A);
  await cache.load(A, { sessionOptions: { graphOptimizationLevel: "basic" } });
  assert.equal(creates(), 2);
  await cache.clear();
});

test("session cache estimates memory from the model and its external data", () => {
  const dec = path.join(PACK, "decoder/model.onnx");
  const bytes = estimateModelBytes(dec);
  assert.ok(bytes > 2000 + 1000, `${bytes}`); // graph file plus model.onnx.data
});

test("session cache evicts the least recently used model under a small budget", async () => {
  const sizeA = estimateModelBytes(A);
  const sizeB = estimateModelBytes(B);
  const sizeC = estimateModelBytes(C);
  // Room for A+B or B+C but not all three.
  const { cache, released } = countingCache(Math.max(sizeA + sizeB, sizeB + sizeC, sizeA + sizeC) + 10);
  await cache.load(A);
  await cache.load(B);
  await cache.load(A); // A is now more recent than B
  await cache.load(C); // must evict B (the least recently used)
  assert.deepEqual(released, ["previewer"]);
  assert.equal(cache.has(A), true);
  assert.equal(cache.has(B), false);
  assert.equal(cache.has(C), true);
  assert.ok(cache.stats().totalBytes <= cache.budgetBytes);
  assert.equal(cache.stats().evictions, 1);
  await cache.clear();
});

test("session cache never releases a model while it runs", async () => {
  // Room for either model alone, not both: loading B would evict A, were A not pinned.
  const { cache, released } = countingCache(Math.max(estimateModelBytes(A), estimateModelBytes(B)) + 1);
  await cache.use(A, async (m) => {
    await cache.load(B); // would evict A, but A is pinned
    assert.equal(released.includes("vae_decoder"), false);
    const out = await runModel(m, { sample: { data: new Float32Array(4 * 2 * 2), shape: [1, 4, 2, 2] } });
    assert.deepEqual(out.latent_sample.shape, [1, 3, 8, 8]);
  });
  await cache.clear();
});
