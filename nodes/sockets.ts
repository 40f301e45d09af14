// Socket types and which output may feed which input. Plain data and functions without zod, so
// the editor's first load can use them (the zod schemas in schema.ts load later).

export const SOCKET_TYPES = [
  "IMAGE", "MASK", "LATENT", "CONDITIONING",
  "STAGE_C", "STAGE_B", "STAGE_A", "TEXT_ENCODER", "EFFNET", "CLIP_VISION", "PREVIEWER",
  "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO",
  "*",
] as const;
export type SocketType = (typeof SOCKET_TYPES)[number];

/** Types that carry a value a widget can edit; a link of the same type may replace the widget. */
export const LITERAL_TYPES: readonly SocketType[] = ["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"];

/**
 * Whether an output of type `from` may feed an input of type `to` (which may also take the types
 * in `accepts`, e.g. a sampler's model input takes STAGE_C or STAGE_B), and if not, why.
 */
export function socketCompatibility(from: SocketType, to: SocketType, accepts?: readonly SocketType[]): { ok: true } | { ok: false; reason: string } {
  if (from === to || from === "*" || to === "*" || accepts?.includes(from)) return { ok: true };
  const wanted = accepts?.length ? accepts.join(" or ") : to;
  return { ok: false, reason: `type mismatch: ${from} cannot feed an input of type ${wanted}` };
}
