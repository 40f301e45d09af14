// Canny edges, step for step as the tiny pack's ControlNet was trained on them (tools/tiny/filters.py
// mirrors this: keep the two in sync). Luma (0.299, 0.587, 0.114); a 5×5 Gaussian (σ 1) and a
// Sobel, both repeating the edge pixels; non-maximum suppression along the gradient quantised to 4
// directions (neighbours outside the image count 0; a pixel survives when it is ≥ both);
// thresholds on the gradient magnitude of [0, 1] images; hysteresis through 8-neighbours.

const GAUSS = (() => {
  const g = [-2, -1, 0, 1, 2].map((x) => Math.exp(-(x * x) / 2));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => Math.fround(v / s));
})();

/** Edges of one [H, W] luma plane: 0/1 values. */
export function cannyPlane(gray: Float32Array, H: number, W: number, low: number, high: number): Float32Array {
  const at = (p: Float32Array, y: number, x: number) => p[Math.min(H - 1, Math.max(0, y)) * W + Math.min(W - 1, Math.max(0, x))];
  const tmp = new Float32Array(H * W), blur = new Float32Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let s = 0;
    for (let k = 0; k < 5; k++) s += GAUSS[k] * at(gray, y, x + k - 2);
    tmp[y * W + x] = s;
  }
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let s = 0;
    for (let k = 0; k < 5; k++) s += GAUSS[k] * at(tmp, y + k - 2, x);
    blur[y * W + x] = s;
  }
  const mag = new Float32Array(H * W), dir = new Uint8Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const p = (dy: number, dx: number) => at(blur, y + dy, x + dx);
    const gx = -p(-1, -1) + p(-1, 1) - 2 * p(0, -1) + 2 * p(0, 1) - p(1, -1) + p(1, 1);
    const gy = -p(-1, -1) - 2 * p(-1, 0) - p(-1, 1) + p(1, -1) + 2 * p(1, 0) + p(1, 1);
    mag[y * W + x] = Math.sqrt(gx * gx + gy * gy);
    let ang = (Math.atan2(gy, gx) * 180) / Math.PI;
    if (ang < 0) ang += 180;
    dir[y * W + x] = ang < 22.5 || ang >= 157.5 ? 0 : ang < 67.5 ? 1 : ang < 112.5 ? 2 : 3;
  }
  const m = (y: number, x: number) => (y < 0 || y >= H || x < 0 || x >= W ? 0 : mag[y * W + x]);
  // neighbour offsets [dy, dx] per direction: 0°, 45°, 90°, 135°
  const N1 = [[0, 1], [1, 1], [1, 0], [1, -1]], N2 = [[0, -1], [-1, -1], [-1, 0], [-1, 1]];
  const weak = new Uint8Array(H * W), edges = new Uint8Array(H * W);
  const stack: number[] = [];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const i = y * W + x, d = dir[i], v = mag[i];
    const keep = v >= m(y + N1[d][0], x + N1[d][1]) && v >= m(y + N2[d][0], x + N2[d][1]);
    if (!keep) continue;
    if (v >= low) weak[i] = 1;
    if (v >= high) { edges[i] = 1; stack.push(i); }
  }
  // hysteresis: every weak pixel 8-connected to a strong one
  while (stack.length) {
    const i = stack.pop()!, y = Math.floor(i / W), x = i % W;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const yy = y + dy, xx = x + dx;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      const j = yy * W + xx;
      if (weak[j] && !edges[j]) { edges[j] = 1; stack.push(j); }
    }
  }
  return Float32Array.from(edges);
}

/** Luma of one batch item of an image [B, C≥3, H, W]. */
export function lumaPlane(data: Float32Array, item: number, C: number, H: number, W: number): Float32Array {
  const plane = H * W, base = item * C * plane, out = new Float32Array(plane);
  for (let p = 0; p < plane; p++) out[p] = Math.fround(0.299 * data[base + p] + 0.587 * data[base + plane + p] + 0.114 * data[base + 2 * plane + p]);
  return out;
}
