// Rules for links: socket compatibility, one link per input, no cycles. Every refusal has a reason.
import { type NodeSpec, type SocketType } from "../../../nodes/schema.ts";
import { LITERAL_TYPES, socketCompatibility } from "../../../nodes/sockets.ts";
import type { Catalog } from "./convert.ts";
import { REROUTE_TYPE, type FlowEdge, type FlowNode } from "./types.ts";

export interface ConnectionLike {
  source: string | null;
  sourceHandle?: string | null;
  target: string | null;
  targetHandle?: string | null;
}

export type Verdict = { ok: true; socket: SocketType; replaces?: FlowEdge } | { ok: false; reason: string };

export function nodeTypeOf(nodes: FlowNode[], id: string | null): string | undefined {
  const n = nodes.find((x) => x.id === id);
  return n && n.type !== "frame" ? n.data.type : undefined;
}

/** Does `from` reach `to` by following links downstream? */
export function reaches(edges: FlowEdge[], from: string, to: string): boolean {
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const l = out.get(e.source) ?? [];
    l.push(e.target);
    out.set(e.source, l);
  }
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const next of out.get(id) ?? []) stack.push(next);
  }
  return false;
}

export function checkConnection(c: ConnectionLike, nodes: FlowNode[], edges: FlowEdge[], catalog: Catalog): Verdict {
  if (!c.source || !c.target || !c.sourceHandle || !c.targetHandle) return { ok: false, reason: "incomplete connection" };
  if (c.source === c.target) return { ok: false, reason: "a node cannot feed itself" };
  const srcType = nodeTypeOf(nodes, c.source);
  const dstType = nodeTypeOf(nodes, c.target);
  let from = catalog.get(srcType ?? "")?.outputs.find((o) => o.name === c.sourceHandle)?.type;
  const toSpec = catalog.get(dstType ?? "")?.inputs.find((i) => i.name === c.targetHandle);
  let to = toSpec?.type;
  // A Reroute takes the type of its link: what feeds it, or else what it feeds.
  if (srcType === REROUTE_TYPE) from = rerouteType(c.source, edges, c.target) ?? from;
  if (dstType === REROUTE_TYPE) to = rerouteType(c.target, edges, c.source, c.targetHandle) ?? to;
  if (!from || !to) return { ok: false, reason: "unknown socket" };
  const compat = socketCompatibility(from, to, toSpec?.accepts);
  if (!compat.ok) return { ok: false, reason: `Type mismatch: ${from} cannot connect to ${c.targetHandle} (${toSpec?.accepts?.length ? [to, ...toSpec.accepts].join(" or ") : to})` };
  if (reaches(edges, c.target, c.source)) return { ok: false, reason: "That link would create a cycle" };
  const replaces = edges.find((e) => e.target === c.target && e.targetHandle === c.targetHandle);
  if (replaces && replaces.source === c.source && replaces.sourceHandle === c.sourceHandle) return { ok: false, reason: "already connected" };
  return { ok: true, socket: from === "*" ? to : from, ...(replaces ? { replaces } : {}) };
}

/**
 * The type a Reroute carries: its incoming link's, else its outgoing links' (ignoring the link
 * to `except` and, when re-linking its input, the link being replaced).
 */
export function rerouteType(id: string, edges: FlowEdge[], except?: string | null, replacingInput?: string | null): SocketType | undefined {
  let out: SocketType | undefined;
  for (const e of edges) {
    const s = e.data?.socket;
    if (!s || s === "*") continue;
    if (e.target === id && e.targetHandle !== replacingInput && e.source !== except) return s;
    if (e.source === id && e.target !== except) out ??= s;
  }
  return out;
}

/** For a link dragged from a socket and dropped on the canvas: which of a spec's sockets can take it. */
export function compatibleSocket(spec: NodeSpec, from: { kind: "source" | "target"; type: SocketType; accepts?: readonly SocketType[] }): string | undefined {
  if (from.kind === "source") {
    // Dragged from an output: the new node needs an input of a compatible type. Prefer the exact
    // type, then link sockets, then widgets (a wildcard output could feed any of them).
    const inputs = spec.inputs;
    const ok = (i: NodeSpec["inputs"][number]) => socketCompatibility(from.type, i.type, i.accepts).ok && (i.type !== "*" || from.type !== "*");
    return (inputs.find((i) => i.type === from.type)
      ?? inputs.find((i) => ok(i) && !LITERAL_TYPES.includes(i.type))
      ?? inputs.find(ok))?.name;
  }
  const outputs = spec.outputs;
  return (outputs.find((o) => o.type === from.type) ?? outputs.find((o) => socketCompatibility(o.type, from.type, from.accepts).ok))?.name;
}
