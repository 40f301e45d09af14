// Times the whole cascade of a pack in onnxruntime-node (2 threads): text encoder, Stage C
// (steps x batch 2), Stage B (steps x batch 2), Stage A.  node --import tsx tools/tiny/time_pack.ts <pack>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const pack = process.argv[2] ?? 'models/tiny';
const m = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8'));
const opt = { intraOpNumThreads: 2, interOpNumThreads: 1 };
const load = (n: string) => ort.InferenceSession.create(join(pack, n, 'model.onnx'), opt);
const f32 = (dims: number[], v = 0.1) => new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b)).fill(v), dims);
const [te, c, b, a] = await Promise.all([load('text_encoder'), load('prior'), load('decoder'), load('vae_decoder')]);
const D = m.textEncoder.width;
for (let rep = 0; rep < 2; rep++) {
  const t0 = performance.now();
  const ids = new BigInt64Array(2 * 77).fill(1n);
  const out = await te.run({ input_ids: new ort.Tensor('int64', ids, [2, 77]), attention_mask: new ort.Tensor('int64', ids, [2, 77]) });
  const t1 = performance.now();
  const pooled = new ort.Tensor('float32', out.text_embeds.data as Float32Array, [2, 1, D]);
  let eff = f32([2, 16, 8, 8]);
  for (let i = 0; i < m.stageC.steps; i++) {
    const r = await c.run({ sample: f32([2, 16, 8, 8]), timestep_ratio: f32([2], 0.5), clip_text_pooled: pooled, clip_text: out[m.textEncoder.hiddenOutput], clip_img: f32([2, 1, 768], 0) });
    eff = r.out_sample as ort.Tensor;
  }
  const t2 = performance.now();
  let lat = f32([2, 4, 16, 16]);
  for (let i = 0; i < m.stageB.steps; i++) {
    const r = await b.run({ sample: f32([2, 4, 16, 16]), timestep_ratio: f32([2], 0.5), clip_text_pooled: pooled, effnet: eff });
    lat = r.out_sample as ort.Tensor;
  }
  const t3 = performance.now();
  await a.run({ sample: new ort.Tensor('float32', (lat.data as Float32Array).slice(0, 4 * 256), [1, 4, 16, 16]) });
  const t4 = performance.now();
  console.log(`text ${(t1 - t0).toFixed(0)} ms, stage C ${m.stageC.steps} steps ${(t2 - t1).toFixed(0)} ms, stage B ${m.stageB.steps} steps ${(t3 - t2).toFixed(0)} ms, stage A ${(t4 - t3).toFixed(0)} ms, total ${(t4 - t0).toFixed(0)} ms`);
}
