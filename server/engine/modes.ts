// Node modes, with ComfyUI's meaning so that imported workflows keep theirs: 0 runs (the default),
// 2 never runs (muted), 4 is bypassed (each output passes through the first input of the same
// type). Reroute nodes are pass-throughs typed by their link. All three are resolved here, as a
// pure rewrite of the workflow before validation: the executor only ever sees nodes that run.
import { isLink, type InputValue, type Link, type NodeSpec, type SocketType, type Workflow, type WorkflowNode } from "../../nodes/schema.ts";
import { componentKey } from "./components.ts";
import type { CatalogLookup } from "./validate.ts";

export const NODE_MODE = { always: 0, never: 2, bypass: 4 } as const;
export type NodeMode = (typeof NODE_MODE)[keyof typeof NODE_MODE];

/** The pass-through node: one input of any type, one output of the same type. */
export const REROUTE_TYPE = "Reroute";

/** An output node that will not run, and why. */
export interface SkippedNode { node: string; type: string; reason: string }

export interface ModesResult {
  workflow: Workflow;
  /** Output nodes (those that save or show results) left out because something they need is muted. */
  skipped: SkippedNode[];
}

type Resolved = { value: InputValue } | { missing: string };

/**
 * Removes muted, bypassed and Reroute nodes: links through a Reroute or a bypassed node are
 * re-pointed at what feeds them; a node that needs a muted node (through a required input) is
 * removed too, and so is everything downstream of it. An optional input fed by a muted node is
 * left unconnected. A workflow without modes or Reroutes comes back as it was.
 */
export function applyNodeModes(workflow: Workflow, lookup: CatalogLookup): ModesResult {
  const affected = workflow.nodes.some((n) => n.type === REROUTE_TYPE || (n.mode !== undefined && n.mode !== NODE_MODE.always));
  if (!affected) return { workflow, skipped: [] };

  const byId = new Map(workflow.nodes.map((n) => [n.id, n]));
  const specOf = (node: WorkflowNode): Pick<NodeSpec, "inputs" | "outputs" | "output"> | undefined => {
    const key = componentKey(node.type);
    if (key === undefined) return lookup(node.type);
    const def = workflow.components[key];
    return def && { inputs: def.inputs.map((p) => ({ name: p.name, type: p.type })), outputs: def.outputs.map((p) => ({ name: p.name, type: p.type })) };
  };
  const label = (n: WorkflowNode) => `node ${n.id} (${n.type})`;

  // Why a node cannot run ("" when it can): the muted or dead-end node it needs, memoised; `visiting` guards against cycles, which
  // validation reports on the rewritten workflow.
  const blocked = new Map<string, string>();
  const visiting = new Set<string>();

  const resolveLink = (link: Link, hops = 0): Resolved => {
    const src = byId.get(link.node);
    if (!src || hops > byId.size) return { value: link };
    if (src.mode === NODE_MODE.never) return { missing: `${label(src)}, which is muted` };
    if (src.type === REROUTE_TYPE || src.mode === NODE_MODE.bypass) {
      const through = passThroughInput(src, link.output);
      if (!through) {
        return { missing: src.type === REROUTE_TYPE ? `reroute ${src.id}, which has no input` : `${label(src)}, which is bypassed and has no connected input of the type of its output "${link.output}" to pass through` };
      }
      const value = src.inputs[through];
      return isLink(value) ? resolveLink(value, hops + 1) : { value: value! };
    }
    const why = whyBlocked(src);
    return why ? { missing: why } : { value: link };
  };

  /** The input whose value a Reroute or a bypassed node hands on through `output`. */
  const passThroughInput = (node: WorkflowNode, output: string): string | undefined => {
    if (node.type === REROUTE_TYPE) return node.inputs.input !== undefined && node.inputs.input !== null ? "input" : undefined;
    const spec = specOf(node);
    const type: SocketType | undefined = spec?.outputs.find((o) => o.name === output)?.type;
    if (!spec || !type) return undefined;
    const input = spec.inputs.find((i) => (i.type === type || i.accepts?.includes(type)) && isLink(node.inputs[i.name]));
    return input?.name;
  };

  const whyBlocked = (node: WorkflowNode): string => {
    const known = blocked.get(node.id);
    if (known !== undefined) return known;
    if (visiting.has(node.id)) return "";
    visiting.add(node.id);
    let why = "";
    const spec = specOf(node);
    for (const [name, value] of Object.entries(node.inputs)) {
      if (!isLink(value)) continue;
      const r = resolveLink(value);
      const optional = spec?.inputs.find((i) => i.name === name)?.optional;
      if ("missing" in r && !optional) { why = r.missing; break; }
    }
    visiting.delete(node.id);
    blocked.set(node.id, why);
    return why;
  };

  const nodes: WorkflowNode[] = [];
  const skipped: SkippedNode[] = [];
  for (const node of workflow.nodes) {
    if (node.type === REROUTE_TYPE || node.mode === NODE_MODE.never || node.mode === NODE_MODE.bypass) continue;
    const why = whyBlocked(node);
    if (why) {
      if (specOf(node)?.output) skipped.push({ node: node.id, type: node.type, reason: `it needs ${why}` });
      continue;
    }
    const inputs: WorkflowNode["inputs"] = {};
    for (const [name, value] of Object.entries(node.inputs)) {
      if (!isLink(value)) { inputs[name] = value; continue; }
      const r = resolveLink(value);
      if ("value" in r) inputs[name] = r.value;
    }
    const { mode: _mode, ...rest } = node;
    nodes.push({ ...rest, inputs });
  }
  const kept = new Set(nodes.map((n) => n.id));
  return {
    workflow: { ...workflow, nodes, params: workflow.params.filter((p) => kept.has(p.node)) },
    skipped,
  };
}
