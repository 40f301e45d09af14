// Components (subgraphs). An instance is a node of type "component/<key>" whose definition
// lives in the workflow's `components[key]` (the server expands instances before running them).
// The editor derives a catalog entry per definition, makes a component from a selection, and
// unpacks an instance back into its nodes.
import type { ComponentDef, InputValue, Literal, NodeSpec, SocketType, Workflow, WorkflowNode } from "../../../nodes/schema.ts";
import { flowToWorkflow, hasPreviewArea, inputType, outputType, type Catalog } from "./convert.ts";
import type { FlowEdge, FlowNode } from "./types.ts";
import { isLink } from "../../../nodes/format.ts";
import { LITERAL_TYPES } from "../../../nodes/sockets.ts";

export const COMPONENT_PREFIX = "component/";

export function componentKey(type: string): string | undefined {
  return type.startsWith(COMPONENT_PREFIX) ? type.slice(COMPONENT_PREFIX.length) : undefined;
}

/** The catalog entry of a component: its border ports as inputs and outputs. */
export function componentSpec(key: string, def: ComponentDef, catalog: Catalog): NodeSpec {
  const innerSpecs = def.nodes.map((n) => catalog.get(n.type));
  const inputs = def.inputs.map((p) => {
    const literal = LITERAL_TYPES.includes(p.type);
    const first = p.targets[0];
    const inner = first ? def.nodes.find((n) => n.id === first.node) : undefined;
    const innerSpec = inner ? catalog.get(inner.type)?.inputs.find((i) => i.name === first!.input) : undefined;
    const value = inner && first ? inner.inputs[first.input] : undefined;
    return {
      ...(innerSpec ? { ...innerSpec } : {}),
      name: p.name,
      type: p.type,
      ...(literal ? { default: value !== undefined && !isLink(value) ? value : innerSpec?.default ?? null } : { default: undefined }),
    };
  });
  return {
    type: COMPONENT_PREFIX + key,
    displayName: def.name,
    category: "component",
    description: def.description ?? `A component of ${def.nodes.length} node${def.nodes.length === 1 ? "" : "s"}: ${[...new Set(def.nodes.map((n) => catalog.get(n.type)?.displayName ?? n.type))].join(", ")}`,
    inputs: inputs.map((i) => (i.default === undefined ? (({ default: _d, ...rest }) => rest)(i) : i)),
    outputs: def.outputs.map((o) => ({ name: o.name, type: o.type })),
    // Client-side only: a component showing images (inner outputs, samplers, gates) gets an image area.
    ...(innerSpecs.some((s) => s?.output || hasPreviewArea(s)) ? { output: true } : {}),
  };
}

/** Server catalog plus one entry per component definition (nested definitions see each other). */
export function effectiveCatalog(specs: NodeSpec[], components: Workflow["components"] | undefined): { specs: NodeSpec[]; catalog: Catalog } {
  const catalog: Catalog = new Map(specs.map((s) => [s.type, s]));
  const all = [...specs];
  const entries = Object.entries(components ?? {});
  // Two passes so that a component containing another one finds its spec.
  for (let pass = 0; pass < Math.min(entries.length, 4); pass++) {
    for (const [key, def] of entries) {
      const spec = componentSpec(key, def, catalog);
      catalog.set(spec.type, spec);
    }
  }
  for (const [key] of entries) all.push(catalog.get(COMPONENT_PREFIX + key)!);
  return { specs: all, catalog };
}

export function uniqueKey(name: string, taken: Record<string, unknown>): string {
  const base = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "component";
  let key = base;
  for (let i = 2; key in taken; i++) key = `${base}-${i}`;
  return key;
}

function uniqueName(name: string, used: Set<string>): string {
  let n = name;
  for (let i = 2; used.has(n); i++) n = `${name}_${i}`;
  used.add(n);
  return n;
}

export interface MadeComponent {
  def: ComponentDef;
  /** Links into the new instance: port name ← outside source. */
  incoming: { port: string; source: string; sourceHandle: string; socket: SocketType }[];
  /** Links out of the new instance: port name → outside target. */
  outgoing: { port: string; target: string; targetHandle: string; socket: SocketType }[];
  position: { x: number; y: number };
}

/** Builds a definition from selected nodes: links crossing the selection's border become ports. */
export function makeComponent(name: string, selected: FlowNode[], edges: FlowEdge[], catalog: Catalog): MadeComponent {
  const ids = new Set(selected.map((n) => n.id));
  const innerEdges = edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  const wf = flowToWorkflow(selected, innerEdges);
  const nodes = wf.nodes;
  const typeOf = (id: string) => nodes.find((n) => n.id === id)?.type;

  const inputs: ComponentDef["inputs"] = [];
  const incoming: MadeComponent["incoming"] = [];
  const inNames = new Set<string>();
  const bySource = new Map<string, ComponentDef["inputs"][number]>();
  for (const e of edges.filter((x) => !ids.has(x.source) && ids.has(x.target))) {
    const key = `${e.source}\u0000${e.sourceHandle}`;
    const socket = inputType(catalog, typeOf(e.target), e.targetHandle) ?? e.data?.socket ?? "*";
    let port = bySource.get(key);
    if (!port || port.type !== socket) {
      port = { name: uniqueName(e.targetHandle ?? "in", inNames), type: socket, targets: [] };
      bySource.set(key, port);
      inputs.push(port);
      incoming.push({ port: port.name, source: e.source, sourceHandle: e.sourceHandle ?? "", socket: e.data?.socket ?? socket });
    }
    port.targets.push({ node: e.target, input: e.targetHandle ?? "" });
  }

  const outputs: ComponentDef["outputs"] = [];
  const outgoing: MadeComponent["outgoing"] = [];
  const outNames = new Set<string>();
  const byInner = new Map<string, ComponentDef["outputs"][number]>();
  for (const e of edges.filter((x) => ids.has(x.source) && !ids.has(x.target))) {
    const key = `${e.source}\u0000${e.sourceHandle}`;
    let port = byInner.get(key);
    if (!port) {
      const socket = outputType(catalog, typeOf(e.source), e.sourceHandle) ?? e.data?.socket ?? "*";
      port = { name: uniqueName(e.sourceHandle ?? "out", outNames), type: socket, source: { node: e.source, output: e.sourceHandle ?? "" } };
      byInner.set(key, port);
      outputs.push(port);
    }
    outgoing.push({ port: port.name, target: e.target, targetHandle: e.targetHandle ?? "", socket: e.data?.socket ?? port.type });
  }

  const xs = selected.map((n) => n.position.x);
  const ys = selected.map((n) => n.position.y);
  return {
    def: { name, nodes, inputs, outputs },
    incoming,
    outgoing,
    position: { x: Math.min(...xs), y: Math.min(...ys) },
  };
}

export interface Unpacked {
  nodes: WorkflowNode[];
  /** Outside sources feeding inner inputs (from the instance's linked ports). */
  links: { source: string; sourceHandle: string; target: string; targetHandle: string }[];
  /** Re-pointed links out of the instance: inner source → outside target. */
  outLinks: { source: string; sourceHandle: string; target: string; targetHandle: string }[];
}

/** An instance's definition as plain nodes with fresh ids, placed at the instance's position. */
export function unpackComponent(
  instance: { id: string; position: { x: number; y: number }; values: Record<string, Literal> },
  def: ComponentDef,
  edges: FlowEdge[],
  newId: () => string,
): Unpacked {
  const idMap = new Map(def.nodes.map((n) => [n.id, newId()]));
  const minX = Math.min(...def.nodes.map((n) => n.ui?.pos?.[0] ?? 0));
  const minY = Math.min(...def.nodes.map((n) => n.ui?.pos?.[1] ?? 0));
  const nodes: WorkflowNode[] = def.nodes.map((n) => ({
    ...n,
    id: idMap.get(n.id)!,
    inputs: Object.fromEntries(Object.entries(n.inputs).map(([k, v]): [string, InputValue] => [k, isLink(v) && idMap.has(v.node) ? { node: idMap.get(v.node)!, output: v.output } : v])),
    ui: { ...(n.ui ?? {}), pos: [instance.position.x + (n.ui?.pos?.[0] ?? 0) - minX, instance.position.y + (n.ui?.pos?.[1] ?? 0) - minY] },
  }));
  const links: Unpacked["links"] = [];
  for (const port of def.inputs) {
    const edge = edges.find((e) => e.target === instance.id && e.targetHandle === port.name);
    for (const t of port.targets) {
      const target = idMap.get(t.node);
      if (!target) continue;
      if (edge) links.push({ source: edge.source, sourceHandle: edge.sourceHandle ?? "", target, targetHandle: t.input });
      else if (port.name in instance.values) {
        const node = nodes.find((n) => n.id === target)!;
        node.inputs[t.input] = instance.values[port.name] as InputValue;
      }
    }
  }
  const outLinks: Unpacked["outLinks"] = [];
  for (const e of edges.filter((x) => x.source === instance.id)) {
    const port = def.outputs.find((o) => o.name === e.sourceHandle);
    const source = port ? idMap.get(port.source.node) : undefined;
    if (port && source) outLinks.push({ source, sourceHandle: port.source.output, target: e.target, targetHandle: e.targetHandle ?? "" });
  }
  return { nodes, links, outLinks };
}

/** The definitions a set of nodes needs (instances and, recursively, components inside them). */
export function usedComponents(nodes: { type: string }[], all: Workflow["components"] | undefined): Workflow["components"] {
  const out: Workflow["components"] = {};
  const visit = (type: string) => {
    const key = componentKey(type);
    if (key === undefined || key in out || !all?.[key]) return;
    out[key] = all[key]!;
    for (const n of all[key]!.nodes) visit(n.type);
  };
  for (const n of nodes) visit(n.type);
  return out;
}
