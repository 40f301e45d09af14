/**
 * Samplers for Stable Cascade's ε-prediction models, all in CASCADE.md's (a, b) parameterisation.
 *
 * Grid: t_i = linspace(t_start, 0, N+1) with t_start = denoise, (a_i, b_i, σ_i = b_i/a_i) at the
 * chosen shift. The latent x is always kept in the variance-preserving form x = a·x0 + b·ε between
 * steps; euler / euler_ancestral / dpmpp_2m work on x_σ = x/a (σ-space, as in k-diffusion) inside a
 * step and scale back by a' afterwards. Step i: the model sees (x_i, r(t_i)), guidance gives ε̂,
 * x0_i = (x_i − b_i·ε̂)/a_i, then the sampler's update gives x_{i+1} at t_{i+1}.
 *
 * The result of a run that reaches t = 0 is the x0 of its last step (CASCADE.md): no sampler takes
 * x to t_N = 0 (where the clamped schedule still has b = 0.01); every one of them would land on that
 * x0 if the last step went to σ = 0 (the k-diffusion convention), so the result is the same for all.
 */
import { schedulePoint, timeGrid, type SchedulePoint } from "./schedule.ts";
import { guide, noiseLatent, type Guidance } from "./guidance.ts";
import { batchNoise, INLINE_NOISE, stepStream, type NoiseSource, type Seed } from "./noise.ts";

export type SamplerName = "ddpm" | "ddim" | "euler" | "euler_ancestral" | "dpmpp_2m" | "lcm";
export const SAMPLER_NAMES: readonly SamplerName[] = ["ddpm", "ddim", "euler", "euler_ancestral", "dpmpp_2m", "lcm"];

/**
 * What a sampler's update sees at step i (all arrays have the latent's length; do not mutate them).
 * `eps` and the noise are valid during the update only: their memory is reused by later steps.
 */
export interface StepContext {
  /** absolute step index i in the grid (0-based) */
  index: number;
  /** x at t_i */
  x: Float32Array;
  /** x0 predicted at t_i */
  x0: Float32Array;
  /** guided noise prediction ε̂ at t_i */
  eps: Float32Array;
  cur: SchedulePoint;
  next: SchedulePoint;
  /** the previous step's x0 and schedule point (multistep samplers), when known */
  prev?: { x0: Float32Array; point: SchedulePoint };
  /** fresh N(0, I) noise of this step's own sub-stream (drawn on first call, then cached) */
  noise(): Float32Array;
  /** where the update may write x_{i+1} (none of the arrays above; reused by later steps) */
  out: Float32Array;
}

/** A sampler: the update x_i → x_{i+1}. Built-ins are in SAMPLERS; tests may pass their own. */
export interface SamplerImpl {
  name: string;
  /** true when the update uses no fresh noise */
  deterministic: boolean;
  /** true when the update uses the previous step's x0 (`prev`) */
  multistep?: boolean;
  /** x_{i+1}: `ctx.out` filled in, or an array of its own */
  step(ctx: StepContext): Float32Array;
}

function ddimFamily(name: string, eta: number): SamplerImpl {
  return {
    name,
    deterministic: eta === 0,
    step({ x0, eps, cur, next, noise, out }) {
      const { a, b } = cur;
      const { a: a2, b: b2 } = next;
      const sig = eta > 0 ? eta * (b2 / b) * Math.sqrt(Math.max(0, 1 - (a * a) / (a2 * a2))) : 0;
      const ce = Math.sqrt(Math.max(0, b2 * b2 - sig * sig));
      if (sig > 0) {
        const z = noise();
        for (let k = 0; k < out.length; k++) out[k] = a2 * x0[k] + ce * eps[k] + sig * z[k];
      } else {
        for (let k = 0; k < out.length; k++) out[k] = a2 * x0[k] + ce * eps[k];
      }
      return out;
    },
  };
}

const euler: SamplerImpl = {
  name: "euler",
  deterministic: true,
  step({ x, x0, cur, next, out }) {
    const { a, sigma: s } = cur;
    const { a: a2, sigma: s2 } = next;
    for (let k = 0; k < out.length; k++) {
      const xs = x[k] / a;
      const d = (xs - x0[k]) / s;
      out[k] = a2 * (xs + (s2 - s) * d);
    }
    return out;
  },
};

const eulerAncestral: SamplerImpl = {
  name: "euler_ancestral",
  deterministic: false,
  step({ x, x0, cur, next, noise, out }) {
    const { a, sigma: s } = cur;
    const { a: a2, sigma: s2 } = next;
    const up = Math.min(s2, Math.sqrt(Math.max(0, (s2 * s2 * (s * s - s2 * s2)) / (s * s))));
    const down = Math.sqrt(Math.max(0, s2 * s2 - up * up));
    const z = up > 0 ? noise() : undefined;
    for (let k = 0; k < out.length; k++) {
      const xs = x[k] / a;
      const d = (xs - x0[k]) / s;
      out[k] = a2 * (xs + (down - s) * d + (z ? up * z[k] : 0));
    }
    return out;
  },
};

const dpmpp2m: SamplerImpl = {
  name: "dpmpp_2m",
  deterministic: true,
  multistep: true,
  step({ x, x0, cur, next, prev, out }) {
    const { a, sigma: s } = cur;
    const { a: a2, sigma: s2 } = next;
    const ratio = s2 / s; // e^{-h}
    const h = Math.log(s / s2);
    let c0 = 1, c1 = 0; // D = c0·x0 + c1·x0_prev
    if (prev && h > 0) {
      const hLast = Math.log(prev.point.sigma / s);
      if (hLast > 0) {
        const rr = hLast / h;
        c0 = 1 + 1 / (2 * rr);
        c1 = -1 / (2 * rr);
      }
    }
    const px = prev?.x0;
    for (let k = 0; k < out.length; k++) {
      const xs = x[k] / a;
      const D = c1 !== 0 ? c0 * x0[k] + c1 * px![k] : x0[k];
      out[k] = a2 * (ratio * xs + (1 - ratio) * D);
    }
    return out;
  },
};

const lcm: SamplerImpl = {
  name: "lcm",
  deterministic: false,
  step({ x0, next, noise, out }) {
    const { a: a2, b: b2 } = next;
    const z = noise();
    for (let k = 0; k < out.length; k++) out[k] = a2 * x0[k] + b2 * z[k];
    return out;
  },
};

export const SAMPLERS: Readonly<Record<SamplerName, SamplerImpl>> = {
  ddpm: ddimFamily("ddpm", 1),
  ddim: ddimFamily("ddim", 0),
  euler,
  euler_ancestral: eulerAncestral,
  dpmpp_2m: dpmpp2m,
  lcm,
};

export function isSamplerName(s: unknown): s is SamplerName {
  return typeof s === "string" && (SAMPLER_NAMES as readonly string[]).includes(s);
}

/** What the sampler asks of the model at one step. */
export interface PredictContext {
  /** absolute step index i */
  index: number;
  /** t_i (shifted schedule time; the model gets r, not this) */
  t: number;
}

/**
 * Runs the model at (x, r). The caller runs uncond and cond as ONE batch of two (uncond half first,
 * see guidance.duplicateBatch/splitBatch); `withUncond` is the guidance's (false when cfg = 1), and then only the
 * cond prediction is needed. The returned arrays are read only during this step: the next call may
 * overwrite them.
 */
export type Predict = (
  x: Float32Array,
  r: number,
  withUncond: boolean,
  ctx: PredictContext,
) => Promise<{ cond: Float32Array; uncond?: Float32Array }>;

/** A step, as `onStep` sees it: `x` and `x0` are valid during the call only (later steps reuse their memory). */
export interface StepInfo {
  /** 1-based step count within this run's window */
  step: number;
  /** number of steps in this run's window */
  total: number;
  /** absolute step index i in the N-step grid */
  index: number;
  /** t_i */
  t: number;
  /** the latent the model saw at this step (x at t_i) */
  x: Float32Array;
  /** its predicted x0 (what previews show) */
  x0: Float32Array;
}

/** The previous step's x0, carried from a window that stopped at `step + 1` into the next window. */
export interface SamplerHistory {
  sampler: string;
  steps: number;
  tStart: number;
  shift: number;
  /** absolute index of the step that predicted x0 */
  step: number;
  x0: Float32Array;
}

export interface SampleOptions {
  /** starting latent: with addNoise, the clean latent (zeros for text-to-image, the init for img2img); without, x already noised at t of the window's start */
  x: Float32Array;
  shape: readonly number[];
  sampler: SamplerName | SamplerImpl;
  /** N, the number of steps of the whole grid */
  steps: number;
  shift: number;
  /** t_start = denoise ∈ [0, 1]; 0 returns x unchanged */
  denoise?: number;
  /** window [startStep, endStep) over the N steps; defaults 0 and N (endStep is capped at N) */
  startStep?: number;
  endStep?: number;
  /** default true: x ← a(t_s)·x + b(t_s)·ε with ε = noise of the seed's main stream */
  addNoise?: boolean;
  /** default false: when the window ends before N, return x at t_end (reported in noisyAt) instead of x0 */
  returnLeftoverNoise?: boolean;
  /** one seed, or one per batch item (shape[0] of them) */
  seed: Seed | readonly Seed[];
  /** cfg and rescale, decided once (decideGuidance): the caller's model runner follows the same decision */
  guidance: Guidance;
  predict: Predict;
  onStep?: (info: StepInfo) => void;
  signal?: AbortSignal;
  finishRequested?: () => boolean;
  /** x0 of the step before startStep, from a previous window's result (dpmpp_2m only; ignored when it does not match) */
  history?: SamplerHistory;
  /** where each step's fresh noise comes from (default: drawn on this thread when needed); the result is the same */
  noise?: NoiseSource;
}

export interface SampleResult {
  samples: Float32Array;
  /** t at which `samples` still carries noise; 0 when samples is a clean x0 */
  noisyAt: number;
  stepsRun: number;
  /** the last step's x0, to continue a multistep sampler exactly in a following window */
  history?: SamplerHistory;
}

/** How many steps ahead a sampler announces its noise (see NoiseSource). */
const NOISE_AHEAD = 32;

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  const e = new Error(reason instanceof Error && reason.message ? `sampling aborted: ${reason.message}` : "sampling aborted", { cause: reason });
  e.name = "AbortError";
  return e;
}

function checkInt(v: number, what: string, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${what} must be an integer ≥ ${min}, got ${v}`);
}

function checkFinite(arr: Float32Array, what: string, index: number): void {
  for (let k = 0; k < arr.length; k++) {
    if (!Number.isFinite(arr[k])) {
      throw new Error(`${what} at step ${index} has a non-finite value (${arr[k]}) at element ${k}; a float16 overflow in the model?`);
    }
  }
}

/**
 * x0 = (x − b·ε̂)/a, written into `x0` and checked: a non-finite ε̂ makes a non-finite x0 (a > 0),
 * so one pass over x0 finds it and the error then names the prediction's element. With `uncond`,
 * ε̂ is the guided prediction (cfgCombine's values, bit for bit), computed into `eps` in the same pass.
 */
function predictX0(x0: Float32Array, x: Float32Array, eps: Float32Array, a: number, b: number, index: number, uncond?: Float32Array, cond?: Float32Array, w = 1): Float32Array {
  const n = x.length;
  let sum = 0;
  // Stored values are kept in locals, rounded as the store rounds them (Math.fround): reading them
  // back from the arrays would wait on each store, and this pass is most of a step's own work.
  if (uncond && cond) {
    for (let k = 0; k < n; k++) {
      const u = uncond[k];
      const e = Math.fround(u + w * (cond[k] - u));
      eps[k] = e;
      const v = Math.fround((x[k] - b * e) / a);
      x0[k] = v;
      sum += v;
    }
  } else {
    for (let k = 0; k < n; k++) {
      const v = Math.fround((x[k] - b * eps[k]) / a);
      x0[k] = v;
      sum += v;
    }
  }
  // A NaN or ±∞ among the stored values makes the float64 sum non-finite; finite float32 values
  // cannot add up past float64's range.
  if (!Number.isFinite(sum)) {
    checkFinite(eps, "noise prediction", index);
    checkFinite(x0, "predicted x0", index);
  }
  return x0;
}

/**
 * A step's context. `noise` is a bound method rather than a closure made each step: under tsx every
 * closure made also gets its name set, about a microsecond each.
 */
class SamplerStep implements StepContext {
  private z?: Float32Array;
  readonly noise: () => Float32Array;
  constructor(
    readonly index: number,
    readonly x: Float32Array,
    readonly x0: Float32Array,
    readonly eps: Float32Array,
    readonly cur: SchedulePoint,
    readonly next: SchedulePoint,
    readonly prev: StepContext["prev"],
    readonly out: Float32Array,
    private readonly source: NoiseSource,
    private readonly seeds: Seed | readonly Seed[],
  ) {
    this.noise = this.draw.bind(this);
  }

  /** This step's own sub-stream, drawn on first use. */
  private draw(): Float32Array {
    return (this.z ??= this.source.draw(this.seeds, this.x.length, stepStream(this.index)));
  }
}

/** The one of a pair of buffers that is not `current`. */
const spare = (pair: readonly Float32Array[], current: Float32Array) => (current === pair[0] ? pair[1] : pair[0]);

/** Grids seen lately: a server samples the same few (steps, denoise, shift) again and again. */
const knownGrids = new Map<string, readonly SchedulePoint[]>();
const KNOWN_GRIDS = 32;

/** The schedule at each time of the N-step grid from t = denoise (shared and frozen). */
function gridPoints(N: number, denoise: number, shift: number): readonly SchedulePoint[] {
  const key = `${N}|${denoise}|${shift}`;
  let points = knownGrids.get(key);
  if (!points) {
    points = Object.freeze(timeGrid(N, denoise).map((t) => Object.freeze(schedulePoint(t, shift))));
    if (knownGrids.size >= KNOWN_GRIDS) knownGrids.delete(knownGrids.keys().next().value!);
    knownGrids.set(key, points);
  }
  return points;
}

export async function sample(opts: SampleOptions): Promise<SampleResult> {
  const impl: SamplerImpl = typeof opts.sampler === "string" ? SAMPLERS[opts.sampler] : opts.sampler;
  if (!impl) throw new RangeError(`unknown sampler ${JSON.stringify(opts.sampler)}; known: ${SAMPLER_NAMES.join(", ")}`);
  const n = opts.x.length;
  const count = opts.shape.reduce((p, d) => p * d, 1);
  if (count !== n) throw new RangeError(`shape [${opts.shape.join(",")}] holds ${count} values but x has ${n}`);
  const N = opts.steps;
  checkInt(N, "steps", 1);
  const denoise = opts.denoise ?? 1;
  if (!Number.isFinite(denoise) || denoise < 0 || denoise > 1) throw new RangeError(`denoise must be in [0, 1], got ${denoise}`);
  const { scale: cfg, rescale: rho, withUncond } = opts.guidance;
  const s0 = opts.startStep ?? 0;
  const s1 = Math.min(opts.endStep ?? N, N);
  checkInt(s0, "startStep", 0);
  checkInt(s1, "endStep", 0);
  if (s0 >= s1) throw new RangeError(`empty step window: startStep ${s0} must be below endStep ${s1} (steps ${N})`);
  const addNoise = opts.addNoise ?? true;
  const leftover = opts.returnLeftoverNoise ?? false;
  const seeds = opts.seed;
  if (Array.isArray(seeds) && seeds.length !== (opts.shape[0] ?? 1)) {
    throw new RangeError(`${seeds.length} seeds given for a batch of ${opts.shape[0]}`);
  }

  if (denoise === 0) return { samples: Float32Array.from(opts.x), noisyAt: 0, stepsRun: 0 };

  const points = gridPoints(N, denoise, opts.shift);

  let x: Float32Array;
  if (addNoise) {
    const p = points[s0];
    x = noiseLatent(opts.x, batchNoise(seeds, n, 0), p.a, p.b);
  } else {
    x = Float32Array.from(opts.x);
  }

  let prev: StepContext["prev"];
  const h = opts.history;
  if (impl.multistep && h && h.sampler === impl.name && h.steps === N && h.tStart === denoise && h.shift === opts.shift &&
      h.step === s0 - 1 && h.x0.length === n) {
    prev = { x0: h.x0, point: points[h.step] };
  }

  const total = s1 - s0;
  const noise = opts.noise ?? INLINE_NOISE;
  // Steps after which the sampler's update runs (and may draw noise): all but a final one.
  const updates = (i: number) => i < s1 - 1 || (leftover && s1 < N);
  let x0: Float32Array = x;
  let guided: Float32Array | undefined;
  // A run's buffers, reused step after step (allocating two arrays a step cost more than the
  // step's arithmetic): x_{i+1} alternates between two, and so does x0, because a multistep
  // sampler reads the previous step's x0 while the next one is written.
  const xs = [new Float32Array(n), new Float32Array(n)];
  const x0s = [new Float32Array(n), new Float32Array(n)];
  let stepsRun = 0;
  const historyAt = (step: number, x0: Float32Array): SamplerHistory => ({ sampler: impl.name, steps: N, tStart: denoise, shift: opts.shift, step, x0 });
  // The steps' noise is announced ahead, NOISE_AHEAD steps at a time, so that a source with a
  // helper thread draws it beside the model runs.
  let announced = s0;
  const announceUpTo = (end: number) => {
    if (impl.deterministic || !noise.prefetch) return;
    for (; announced < Math.min(end, s1); announced++) if (updates(announced)) noise.prefetch(seeds, n, stepStream(announced));
    noise.wake?.();
  };
  try {
    announceUpTo(s0 + NOISE_AHEAD);
    for (let i = s0; i < s1; i++) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      const cur = points[i];
      const pred = await opts.predict(x, cur.r, withUncond, { index: i, t: cur.t });
      announceUpTo(i + 1 + NOISE_AHEAD);
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (!pred || !(pred.cond instanceof Float32Array) || pred.cond.length !== n) {
        throw new Error(`model prediction at step ${i} must be a Float32Array of ${n} values`);
      }
      if (withUncond && (!(pred.uncond instanceof Float32Array) || pred.uncond.length !== n)) {
        throw new Error(`cfg ${cfg} needs an unconditional prediction of ${n} values at step ${i}`);
      }
      let eps: Float32Array;
      if (withUncond && rho === 0) {
        // Guidance without rescale is elementwise: done in the pass that computes x0, into a
        // buffer of this run's (ε̂ lives only for its step).
        eps = (guided ??= new Float32Array(n));
        x0 = predictX0(spare(x0s, x0), x, eps, cur.a, cur.b, i, pred.uncond, pred.cond, cfg);
      } else {
        eps = guide(pred.cond, withUncond ? pred.uncond : undefined, cfg, rho);
        x0 = predictX0(spare(x0s, x0), x, eps, cur.a, cur.b, i);
      }
      stepsRun++;
      opts.onStep?.({ step: stepsRun, total, index: i, t: cur.t, x, x0 });

      if (opts.finishRequested?.() || !updates(i)) return { samples: x0, noisyAt: 0, stepsRun, history: historyAt(i, x0) };

      x = impl.step(new SamplerStep(i, x, x0, eps, cur, points[i + 1], prev, spare(xs, x), noise, seeds));
      prev = { x0, point: cur };
      if (i === s1 - 1) return { samples: x, noisyAt: points[s1].t, stepsRun, history: historyAt(i, x0) };
    }
  } finally {
    noise.forget?.();
  }
  /* c8 ignore next */
  throw new Error("unreachable");
}
