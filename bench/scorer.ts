// Prompt-adherence scorer for the tiny pack's synthetic world (scenes of coloured shapes).
//
// Pure TypeScript, no dependencies. Given an RGB(A) image and the prompt's expectation
// ({background, objects: [{color, shape, position}]}) it finds, per prompted object, a connected
// region of that colour whose centroid lies at the prompted place, and classifies its shape from the
// region's fill ratio of its bounding box and how its mass splits between the top and bottom halves.
//
// The constants and renderScene() mirror tools/tiny/data.py (the Python generator the pack was
// trained on): keep the two in sync.

export type ColorName = 'red' | 'green' | 'blue' | 'yellow' | 'purple' | 'orange' | 'white' | 'black';
export type BackgroundName = 'gray' | 'white' | 'black';
export type ShapeName = 'circle' | 'square' | 'triangle';
export type PositionName = 'left' | 'right' | 'top' | 'bottom' | 'center';

export interface SceneObject {
  color: ColorName | string;
  shape: ShapeName | string;
  position: PositionName | string;
  /** Optional render jitter, in 64-px units (the scorer ignores these). */
  dx?: number;
  dy?: number;
  r?: number;
}

export interface Expectation {
  background: BackgroundName | string;
  objects: SceneObject[];
}

export interface ImageLike {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA); inferred from data.length when omitted. */
  channels?: number;
}

export interface ObjectScore {
  color: string;
  shape: string;
  position: string;
  /** An object of this colour was found at this position. */
  colorPosition: boolean;
  /** ...and it has the prompted shape. */
  shape_ok: boolean;
  /** The shape the scorer saw there (null when nothing was found). */
  detectedShape: ShapeName | null;
  /** Where the largest region of this colour is (null when none). */
  detectedPosition: PositionName | null;
  area: number;
  fill: number;
  topFraction: number;
}

export interface SceneScore {
  colorPosition: boolean;
  shape: boolean;
  perObject: ObjectScore[];
}

export const COLORS: Record<ColorName, [number, number, number]> = {
  red: [220, 30, 30],
  green: [30, 170, 50],
  blue: [30, 60, 220],
  yellow: [240, 220, 30],
  purple: [150, 50, 200],
  orange: [250, 130, 20],
  white: [245, 245, 245],
  black: [15, 15, 15],
};

export const BACKGROUNDS: Record<BackgroundName, [number, number, number]> = {
  gray: [128, 128, 128],
  white: [245, 245, 245],
  black: [15, 15, 15],
};

export const COLOR_NAMES = Object.keys(COLORS) as ColorName[];
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as BackgroundName[];
export const SHAPES: ShapeName[] = ['circle', 'square', 'triangle'];

/** Object centres in units of a 64-pixel canvas. */
export const POSITIONS: Record<PositionName, [number, number]> = {
  left: [13, 32],
  right: [51, 32],
  top: [32, 13],
  bottom: [32, 51],
  center: [32, 32],
};
export const POSITION_NAMES = Object.keys(POSITIONS) as PositionName[];

export const POSITION_PHRASES: Record<PositionName, string> = {
  left: 'on the left',
  right: 'on the right',
  top: 'at the top',
  bottom: 'at the bottom',
  center: 'in the center',
};

/** Object half-size range and position jitter, 64-px units. */
export const R_MIN = 6.0;
export const R_MAX = 8.5;
export const JITTER = 1.5;

/** The caption the generator writes for a scene. */
export function caption(e: Expectation, withBackground = true): string {
  const parts = e.objects.map(
    (o) => `a ${o.color} ${o.shape} ${POSITION_PHRASES[o.position as PositionName] ?? o.position}`,
  );
  let text = parts.join(' and ');
  if (withBackground) text += ` on a ${e.background} background`;
  return text;
}

// ---------------------------------------------------------------------------------------------
// renderer (mirrors tools/tiny/data.py: shape_mask() and render())

function inside(shape: string, cx: number, cy: number, r: number, px: number, py: number): boolean {
  if (shape === 'circle') {
    return (px - cx) * (px - cx) + (py - cy) * (py - cy) <= r * r;
  }
  if (shape === 'square') {
    const h = 0.9 * r;
    return Math.abs(px - cx) <= h && Math.abs(py - cy) <= h;
  }
  // triangle, apex up
  const y0 = cy - 1.1 * r;
  const y1 = cy + 1.0 * r;
  const w = 1.15 * r;
  const t = (py - y0) / (y1 - y0);
  return py >= y0 && py <= y1 && Math.abs(px - cx) <= w * t;
}

/** Renders a scene as RGB bytes (size x size x 3), exactly like the Python generator. */
export function renderScene(e: Expectation, size = 64): Uint8Array {
  const k = 64 / size;
  const out = new Uint8Array(size * size * 3);
  const bg = BACKGROUNDS[e.background as BackgroundName] ?? COLORS[e.background as ColorName] ?? [128, 128, 128];
  const rgb = new Float64Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    rgb[i * 3] = bg[0];
    rgb[i * 3 + 1] = bg[1];
    rgb[i * 3 + 2] = bg[2];
  }
  for (const o of e.objects) {
    const [cx0, cy0] = POSITIONS[o.position as PositionName];
    const cx = cx0 + (o.dx ?? 0);
    const cy = cy0 + (o.dy ?? 0);
    const r = o.r ?? (R_MIN + R_MAX) / 2;
    const col = COLORS[o.color as ColorName];
    for (let y = 0; y < size; y++) {
      const py = (y + 0.5) * k;
      for (let x = 0; x < size; x++) {
        const px = (x + 0.5) * k;
        if (inside(o.shape, cx, cy, r, px, py)) {
          const j = (y * size + x) * 3;
          rgb[j] = col[0];
          rgb[j + 1] = col[1];
          rgb[j + 2] = col[2];
        }
      }
    }
  }
  // the generator stores value/255 as float32 and images are written as round(v*255)
  for (let i = 0; i < out.length; i++) out[i] = Math.round(rgb[i]);
  return out;
}

/** Small seeded PRNG (mulberry32) for reproducible scene jitter. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Adds the generator's random jitter (position offset, size) to a scene's objects. */
export function jitterScene(e: Expectation, rand: () => number): Expectation {
  return {
    background: e.background,
    objects: e.objects.map((o) => ({
      ...o,
      dx: (rand() * 2 - 1) * JITTER,
      dy: (rand() * 2 - 1) * JITTER,
      r: R_MIN + rand() * (R_MAX - R_MIN),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// scorer

const PALETTE: { name: string; rgb: [number, number, number] }[] = [
  ...COLOR_NAMES.map((n) => ({ name: n as string, rgb: COLORS[n] })),
  { name: 'gray', rgb: BACKGROUNDS.gray },
];

/** Per pixel: index into PALETTE of the nearest colour (-1 when nothing is within maxDistance). */
export function labelPixels(img: ImageLike, maxDistance = 110): Int8Array {
  const { width, height } = img;
  const ch = img.channels ?? Math.round(img.data.length / (width * height));
  const labels = new Int8Array(width * height);
  const maxD2 = maxDistance * maxDistance;
  for (let i = 0; i < width * height; i++) {
    const r = img.data[i * ch];
    const g = img.data[i * ch + 1];
    const b = img.data[i * ch + 2];
    let best = -1;
    let bestD = Infinity;
    for (let p = 0; p < PALETTE.length; p++) {
      const c = PALETTE[p].rgb;
      const d = (r - c[0]) * (r - c[0]) + (g - c[1]) * (g - c[1]) + (b - c[2]) * (b - c[2]);
      if (d < bestD) {
        bestD = d;
        best = p;
      }
    }
    labels[i] = bestD <= maxD2 ? best : -1;
  }
  return labels;
}

interface Component {
  area: number;
  cx: number;
  cy: number;
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
  pixels: number[];
}

function components(mask: Uint8Array, width: number, height: number): Component[] {
  const seen = new Uint8Array(width * height);
  const out: Component[] = [];
  const stack: number[] = [];
  for (let start = 0; start < width * height; start++) {
    if (!mask[start] || seen[start]) continue;
    const pixels: number[] = [];
    seen[start] = 1;
    stack.push(start);
    let sx = 0;
    let sy = 0;
    let minX = width;
    let maxX = -1;
    let minY = height;
    let maxY = -1;
    while (stack.length) {
      const p = stack.pop()!;
      pixels.push(p);
      const x = p % width;
      const y = (p - x) / width;
      sx += x;
      sy += y;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      const nb = [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, y > 0 ? p - width : -1, y < height - 1 ? p + width : -1];
      for (const q of nb) {
        if (q >= 0 && mask[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    out.push({ area: pixels.length, cx: sx / pixels.length, cy: sy / pixels.length, minX, maxX, minY, maxY, pixels });
  }
  return out;
}

/** Nearest named position for a point in 64-px units, or null when it is far from all of them. */
export function nearestPosition(x64: number, y64: number, maxDistance = 13): PositionName | null {
  let best: PositionName | null = null;
  let bestD = Infinity;
  for (const n of POSITION_NAMES) {
    const [px, py] = POSITIONS[n];
    const d = Math.hypot(x64 - px, y64 - py);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return bestD <= maxDistance ? best : null;
}

/** Shape from a region's fill ratio of its bounding box and its top-half mass fraction. */
export function classifyShape(fill: number, topFraction: number): ShapeName {
  if (topFraction < 0.38 || fill < 0.62) return 'triangle';
  if (fill >= 0.895) return 'square';
  return 'circle';
}

function shapeStats(c: Component, width: number): { fill: number; topFraction: number } {
  const w = c.maxX - c.minX + 1;
  const h = c.maxY - c.minY + 1;
  const fill = c.area / (w * h);
  const midY = (c.minY + c.maxY + 1) / 2; // pixel rows with centre above this are "top"
  let top = 0;
  for (const p of c.pixels) {
    const y = Math.floor(p / width);
    if (y + 0.5 < midY) top++;
    else if (y + 0.5 === midY) top += 0.5;
  }
  return { fill, topFraction: top / c.area };
}

export interface ScoreOptions {
  /** Minimum region area in pixels at 64x64 (scaled with the image area). */
  minArea?: number;
  /** Largest RGB distance for a pixel to count as a palette colour. */
  maxColorDistance?: number;
}

/** Scores one image against its prompt's expectation. */
export function scoreImage(img: ImageLike, e: Expectation, opts: ScoreOptions = {}): SceneScore {
  const { width, height } = img;
  const labels = labelPixels(img, opts.maxColorDistance ?? 110);
  const areaScale = (width * height) / (64 * 64);
  const minArea = (opts.minArea ?? 20) * areaScale;
  const perObject: ObjectScore[] = [];
  for (const o of e.objects) {
    const pi = PALETTE.findIndex((p) => p.name === o.color);
    const mask = new Uint8Array(width * height);
    if (pi >= 0) for (let i = 0; i < mask.length; i++) mask[i] = labels[i] === pi ? 1 : 0;
    const comps = components(mask, width, height).filter((c) => c.area >= minArea);
    comps.sort((a, b) => b.area - a.area);
    const where = (c: Component) => nearestPosition(((c.cx + 0.5) * 64) / width, ((c.cy + 0.5) * 64) / height);
    const atPlace = comps.filter((c) => where(c) === o.position);
    const chosen = atPlace[0] ?? null;
    let detectedShape: ShapeName | null = null;
    let fill = 0;
    let topFraction = 0;
    if (chosen) {
      const st = shapeStats(chosen, width);
      fill = st.fill;
      topFraction = st.topFraction;
      detectedShape = classifyShape(fill, topFraction);
    }
    const colorPosition = chosen !== null;
    perObject.push({
      color: o.color,
      shape: o.shape,
      position: o.position,
      colorPosition,
      shape_ok: colorPosition && detectedShape === o.shape,
      detectedShape,
      detectedPosition: comps.length ? where(comps[0]) : null,
      area: chosen ? chosen.area : 0,
      fill,
      topFraction,
    });
  }
  return {
    colorPosition: perObject.every((p) => p.colorPosition),
    shape: perObject.every((p) => p.shape_ok),
    perObject,
  };
}

export interface EvalLine {
  singleColorPosition: number;
  singleShape: number;
  twoColorPosition: number;
  twoShape: number;
  n: number;
}

/** Aggregates scores into the fractions that `npm run eval` prints. */
export function aggregate(items: { expectation: Expectation; score: SceneScore }[]): EvalLine {
  const single = items.filter((i) => i.expectation.objects.length === 1);
  const two = items.filter((i) => i.expectation.objects.length >= 2);
  const frac = (xs: typeof items, f: (s: SceneScore) => boolean) =>
    xs.length ? xs.filter((x) => f(x.score)).length / xs.length : 0;
  return {
    singleColorPosition: frac(single, (s) => s.colorPosition),
    singleShape: frac(single, (s) => s.shape),
    twoColorPosition: frac(two, (s) => s.colorPosition),
    twoShape: frac(two, (s) => s.shape),
    n: items.length,
  };
}

/** Scorer ceiling: the scorer on freshly rendered (jittered) scenes of the given expectations. */
export function scorerCeiling(expectations: Expectation[], size = 64, seed = 7, repeats = 3): number {
  const rand = mulberry32(seed);
  let ok = 0;
  let n = 0;
  for (let k = 0; k < repeats; k++) {
    for (const e of expectations) {
      const scene = jitterScene(e, rand);
      const img = renderScene(scene, size);
      const s = scoreImage({ data: img, width: size, height: size, channels: 3 }, e);
      if (s.shape) ok++;
      n++;
    }
  }
  return n ? ok / n : 0;
}
