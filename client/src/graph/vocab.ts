// Runtime helpers of the shared vocabulary, mirrored from nodes/schema.ts so that the editor's first
// load does not pull in zod (the schemas themselves are loaded lazily, in graph/validate.ts).
// The type assertions below fail to compile if nodes/schema.ts changes these helpers' shapes.
import type * as Schema from "../../../nodes/schema.ts";
import type { Link, SocketType } from "../../../nodes/schema.ts";

export const WORKFLOW_FORMAT = "sluice.workflow" satisfies typeof Schema.WORKFLOW_FORMAT;
export const WORKFLOW_VERSION: typeof Schema.WORKFLOW_VERSION = "1.1.0";
export const LITERAL_TYPES: readonly SocketType[] = ["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"];
export const MAX_SEED: typeof Schema.MAX_SEED = (1n << 64n) - 1n;

export const socketCompatibility: typeof Schema.socketCompatibility = (from, to, accepts) => {
  if (from === to || from === "*" || to === "*" || accepts?.includes(from)) return { ok: true };
  const wanted = accepts?.length ? accepts.join(" or ") : to;
  return { ok: false, reason: `type mismatch: ${from} cannot feed an input of type ${wanted}` };
};

// Compile-time guard: the mirrors take exactly the parameters of the originals (a new parameter
// in nodes/schema.ts, like `accepts` was, must be handled here too).
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const sameCompat: Same<Parameters<typeof socketCompatibility>, Parameters<typeof Schema.socketCompatibility>> = true;
void sameCompat;

export const isLink: typeof Schema.isLink = (v: unknown): v is Link =>
  typeof v === "object" && v !== null && typeof (v as Link).node === "string" && typeof (v as Link).output === "string";
