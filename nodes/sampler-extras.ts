// What CascadeSampler adds around the model for ControlNets and masked sampling.
import { schedulePoint } from "../server/diffusion/index.ts";
import type { StageRunner } from "../server/runtime/index.ts";
import { type ControlNetHandle, controlImageAt } from "./control.ts";
import { resizePlanes } from "./cascade.ts";
import type { Conditioning, ControlApplication, Tensor } from "./schema.ts";


/** [n, C, h, w] from [1 or n, C, H, W], resized bilinearly. */
function fit(t: Tensor, n: number, h: number, w: number, what: string): Tensor {
  const r = resizePlanes(t, h, w);
  if (r.shape[0] === n) return r;
  if (r.shape[0] !== 1) throw new Error(`${what} has batch ${r.shape[0]}, the latent has ${n}`);
  const data = new Float32Array(r.data.length * n);
  for (let i = 0; i < n; i++) data.set(r.data, i * r.data.length);
  return { data, shape: [n, ...r.shape.slice(1)] };
}

/** Whether a ControlNet acts at schedule time t (1 = pure noise): from start to end of the way down. */
export function controlActive(app: Pick<ControlApplication, "start" | "end">, t: number): boolean {
  const done = 1 - t;
  return done >= app.start - 1e-9 && done <= app.end + 1e-9;
}

/**
 * The ControlNets of a Stage C run: each is run once at the latent's size (its control image brought
 * to latent × the pack's image compression as its filter wants: controlImageAt); before each step
 * the features of those active at that step, times their strength, are summed into the runner's
 * control inputs (negative's into the unconditional half, positive's into the conditional one).
 * Undefined when neither conditioning carries a ControlNet.
 */
export async function stageCControl(runner: StageRunner, positive: Conditioning, negative: Conditioning, shape: readonly number[], withUncond: boolean, compression: number): Promise<{ beforeStep(t: number): void } | undefined> {
  const pos = positive.control ?? [], neg = withUncond ? negative.control ?? [] : [];
  if (!pos.length && !neg.length) return undefined;
  const names = Object.keys(runner.control);
  if (!names.length) throw new Error(`input "positive" carries a ControlNet, but this pack's Stage C takes no ControlNet features (its prior has no control inputs)`);
  const [B, , h, w] = shape;
  const features = new Map<ControlApplication, Tensor[]>();
  for (const app of new Set([...pos, ...neg])) {
    const net = app.net as ControlNetHandle;
    const image = controlImageAt(net.filter, app.image, Math.round(h * compression), Math.round(w * compression));
    const outs = await net.pack.runControlNet(net.name, image);
    features.set(app, outs.map((f, i) => fit(f, B, h, w, `the features (${names[i]}) of ${net.describe()}`)));
  }
  const half = (name: string) => runner.control[name].length / (withUncond ? 2 : 1);
  let lastKey = "";
  return {
    beforeStep(t: number) {
      const activePos = pos.filter((a) => controlActive(a, t)), activeNeg = neg.filter((a) => controlActive(a, t));
      const key = `${activePos.map((a) => pos.indexOf(a)).join()}|${activeNeg.map((a) => neg.indexOf(a)).join()}`;
      if (key === lastKey) return;
      lastKey = key;
      names.forEach((name, i) => {
        const buf = runner.control[name];
        buf.fill(0);
        const n = half(name);
        const add = (apps: ControlApplication[], offset: number) => {
          for (const a of apps) {
            const f = features.get(a)![i].data;
            if (f.length !== n) throw new Error(`ControlNet features for ${name} have ${f.length} values, Stage C takes ${n}`);
            for (let k = 0; k < n; k++) buf[offset + k] += f[k] * a.strength;
          }
        };
        if (withUncond) add(activeNeg, 0);
        add(activePos, withUncond ? n : 0);
      });
    },
  };
}

/**
 * Masked sampling (ComfyUI's SetLatentNoiseMask): where the mask is below 1, each step sees the
 * original latent noised to that step's level with a fixed noise, and the prediction there is that
 * noise, so the step's x0 is the original; the result keeps the original exactly where the mask is 0.
 */
export function maskedSampling(original: Tensor, noiseMask: Tensor, noise: Float32Array, shift: number) {
  const [B, C, h, w] = original.shape;
  const m1 = fit(noiseMask, B, h, w, "the noise mask");
  const plane = h * w;
  const m = new Float32Array(B * C * plane);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) m.set(m1.data.subarray(b * plane, (b + 1) * plane), (b * C + c) * plane);
  for (let k = 0; k < m.length; k++) m[k] = Math.min(1, Math.max(0, m[k]));
  const orig = original.data;
  return {
    beforeStep(x: Float32Array, t: number) {
      const { a, b } = schedulePoint(t, shift);
      for (let k = 0; k < x.length; k++) {
        const mk = m[k];
        if (mk < 1) x[k] = mk * x[k] + (1 - mk) * (a * orig[k] + b * noise[k]);
      }
    },
    afterStep(eps: Float32Array) {
      for (let k = 0; k < eps.length; k++) {
        const mk = m[k];
        if (mk < 1) eps[k] = mk * eps[k] + (1 - mk) * noise[k];
      }
    },
    finish(x0: Float32Array) {
      for (let k = 0; k < x0.length; k++) x0[k] = m[k] * x0[k] + (1 - m[k]) * orig[k];
    },
  };
}
