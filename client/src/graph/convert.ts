// Workflow (shared file format) <-> React Flow nodes and edges, plus auto-layout.
import { type Group, type Literal, type NodeSpec, type SocketType, type Workflow, type WorkflowNode } from "../../../nodes/schema.ts";
import { isLink, WORKFLOW_FORMAT, WORKFLOW_VERSION } from "../../../nodes/format.ts";
import { LITERAL_TYPES } from "../../../nodes/sockets.ts";
import { socketColor } from "./colors.ts";
import { NODE_WIDTH, NOTE_TYPE, type EdgeData, type FlowEdge, type FlowNode, type FrameNode, type SluiceNodeData } from "./types.ts";

export type Catalog = Map<string, NodeSpec>;

/** The widget inputs of a spec: literal-typed inputs that carry a default (or options). */
export function isWidgetInput(input: NodeSpec["inputs"][number]): boolean {
  return LITERAL_TYPES.includes(input.type) && (input.default !== undefined || input.type === "COMBO" || !!input.upload || !!input.paint);
}

export function defaultValue(input: NodeSpec["inputs"][number]): Literal {
  const d = input.default;
  if (typeof d === "string" || typeof d === "number" || typeof d === "boolean" || d === null) return d;
  if (input.type === "COMBO") return input.options?.[0] ?? "";
  if (input.type === "BOOLEAN") return false;
  if (input.type === "INT" || input.type === "FLOAT") return input.min ?? 0;
  return "";
}

export function edgeId(source: string, sourceHandle: string, target: string, targetHandle: string): string {
  return `${source}:${sourceHandle}->${target}:${targetHandle}`;
}

export function makeEdge(source: string, sourceHandle: string, target: string, targetHandle: string, socket: SocketType): FlowEdge {
  const color = socketColor(socket);
  return {
    id: edgeId(source, sourceHandle, target, targetHandle),
    source, sourceHandle, target, targetHandle,
    data: { socket } satisfies EdgeData,
    style: { stroke: color, strokeWidth: 2 },
  };
}

export function outputType(catalog: Catalog, nodeType: string | undefined, output: string | null | undefined): SocketType | undefined {
  if (!nodeType || !output) return undefined;
  return catalog.get(nodeType)?.outputs.find((o) => o.name === output)?.type;
}
export function inputType(catalog: Catalog, nodeType: string | undefined, input: string | null | undefined): SocketType | undefined {
  if (!nodeType || !input) return undefined;
  return catalog.get(nodeType)?.inputs.find((i) => i.name === input)?.type;
}

/** Converts a workflow into canvas nodes and edges. Positions missing from the file are laid out. */
export function workflowToFlow(wf: Workflow, catalog: Catalog): { nodes: FlowNode[]; edges: FlowEdge[] } {
  const nodes: FlowNode[] = [];
  const edges: FlowEdge[] = [];
  const byId = new Map(wf.nodes.map((n) => [n.id, n]));
  const needsLayout = wf.nodes.some((n) => !n.ui?.pos);
  const layout = needsLayout ? layoutLeftToRight(wf.nodes, catalog) : new Map<string, [number, number]>();

  (wf.groups ?? []).forEach((g, i) => nodes.push(groupToFrame(g, i)));

  for (const n of wf.nodes) {
    const spec = catalog.get(n.type);
    const values: Record<string, Literal> = {};
    for (const input of spec?.inputs ?? []) if (isWidgetInput(input)) values[input.name] = defaultValue(input);
    for (const [name, v] of Object.entries(n.inputs ?? {})) {
      if (isLink(v)) {
        const src = byId.get(v.node);
        const out = outputType(catalog, src?.type, v.output);
        const socket = (out === "*" ? undefined : out) ?? inputType(catalog, n.type, name) ?? "*";
        edges.push(makeEdge(v.node, v.output, n.id, name, socket));
      } else {
        values[name] = v as Literal;
      }
    }
    const { pos, size, collapsed, title, color, seedControl, ...uiExtra } = (n.ui ?? {}) as NonNullable<WorkflowNode["ui"]>;
    const p = pos ?? layout.get(n.id) ?? [0, 0];
    const isNote = n.type === NOTE_TYPE;
    const data: SluiceNodeData = { type: n.type, values };
    if (title) data.title = title;
    if (size && !isNote && size[0] > 0) data.width = size[0];
    if (collapsed) data.collapsed = true;
    if (color) data.color = color;
    if (seedControl) data.seedControl = { ...seedControl };
    if (Object.keys(uiExtra).length) data.uiExtra = uiExtra;
    if (n.placeholder) data.placeholder = n.placeholder;
    if (n.mode === 2 || n.mode === 4) data.mode = n.mode;
    if (!spec && n.type !== NOTE_TYPE && !data.placeholder) data.placeholder = { originalType: n.type, reason: "unknown node type" };
    nodes.push({
      id: n.id,
      type: isNote ? "note" : "sluice",
      position: { x: p[0], y: p[1] },
      data,
      ...(size && isNote ? { width: size[0], height: size[1] } : {}),
    } as FlowNode);
  }
  return { nodes, edges };
}

export function groupToFrame(g: Group, i: number): FrameNode {
  return {
    id: `group:${g.id ?? i}:${Math.random().toString(36).slice(2, 7)}`,
    type: "frame",
    position: { x: g.bounds[0], y: g.bounds[1] },
    width: g.bounds[2],
    height: g.bounds[3],
    zIndex: -10,
    className: "frame-node",
    dragHandle: ".frame-title",
    data: { title: g.title, ...(g.color ? { color: g.color } : {}), ...(g.id ? { groupId: g.id } : {}) },
  };
}

/** Converts canvas nodes and edges back into a workflow. */
export function flowToWorkflow(nodes: FlowNode[], edges: FlowEdge[], base?: Partial<Workflow>): Workflow {
  const wfNodes: WorkflowNode[] = [];
  const groups: Group[] = [];
  const linksByTarget = new Map<string, FlowEdge[]>();
  for (const e of edges) {
    const list = linksByTarget.get(e.target) ?? [];
    list.push(e);
    linksByTarget.set(e.target, list);
  }
  for (const n of nodes) {
    if (n.type === "frame") {
      const w = n.width ?? n.measured?.width ?? 400;
      const h = n.height ?? n.measured?.height ?? 300;
      groups.push({
        ...(n.data.groupId ? { id: n.data.groupId } : {}),
        title: n.data.title,
        bounds: [round(n.position.x), round(n.position.y), round(w), round(h)],
        ...(n.data.color ? { color: n.data.color } : {}),
      });
      continue;
    }
    const d = n.data;
    const inputs: WorkflowNode["inputs"] = { ...d.values };
    for (const e of linksByTarget.get(n.id) ?? []) {
      if (e.targetHandle && e.sourceHandle) inputs[e.targetHandle] = { node: e.source, output: e.sourceHandle };
    }
    const ui: NonNullable<WorkflowNode["ui"]> = { ...(d.uiExtra ?? {}), pos: [round(n.position.x), round(n.position.y)] };
    if (n.type === "note" && n.width) ui.size = [round(n.width), round(n.height ?? n.measured?.height ?? 0)];
    else if (d.width) ui.size = [round(d.width), round(n.measured?.height ?? 0)];
    if (d.collapsed) ui.collapsed = true;
    if (d.title) ui.title = d.title;
    if (d.color) ui.color = d.color;
    if (d.seedControl && Object.keys(d.seedControl).length) ui.seedControl = { ...d.seedControl };
    const wn: WorkflowNode = { id: n.id, type: d.placeholder?.originalType ?? d.type, inputs, ui };
    if (d.placeholder && d.placeholder.reason !== "unknown node type") wn.placeholder = d.placeholder;
    if (d.mode) wn.mode = d.mode;
    wfNodes.push(wn);
  }
  return {
    format: WORKFLOW_FORMAT,
    version: WORKFLOW_VERSION,
    ...(base?.name ? { name: base.name } : {}),
    ...(base?.description ? { description: base.description } : {}),
    nodes: wfNodes,
    groups,
    components: base?.components ?? {},
    params: base?.params ?? [],
    ...(base?.extra ? { extra: base.extra } : {}),
  };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Column = longest path from a source; rows stacked inside each column. Returns positions. */
export function layoutLeftToRight(nodes: WorkflowNode[], catalog: Catalog, heights?: Map<string, number>): Map<string, [number, number]> {
  const ids = new Set(nodes.map((n) => n.id));
  const deps = new Map<string, string[]>();
  for (const n of nodes) {
    deps.set(n.id, Object.values(n.inputs ?? {}).filter(isLink).map((l) => l.node).filter((id) => ids.has(id)));
  }
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let d = 0;
    for (const p of deps.get(id) ?? []) d = Math.max(d, depthOf(p) + 1);
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const columns = new Map<number, WorkflowNode[]>();
  for (const n of nodes) {
    const d = depthOf(n.id);
    const col = columns.get(d) ?? [];
    col.push(n);
    columns.set(d, col);
  }
  const out = new Map<string, [number, number]>();
  for (const [d, col] of columns) {
    let y = 0;
    for (const n of col) {
      out.set(n.id, [d * (NODE_WIDTH + 70), y]);
      y += (heights?.get(n.id) ?? estimateHeight(n.type, catalog)) + 40;
    }
  }
  return out;
}

export function estimateHeight(type: string, catalog: Catalog): number {
  const spec = catalog.get(type);
  if (!spec) return 120;
  let h = 40 + Math.max(spec.outputs.length, 0) * 24;
  for (const i of spec.inputs) h += i.multiline ? 90 : i.upload ? 150 : 28;
  if (hasPreviewArea(spec)) h += 210;
  return h;
}

/** Nodes that show images: outputs (Save/Preview), samplers (live preview) and gates. */
export function hasPreviewArea(spec: NodeSpec | undefined): boolean {
  if (!spec) return false;
  return !!spec.output || /sampler|gate|preview/i.test(spec.type);
}

/** Auto-layout of what is on the canvas now (keeps frames where they are). */
export function relayout(nodes: FlowNode[], edges: FlowEdge[], catalog: Catalog): FlowNode[] {
  const wf = flowToWorkflow(nodes.filter((n) => n.type !== "frame"), edges);
  const heights = new Map(nodes.filter((n) => n.measured?.height).map((n) => [n.id, n.measured!.height!]));
  const pos = layoutLeftToRight(wf.nodes.map((n) => ({ ...n, ui: undefined })), catalog, heights);
  return nodes.map((n) => {
    const p = pos.get(n.id);
    return p && n.type !== "frame" ? { ...n, position: { x: p[0], y: p[1] } } : n;
  });
}
