// Image sizes for a pack: presets (its native size first, then common aspect ratios of about the
// same area) and advice when a size is beyond what the pack was made for or beyond the server's
// memory budget. Pure functions: the node view shows what they return.

export interface PackSize { width: number; height: number; compression: number; dynamic: boolean }
export interface SizePreset { label: string; width: number; height: number }

const RATIOS: [number, number][] = [[1, 1], [4, 3], [3, 4], [3, 2], [2, 3], [16, 9], [9, 16]];

/** Rounded to the nearest multiple of 8, at least 8 (what the latents divide cleanly). */
function round8(v: number): number {
  return Math.max(8, Math.round(v / 8) * 8);
}

export function sizePresets(pack: PackSize): SizePreset[] {
  const out: SizePreset[] = [{ label: `${pack.width}×${pack.height} (native)`, width: pack.width, height: pack.height }];
  if (!pack.dynamic) return out;
  const area = pack.width * pack.height;
  for (const [a, b] of RATIOS) {
    const width = round8(Math.sqrt((area * a) / b));
    const height = round8(Math.sqrt((area * b) / a));
    if (out.some((p) => p.width === width && p.height === height)) continue;
    out.push({ label: `${a}:${b} · ${width}×${height}`, width, height });
  }
  return out;
}

/** Larger than this many times the native area (or a side more than twice native) is beyond the pack. */
const AREA_FACTOR = 2.25;

/**
 * A rough peak for the Stage C attention at this size: the score matrix of its tokens, in float32,
 * twice (scores and their softmax). Used only to warn before queueing; the server decides.
 */
export function roughAttentionBytes(width: number, height: number, compression: number, batch = 1): number {
  const tokens = Math.ceil(width / compression) * Math.ceil(height / compression);
  return tokens * tokens * 4 * 2 * batch;
}

export function sizeAdvice(
  values: { width?: unknown; height?: unknown; compression?: unknown; batch?: unknown },
  pack: (PackSize & { name: string }) | undefined,
  memoryBudget?: number,
): string[] {
  const w = Number(values.width), h = Number(values.height);
  if (!Number.isFinite(w) || !Number.isFinite(h) || w <= 0 || h <= 0) return [];
  const c = values.compression === undefined ? undefined : Number(values.compression);
  const out: string[] = [];
  if (pack) {
    if (c !== undefined && Number.isFinite(c) && c !== pack.compression) {
      out.push(`Compression ${c}: pack “${pack.name}” was made for ${pack.compression}.`);
    }
    if (!pack.dynamic && (w !== pack.width || h !== pack.height)) {
      out.push(`${w}×${h}: pack “${pack.name}” runs only at ${pack.width}×${pack.height}.`);
    } else if (w * h > AREA_FACTOR * pack.width * pack.height || w > 2 * pack.width || h > 2 * pack.height) {
      out.push(`${w}×${h} is beyond what pack “${pack.name}” was made for (${pack.width}×${pack.height}): expect poor images and a long, memory-hungry run.`);
    }
  }
  if (memoryBudget && memoryBudget > 0) {
    const est = roughAttentionBytes(w, h, c && c > 0 ? c : pack?.compression ?? 42, Math.max(1, Number(values.batch) || 1));
    if (est > memoryBudget) out.push(`${w}×${h} needs about ${gib(est)} for attention, more than the server's memory budget (${gib(memoryBudget)}); it will be refused.`);
  }
  return out;
}

function gib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
}
