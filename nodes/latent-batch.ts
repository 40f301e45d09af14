// Picking and repeating the items of a latent batch.
import type { Latent, NodeDef, Tensor } from "./schema.ts";

const CATEGORY = "latent";

function sliceBatch(t: Tensor, from: number, count: number): Tensor {
  const per = t.data.length / t.shape[0];
  return { data: t.data.slice(from * per, (from + count) * per), shape: [count, ...t.shape.slice(1)] };
}

function repeatBatch(t: Tensor, times: number): Tensor {
  const data = new Float32Array(t.data.length * times);
  for (let i = 0; i < times; i++) data.set(t.data, i * t.data.length);
  return { data, shape: [t.shape[0] * times, ...t.shape.slice(1)] };
}

export const LatentFromBatch: NodeDef = {
  type: "LatentFromBatch",
  displayName: "Latent from Batch",
  category: CATEGORY,
  description: "Picks `length` items of a latent batch starting at batch_index (their seeds and noise masks go with them).",
  inputs: [
    { name: "latent", type: "LATENT" },
    { name: "batch_index", type: "INT", default: 0, min: 0, max: 4095 },
    { name: "length", type: "INT", default: 1, min: 1, max: 4096 },
  ],
  outputs: [{ name: "latent", type: "LATENT" }],
  execute({ latent, batch_index, length }) {
    const l = latent as Latent;
    const B = l.samples.shape[0];
    const from = batch_index as number;
    if (from >= B) throw new Error(`input "batch_index": ${from} is past the batch (it has ${B} item${B > 1 ? "s" : ""}, 0 to ${B - 1})`);
    const count = Math.min(length as number, B - from);
    const mask = l.noiseMask && l.noiseMask.shape[0] === B ? sliceBatch(l.noiseMask, from, count) : l.noiseMask;
    return {
      latent: {
        ...l,
        samples: sliceBatch(l.samples, from, count),
        ...(l.seeds ? { seeds: l.seeds.slice(from, from + count) } : {}),
        ...(mask ? { noiseMask: mask } : {}),
      } satisfies Latent,
    };
  },
};

export const RepeatLatentBatch: NodeDef = {
  type: "RepeatLatentBatch",
  displayName: "Repeat Latent Batch",
  category: CATEGORY,
  description: "Repeats a latent batch `amount` times (the batch grows amount-fold).",
  inputs: [{ name: "latent", type: "LATENT" }, { name: "amount", type: "INT", default: 1, min: 1, max: 64 }],
  outputs: [{ name: "latent", type: "LATENT" }],
  execute({ latent, amount }) {
    const l = latent as Latent;
    const n = amount as number;
    const B = l.samples.shape[0];
    const mask = l.noiseMask && l.noiseMask.shape[0] === B && B > 1 ? repeatBatch(l.noiseMask, n) : l.noiseMask;
    return {
      latent: {
        ...l,
        samples: repeatBatch(l.samples, n),
        ...(l.seeds ? { seeds: Array.from({ length: n }, () => l.seeds!).flat() } : {}),
        ...(mask ? { noiseMask: mask } : {}),
      } satisfies Latent,
    };
  },
};

export const latentBatchNodes: NodeDef[] = [LatentFromBatch, RepeatLatentBatch];
