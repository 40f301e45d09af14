// Decoding a large latent in tiles: Stage A is a stack of local operations (depthwise 3x3 convs,
// per-pixel norms and MLPs), so a tile decoded with a margin at least as wide as the network's
// receptive field gives exactly the pixels of a whole decode in its core. Memory then grows with the
// tile, not the image. Pure functions over FloatTensors; the runner is the caller's.
import type { FloatTensor } from "./tensors.ts";

/**
 * How a pack's Stage A decodes unless told otherwise: latents larger than `size` latent pixels a
 * side in tiles of that size, each with `margin` latent pixels of context (Stage A's receptive
 * field is about 14). The memory estimate of a decode counts one tile.
 */
export const STAGE_A_TILING = { size: 128, margin: 16 } as const;

/** The largest region (latent pixels per side) one decode of an n-pixel side feeds to Stage A. */
export function decodedSpan(n: number, tiling: { size: number; margin: number } = STAGE_A_TILING): number {
  return n <= tiling.size ? n : Math.min(n, tiling.size + 2 * tiling.margin);
}

export interface Tile {
  /** The core this tile is responsible for, in latent pixels: [y0, y1) x [x0, x1). */
  y0: number; y1: number; x0: number; x1: number;
  /** The region fed to the model: the core plus the margin, clamped to the latent. */
  cy0: number; cy1: number; cx0: number; cx1: number;
}

/** Tiles of at most `size` latent pixels a side covering an h x w latent, each with `margin` around it. */
export function planTiles(h: number, w: number, size: number, margin: number): Tile[] {
  if (size < 1) throw new Error(`tile size must be at least 1 (got ${size})`);
  const cuts = (n: number) => {
    const count = Math.ceil(n / size);
    const step = Math.ceil(n / count);
    const out: [number, number][] = [];
    for (let a = 0; a < n; a += step) out.push([a, Math.min(n, a + step)]);
    return out;
  };
  const tiles: Tile[] = [];
  for (const [y0, y1] of cuts(h)) {
    for (const [x0, x1] of cuts(w)) {
      tiles.push({ y0, y1, x0, x1, cy0: Math.max(0, y0 - margin), cy1: Math.min(h, y1 + margin), cx0: Math.max(0, x0 - margin), cx1: Math.min(w, x1 + margin) });
    }
  }
  return tiles;
}

/** The [B, C, cy1-cy0, cx1-cx0] crop of an NCHW tensor that a tile feeds to the model. */
export function cropTile(t: FloatTensor, tile: Tile): FloatTensor {
  const [B, C, H, W] = t.shape;
  const th = tile.cy1 - tile.cy0;
  const tw = tile.cx1 - tile.cx0;
  const out = new Float32Array(B * C * th * tw);
  for (let p = 0; p < B * C; p++) {
    for (let y = 0; y < th; y++) {
      const src = (p * H + tile.cy0 + y) * W + tile.cx0;
      out.set(t.data.subarray(src, src + tw), (p * th + y) * tw);
    }
  }
  return { data: out, shape: [B, C, th, tw] };
}

/**
 * Copy the core of a decoded tile (scale times the latent size) into `out` [B, C', H·scale, W·scale].
 */
export function pasteTile(out: FloatTensor, decoded: FloatTensor, tile: Tile, scale: number): void {
  const [B, C, OH, OW] = out.shape;
  const [, , DH, DW] = decoded.shape;
  const oy = (tile.y0 - tile.cy0) * scale;
  const ox = (tile.x0 - tile.cx0) * scale;
  const rows = (tile.y1 - tile.y0) * scale;
  const cols = (tile.x1 - tile.x0) * scale;
  for (let p = 0; p < B * C; p++) {
    for (let y = 0; y < rows; y++) {
      const src = (p * DH + oy + y) * DW + ox;
      out.data.set(decoded.data.subarray(src, src + cols), (p * OH + tile.y0 * scale + y) * OW + tile.x0 * scale);
    }
  }
}
