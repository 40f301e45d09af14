// Measures of the control evals (pure): how well an image's edges follow a control's, and how much
// of an image stayed where a mask says it should.

/**
 * Edge agreement: the F1 score of two binary edge maps (HW, 0/1) where an edge pixel counts as
 * matched when the other map has an edge within `tolerance` pixels (Chebyshev distance). Two maps
 * without edges agree fully.
 */
export function edgeAgreement(output: Float32Array | Uint8Array, control: Float32Array | Uint8Array, width: number, height: number, tolerance = 1): number {
  const near = (map: Float32Array | Uint8Array, x: number, y: number) => {
    for (let dy = -tolerance; dy <= tolerance; dy++) for (let dx = -tolerance; dx <= tolerance; dx++) {
      const xx = x + dx, yy = y + dy;
      if (xx >= 0 && xx < width && yy >= 0 && yy < height && map[yy * width + xx] > 0.5) return true;
    }
    return false;
  };
  let outN = 0, outHit = 0, ctlN = 0, ctlHit = 0;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = y * width + x;
    if (output[i] > 0.5) { outN++; if (near(control, x, y)) outHit++; }
    if (control[i] > 0.5) { ctlN++; if (near(output, x, y)) ctlHit++; }
  }
  if (!outN && !ctlN) return 1;
  const precision = outN ? outHit / outN : 0, recall = ctlN ? ctlHit / ctlN : 0;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** PSNR (dB) of two RGB byte images (HWC) over the pixels where `keep` (HW) is set; Infinity when equal. */
export function maskedPsnr(a: Uint8Array, b: Uint8Array, keep: Uint8Array, channels = 3): number {
  let se = 0, n = 0;
  for (let p = 0; p < keep.length; p++) {
    if (!keep[p]) continue;
    for (let c = 0; c < channels; c++) {
      const d = a[p * channels + c] - b[p * channels + c];
      se += d * d;
      n++;
    }
  }
  if (!n) throw new Error("maskedPsnr: the mask keeps no pixel");
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / n));
}

/** A box mask (HW, 1 inside) around a scene object: its extent (1.15 r, in 64-px units) plus a margin. */
export function objectBox(cx: number, cy: number, r: number, size: number, margin = 3): Uint8Array {
  const k = size / 64, half = r * 1.15 + margin;
  const m = new Uint8Array(size * size);
  const y0 = Math.max(0, Math.floor((cy - half) * k)), y1 = Math.min(size, Math.floor((cy + half) * k) + 1);
  const x0 = Math.max(0, Math.floor((cx - half) * k)), x1 = Math.min(size, Math.floor((cx + half) * k) + 1);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * size + x] = 1;
  return m;
}
