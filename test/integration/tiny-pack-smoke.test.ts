// Smoke test of the tiny pack: the Python tooling trains a few steps and exports a pack whose models
// load in onnxruntime-node with the public Stable Cascade ONNX tensor names; the committed pack in
// models/tiny/ loads, has those names, fits in 36 MB and runs one forward pass of each model,
// ControlNets and the CLIP vision stand-in included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PACK = process.env.TINY_PACK ?? join(ROOT, 'models', 'tiny');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

const EXPECTED: Record<string, { inputs: string[] | ((control: string[]) => string[]); outputs: (layers: number, control: string[]) => string[]; optional?: boolean }> = {
  text_encoder: {
    inputs: ['input_ids', 'attention_mask'],
    outputs: (L) => ['text_embeds', 'last_hidden_state', ...Array.from({ length: L + 1 }, (_, i) => `hidden_states.${i}`)],
  },
  prior: {
    inputs: (control) => ['sample', 'timestep_ratio', 'clip_text_pooled', 'clip_text', 'clip_img', ...control],
    outputs: () => ['out_sample'],
  },
  decoder: { inputs: ['sample', 'timestep_ratio', 'clip_text_pooled', 'effnet'], outputs: () => ['out_sample'] },
  vae_decoder: { inputs: ['sample'], outputs: () => ['latent_sample'] },
  effnet: { inputs: ['pixel_values'], outputs: () => ['image_embeds'] },
  previewer: { inputs: ['sample'], outputs: () => ['image'], optional: true },
  vae_encoder: { inputs: ['sample'], outputs: () => ['image_embeds', 'last_hidden_state'], optional: true },
  'controlnet/canny': { inputs: ['control_image'], outputs: (_L, control) => control, optional: true },
  'controlnet/inpaint': { inputs: ['control_image'], outputs: (_L, control) => control, optional: true },
};

function controlInputs(pack: string): string[] {
  return JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8')).stageC.controlInputs ?? [];
}

function hiddenLayers(pack: string): number {
  const m = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8'));
  return Number(String(m.textEncoder.hiddenOutput).split('.').pop());
}

async function checkNames(pack: string): Promise<Record<string, ort.InferenceSession>> {
  const L = hiddenLayers(pack);
  const control = controlInputs(pack);
  const sessions: Record<string, ort.InferenceSession> = {};
  for (const [name, spec] of Object.entries(EXPECTED)) {
    const file = join(pack, name, 'model.onnx');
    if (!existsSync(file)) {
      assert.ok(spec.optional, `${name}/model.onnx missing`);
      continue;
    }
    const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 2 });
    assert.deepEqual([...s.inputNames], typeof spec.inputs === 'function' ? spec.inputs(control) : spec.inputs, `${name} inputs`);
    assert.deepEqual([...s.outputNames], spec.outputs(L, control), `${name} outputs`);
    sessions[name] = s;
  }
  for (const f of ['vocab.json', 'merges.txt', 'special_tokens_map.json']) {
    assert.ok(existsSync(join(pack, 'tokenizer', f)), `tokenizer/${f}`);
  }
  return sessions;
}

function f32(dims: number[], fill: (i: number) => number = () => 0): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = fill(i);
  return new ort.Tensor('float32', data, dims);
}

function randn(seed: number): (i: number) => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 1) / 4294967297;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = (s + 1) / 4294967297;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

async function forwardAll(pack: string, sessions: Record<string, ort.InferenceSession>): Promise<void> {
  const manifest = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8'));
  const D: number = manifest.textEncoder.width;
  const L = hiddenLayers(pack);
  const vocab: Record<string, number> = JSON.parse(readFileSync(join(pack, 'tokenizer', 'vocab.json'), 'utf8'));
  const bos = vocab['<|startoftext|>'];
  const eos = vocab['<|endoftext|>'];
  assert.equal(typeof bos, 'number');
  assert.equal(typeof eos, 'number');
  for (const w of ['red', 'circle', 'left', 'background']) assert.equal(typeof vocab[`${w}</w>`], 'number', w);
  const B = 2;
  const S = 77;
  const ids = new BigInt64Array(B * S).fill(BigInt(eos));
  const mask = new BigInt64Array(B * S);
  const words = ['a', 'red', 'circle', 'on', 'the', 'left'];
  ids[0] = BigInt(bos);
  words.forEach((w, i) => (ids[i + 1] = BigInt(vocab[`${w}</w>`])));
  for (let i = 0; i < words.length + 2; i++) mask[i] = 1n;
  ids[S] = BigInt(bos);
  mask[S] = 1n;
  mask[S + 1] = 1n;
  const te = await sessions.text_encoder.run({
    input_ids: new ort.Tensor('int64', ids, [B, S]),
    attention_mask: new ort.Tensor('int64', mask, [B, S]),
  });
  assert.deepEqual(te.text_embeds.dims, [B, D]);
  assert.deepEqual(te.last_hidden_state.dims, [B, S, D]);
  assert.deepEqual(te[`hidden_states.${L}`].dims, [B, S, D]);
  const pooled = new ort.Tensor('float32', te.text_embeds.data as Float32Array, [B, 1, D]);
  const clipText = te[`hidden_states.${L}`];
  const [H, W] = manifest.resolution.default as [number, number];
  const hc = Math.ceil(H / manifest.stageC.compression);
  const wc = Math.ceil(W / manifest.stageC.compression);
  // ControlNet features (zeros: none applied) where the prior takes them, from the canny net's shapes
  const controlFeeds: Record<string, ort.Tensor> = {};
  if (sessions['controlnet/canny']) {
    const feats = await sessions['controlnet/canny'].run({ control_image: f32([B, 1, H, W], (i) => (i % 13 === 0 ? 1 : 0)) });
    for (const n of controlInputs(pack)) {
      assert.deepEqual(feats[n].dims.slice(2), [hc, wc], `canny ${n} at the latent's size`);
      controlFeeds[n] = f32([...feats[n].dims]);
    }
  }
  const c = await sessions.prior.run({
    sample: f32([B, 16, hc, wc], randn(1)),
    timestep_ratio: f32([B], () => 0.5),
    clip_text_pooled: pooled,
    clip_text: clipText,
    clip_img: f32([B, 1, manifest.stageC.clipImgDim]),
    ...controlFeeds,
  });
  if (sessions.vae_encoder) {
    const v = await sessions.vae_encoder.run({ sample: f32([1, 3, 224, 224], (i) => (i % 5) / 5) });
    assert.deepEqual(v.image_embeds.dims, [1, manifest.stageC.clipImgDim]);
  }
  assert.deepEqual(c.out_sample.dims, [B, 16, hc, wc]);
  const hb = H / manifest.stageB.compression;
  const wb = W / manifest.stageB.compression;
  const b = await sessions.decoder.run({
    sample: f32([B, 4, hb, wb], randn(2)),
    timestep_ratio: f32([B], () => 0.5),
    clip_text_pooled: pooled,
    effnet: c.out_sample,
  });
  assert.deepEqual(b.out_sample.dims, [B, 4, hb, wb]);
  const a = await sessions.vae_decoder.run({ sample: b.out_sample });
  assert.deepEqual(a.latent_sample.dims, [B, 3, H, W]);
  const img = a.latent_sample.data as Float32Array;
  assert.ok(img.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)), 'vae_decoder output in [0,1]');
  const e = await sessions.effnet.run({ pixel_values: f32([1, 3, H, W], (i) => (i % 7) / 7) });
  assert.deepEqual(e.image_embeds.dims, [1, 16, hc, wc]);
  if (sessions.previewer) {
    const p = await sessions.previewer.run({ sample: e.image_embeds });
    assert.equal(p.image.dims[1], 3);
  }
}

function dirSize(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    const st = statSync(p);
    total += st.isDirectory() ? dirSize(p) : st.size;
  }
  return total;
}

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, onnx'], { encoding: 'utf8' }).status === 0;

test(
  'python smoke: a few training steps and an export that loads in onnxruntime-node',
  { skip: hasTorch ? false : `${PYTHON} cannot import torch and onnx (apt-get install python3-torch python3-onnx)`, timeout: 480_000 },
  async () => {
    const r = spawnSync('sh', [join(ROOT, 'tools', 'tiny', 'smoke.sh')], { encoding: 'utf8', timeout: 470_000 });
    assert.equal(r.status, 0, `smoke.sh failed:\n${r.stdout}\n${r.stderr}`);
    const pack = r.stdout.trim().split('\n').pop()!;
    const sessions = await checkNames(pack);
    await forwardAll(pack, sessions);
  },
);

test('models/tiny: every model loads with the expected names, the pack fits 30 MB, forward passes run', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(join(PACK, 'manifest.json')), 'models/tiny/manifest.json');
  const manifest = JSON.parse(readFileSync(join(PACK, 'manifest.json'), 'utf8'));
  assert.equal(manifest.format, 'sluice.pack');
  assert.equal(manifest.stageC.channels, 16);
  assert.equal(manifest.stageB.channels, 4);
  assert.equal(manifest.preview.stageC.length, 16);
  assert.equal(manifest.preview.stageB.length, 4);
  const size = dirSize(PACK);
  assert.ok(size <= 36_000_000, `pack is ${(size / 1e6).toFixed(1)} MB`);
  const sessions = await checkNames(PACK);
  await forwardAll(PACK, sessions);
});
