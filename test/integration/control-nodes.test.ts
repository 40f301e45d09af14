// ControlNets, image prompts and masked sampling on the tiny pack, node by node (real ONNX Runtime
// sessions on models/tiny).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CascadeSampler, EmptyCascadeLatent, ImageVariation, LoadCascadePack, StageCEncode, TextEncode } from "../../nodes/cascade.ts";
import { ControlNetApply, LoadControlNet } from "../../nodes/control.ts";
import { SetLatentNoiseMask } from "../../nodes/masks.ts";
import type { Conditioning, ExecContext, Latent, NodeDef, Tensor } from "../../nodes/schema.ts";
import { createNodeHost } from "../../server/executor/node-host.ts";
import { renderScene } from "../../bench/scorer.ts";

const ROOT = join(import.meta.dirname, "..", "..");

describe("ControlNets, image prompts and masked sampling on the tiny pack", () => {
  let dir: string;
  let host: Awaited<ReturnType<typeof createNodeHost>>;
  let ctx: ExecContext;
  const run = async (def: NodeDef, inputs: Record<string, unknown>) => (await def.execute(inputs, ctx)) as Record<string, unknown>;
  let pack: Record<string, unknown>;
  let positive: Conditioning, negative: Conditioning;
  let picture: Tensor;

  const sampleC = async (pos: Conditioning, neg: Conditioning, latent: Latent, steps = 4) =>
    (await run(CascadeSampler, { model: pack.stage_c, positive: pos, negative: neg, latent, seed: 5, steps, cfg: 4, sampler: "ddpm", shift: 0, denoise: 1, start_step: 0, end_step: 10000, add_noise: true, return_leftover_noise: false, cfg_rescale: 0 })).latent as Latent;
  const empty = async () => (await run(EmptyCascadeLatent, { width: 64, height: 64, compression: 8, batch: 1 })).stage_c as Latent;
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "sluice-control-"));
    host = await createNodeHost({ outputsDir: dir, uploadsDir: dir, tempDir: dir, modelsDir: join(ROOT, "models"), device: "cpu" }, () => {});
    ctx = { promptId: "t", nodeId: "n", signal: new AbortController().signal, progress() {}, preview() {}, services: host.servicesFor("t"), workflow: { format: "sluice.workflow", version: "1.0.0", nodes: [], groups: [], components: {}, params: [] }, finishRequested: () => false } as unknown as ExecContext;
    pack = await run(LoadCascadePack, { pack: "tiny" });
    positive = (await run(TextEncode, { text_encoder: pack.text_encoder, text: "a red circle on the left and a blue square on the right on a gray background" })).conditioning as Conditioning;
    negative = (await run(TextEncode, { text_encoder: pack.text_encoder, text: "" })).conditioning as Conditioning;
    const rgb = renderScene({ background: "gray", objects: [{ color: "yellow", shape: "triangle", position: "top" }] }, 64);
    const data = new Float32Array(3 * 64 * 64);
    for (let p = 0; p < 64 * 64; p++) for (let c = 0; c < 3; c++) data[c * 4096 + p] = rgb[p * 3 + c] / 255;
    picture = { data, shape: [1, 3, 64, 64] };
  });
  after(async () => {
    await host.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a canny ControlNet changes Stage C's result; strength 0 and a window the run never reaches leave it as it was", async () => {
    const net = (await run(LoadControlNet, { pack: "tiny", name: "canny.safetensors" })).control_net;
    const edges: Tensor = { data: new Float32Array(64 * 64 * 3), shape: [1, 3, 64, 64] };
    for (let x = 10; x < 50; x++) for (let c = 0; c < 3; c++) edges.data[c * 4096 + 30 * 64 + x] = 1;
    const plain = await sampleC(positive, negative, await empty());
    const apply = async (strength: number, start: number, end: number) => {
      const o = await run(ControlNetApply, { positive, negative, control_net: net, image: edges, strength, start, end });
      return sampleC(o.positive as Conditioning, o.negative as Conditioning, await empty());
    };
    assert.ok(!same((await apply(1, 0, 1)).samples.data, plain.samples.data), "the ControlNet acts");
    assert.ok(same((await apply(0, 0, 1)).samples.data, plain.samples.data), "strength 0");
    // 4 steps: the last starts at t = 0.25, 75% of the way; a window from 0.9 is never reached
    assert.ok(same((await apply(1, 0.9, 1)).samples.data, plain.samples.data), "outside the window");
  });

  it("a super-resolution ControlNet steers Stage C from a picture a quarter of the run's size, as from that picture blown up", async () => {
    const net = (await run(LoadControlNet, { pack: "tiny", name: "super_resolution.safetensors" })).control_net;
    const small: Tensor = { data: new Float32Array(3 * 16 * 16), shape: [1, 3, 16, 16] };
    for (let c = 0; c < 3; c++) for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) small.data[c * 256 + y * 16 + x] = picture.data[c * 4096 + y * 4 * 64 + x * 4];
    const apply = async (image: Tensor) => {
      const o = await run(ControlNetApply, { positive, negative, control_net: net, image, strength: 1, start: 0, end: 1 });
      return (await sampleC(o.positive as Conditioning, o.negative as Conditioning, await empty())).samples.data;
    };
    const fromSmall = await apply(small);
    assert.ok(!same(fromSmall, (await sampleC(positive, negative, await empty())).samples.data), "the ControlNet acts");
    // the full picture is filtered to the same 4x4 blocks: each takes its top-left pixel
    assert.ok(same(fromSmall, await apply(picture)), "the small picture and the full one steer alike");
  });

  it("masked sampling at Stage C keeps the encoded latent exactly outside the mask and repaints inside", async () => {
    const encoded = (await run(StageCEncode, { effnet: pack.effnet, image: picture, compression: 8 })).stage_c as Latent;
    const mask: Tensor = { data: new Float32Array(64 * 64), shape: [1, 1, 64, 64] };
    for (let y = 0; y < 64; y++) for (let x = 0; x < 32; x++) mask.data[y * 64 + x] = 1;
    const masked = (await run(SetLatentNoiseMask, { latent: encoded, mask })).latent as Latent;
    const out = await sampleC(positive, negative, masked);
    const [, C, h, w] = out.samples.shape;
    let insideChanged = false;
    for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = (c * h + y) * w + x;
      if (x >= w / 2) assert.equal(out.samples.data[i], encoded.samples.data[i], `kept at (${c}, ${y}, ${x})`);
      else if (out.samples.data[i] !== encoded.samples.data[i]) insideChanged = true;
    }
    assert.ok(insideChanged);
  });

  it("an inpainting ControlNet runs with a mask under masked sampling", async () => {
    const net = (await run(LoadControlNet, { pack: "tiny", name: "inpaint" })).control_net;
    const mask: Tensor = { data: new Float32Array(64 * 64), shape: [1, 1, 64, 64] };
    for (let y = 0; y < 24; y++) for (let x = 16; x < 48; x++) mask.data[y * 64 + x] = 1;
    const o = await run(ControlNetApply, { positive, negative, control_net: net, image: picture, strength: 1, start: 0, end: 1, mask });
    const encoded = (await run(StageCEncode, { effnet: pack.effnet, image: picture, compression: 8 })).stage_c as Latent;
    const out = await sampleC(o.positive as Conditioning, o.negative as Conditioning, (await run(SetLatentNoiseMask, { latent: encoded, mask })).latent as Latent);
    assert.deepEqual(out.samples.shape, [1, 16, 8, 8]);
  });

  it("chained image prompts concatenate their embeddings, each times its strength", async () => {
    const one = (await run(ImageVariation, { clip_vision: pack.clip_vision, conditioning: negative, image: picture, strength: 1, crop: "center" })).conditioning as Conditioning;
    const two = (await run(ImageVariation, { clip_vision: pack.clip_vision, conditioning: one, image: picture, strength: 0.5, crop: "center" })).conditioning as Conditioning;
    assert.deepEqual([one.clipImg.shape, two.clipImg.shape, two.images], [[1, 1, 768], [1, 2, 768], 2]);
    for (let d = 0; d < 768; d++) assert.ok(Math.abs(two.clipImg.data[768 + d] - 0.5 * one.clipImg.data[d]) < 1e-6);
    const out = await sampleC(two, negative, await empty(), 2);
    assert.deepEqual(out.samples.shape, [1, 16, 8, 8]);
  });

  it("a pack without ControlNets says so when one is loaded from it", async () => {
    await assert.rejects(run(LoadControlNet, { pack: "tiny", name: "depth" }), /input "name": pack "tiny" has no ControlNet "depth" \(it has: canny \(canny\), inpaint \(inpaint\), super_resolution \(super_resolution\)\)/);
  });
});
