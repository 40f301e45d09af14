// The graph being edited: catalog, canvas nodes/edges, undo/redo history of graph snapshots,
// clipboard, seeds. Run-time state (progress, previews) lives in store/run.ts, not here, so that a
// progress event re-renders one node and not the graph.
import { applyEdgeChanges, applyNodeChanges, type EdgeChange, type NodeChange } from "@xyflow/react";
import { create } from "zustand";
import { type ComponentDef, type Literal, type NodeSpec, type SeedControl, type SocketType, type Workflow } from "../../../nodes/schema.ts";
import { isLink, WORKFLOW_FORMAT, WORKFLOW_VERSION } from "../../../nodes/format.ts";
import { MAX_SEED } from "../../../nodes/seed.ts";
import { checkConnection, compatibleSocket, type ConnectionLike } from "../graph/connect.ts";
import { defaultValue, flowToWorkflow, groupToFrame, inputType, isWidgetInput, makeEdge, outputType, relayout, workflowToFlow, type Catalog } from "../graph/convert.ts";
import { COMPONENT_PREFIX, componentKey, effectiveCatalog, usedComponents, makeComponent as buildComponent, uniqueKey, unpackComponent as unpackDef } from "../graph/components.ts";
import { NODE_WIDTH, NOTE_TYPE, type NodeMode, type FlowEdge, type FlowNode, type FrameNode, type SluiceNodeData } from "../graph/types.ts";
import { toast } from "./ui.ts";
import { packSize, usePacks } from "./packs.ts";

interface Snapshot { nodes: FlowNode[]; edges: FlowEdge[]; meta: Partial<Meta> }

type Meta = Pick<Workflow, "name" | "description" | "components" | "params" | "extra">;

interface GraphState {
  /** The server's catalog (GET /api/nodes). */
  serverSpecs: NodeSpec[];
  /** The server's catalog plus one entry per component of this workflow. */
  specs: NodeSpec[];
  catalog: Catalog;
  nodes: FlowNode[];
  edges: FlowEdge[];
  meta: Partial<Meta>;
  /** The library entry this canvas was opened from / saved to, if any. */
  library: { id: string; name: string; version: number } | null;
  past: Snapshot[];
  future: Snapshot[];
  snap: boolean;
  /** Bumped whenever a whole workflow is loaded or re-arranged (the canvas fits the view on change). */
  loadCount: number;
  /** Bumped only when another workflow replaces the canvas (run state of the old one is dropped). */
  workflowSerial: number;

  setCatalog(specs: NodeSpec[]): void;
  load(wf: Workflow, opts?: { record?: boolean; library?: GraphState["library"]; tidy?: boolean }): void;
  /** Whether the last load asked for overlapping nodes to be pushed apart once measured. */
  tidy: boolean;
  setLibrary(l: GraphState["library"]): void;
  workflow(): Workflow;
  onNodesChange(changes: NodeChange<FlowNode>[]): void;
  onEdgesChange(changes: EdgeChange<FlowEdge>[]): void;
  connect(c: ConnectionLike): boolean;
  /** Moves an existing link's end to a new socket (drag its end); false leaves it as it was. */
  reconnect(oldEdge: FlowEdge, c: ConnectionLike): boolean;
  removeEdge(id: string): void;
  addNode(type: string, pos: { x: number; y: number }, opts?: { wireFrom?: { nodeId: string; handle: string; kind: "source" | "target"; type: SocketType; accepts?: readonly SocketType[] }; values?: Record<string, Literal> }): string | null;
  setValue(nodeId: string, input: string, value: Literal): void;
  patchNode(nodeId: string, patch: Partial<SluiceNodeData>, recordKey?: string | false): void;
  patchFrame(id: string, patch: Partial<FrameNode["data"]>): void;
  /**
   * Sets the mode of the selected nodes (or `ids`): bypassed or muted; when every one of them
   * has that mode already, they run again.
   */
  toggleMode(mode: NodeMode, ids?: string[]): void;
  deleteSelected(): void;
  deleteNodes(ids: string[]): void;
  selectionWorkflow(): Workflow | null;
  paste(wf: Workflow, at?: { x: number; y: number }): void;
  duplicate(): void;
  groupSelection(): void;
  arrange(): void;
  /** Moves nodes down until none overlaps another; groups grow to keep their nodes inside. */
  resolveOverlaps(): void;
  record(key?: string): void;
  undo(): void;
  redo(): void;
  setSnap(on: boolean): void;
  beginFrameDrag(frameId: string): void;
  endFrameDrag(): void;
  applySeedControls(): void;
  /** Replaces the selected nodes by an instance of a new component. */
  makeComponent(name: string, key?: string): string | null;
  /**
   * Rewrites a component's ports (names, order, exposed widgets) and, given, its name. `renamed`
   * maps old port names to new ones so every instance keeps its links and values; ports that are
   * gone lose theirs.
   */
  setComponentPorts(key: string, inputs: ComponentDef["inputs"], outputs: ComponentDef["outputs"], renamed: { inputs: Record<string, string>; outputs: Record<string, string> }, name?: string): void;
  /** Workflow parameters: named inputs for `sluice run --set` and the API. */
  setParams(params: NonNullable<Meta["params"]>): void;
  /** Replaces an instance by its nodes (unlinks it from the definition). */
  unpackComponent(instanceId: string): string[];
}

const HISTORY_LIMIT = 100;
let lastRecord = { key: "", at: 0 };
let frameDrag: { frameId: string; children: Set<string> } | null = null;

export function nextNodeId(nodes: { id: string }[]): string {
  let max = 0;
  for (const n of nodes) {
    const v = Number(n.id);
    if (Number.isInteger(v) && v > max) max = v;
  }
  const used = new Set(nodes.map((n) => n.id));
  let id = max + 1;
  while (used.has(String(id))) id++;
  return String(id);
}

function nodeRect(n: FlowNode) {
  const w = n.width ?? n.measured?.width ?? NODE_WIDTH;
  const h = n.height ?? n.measured?.height ?? 100;
  return { x: n.position.x, y: n.position.y, w, h };
}

export const useGraph = create<GraphState>((set, get) => ({
  serverSpecs: [],
  specs: [],
  catalog: new Map(),
  nodes: [],
  edges: [],
  meta: {},
  library: null,
  past: [],
  future: [],
  snap: true,
  loadCount: 0,
  workflowSerial: 0,
  tidy: true,

  setCatalog(specs) {
    set({ serverSpecs: specs, ...effectiveCatalog(specs, get().meta.components) });
  },

  load(wf, opts) {
    if (opts?.record) get().record();
    const eff = effectiveCatalog(get().serverSpecs, wf.components);
    const { nodes, edges } = workflowToFlow(wf, eff.catalog);
    set({
      ...eff,
      nodes, edges,
      meta: { name: wf.name, description: wf.description, components: wf.components, params: wf.params, extra: wf.extra },
      library: opts?.library ?? null,
      loadCount: get().loadCount + 1,
      workflowSerial: get().workflowSerial + 1,
      tidy: opts?.tidy ?? true,
      ...(opts?.record ? {} : { past: [], future: [] }),
    });
  },

  setLibrary(l) {
    set({ library: l, ...(l ? { meta: { ...get().meta, name: l.name } } : {}) });
  },

  workflow() {
    const { nodes, edges, meta } = get();
    return flowToWorkflow(nodes, edges, meta);
  },

  onNodesChange(changes) {
    if (changes.some((c) => c.type === "remove")) {
      const ids = changes.flatMap((c) => (c.type === "remove" ? [c.id] : []));
      get().record();
      const idSet = new Set(ids);
      set({
        nodes: applyNodeChanges(changes, get().nodes),
        edges: get().edges.filter((e) => !idSet.has(e.source) && !idSet.has(e.target)),
      });
      return;
    }
    let all = changes;
    if (frameDrag) {
      const fd = frameDrag;
      const frameChange = changes.find((c) => c.type === "position" && c.id === fd.frameId && c.position);
      if (frameChange && frameChange.type === "position" && frameChange.position) {
        const frame = get().nodes.find((n) => n.id === fd.frameId);
        if (frame) {
          const dx = frameChange.position.x - frame.position.x;
          const dy = frameChange.position.y - frame.position.y;
          const moving = new Set(changes.filter((c) => c.type === "position").map((c) => (c as { id: string }).id));
          const extra: NodeChange<FlowNode>[] = [];
          for (const n of get().nodes) {
            if (fd.children.has(n.id) && !moving.has(n.id)) {
              extra.push({ type: "position", id: n.id, position: { x: n.position.x + dx, y: n.position.y + dy } });
            }
          }
          all = [...changes, ...extra];
        }
      }
    }
    set({ nodes: applyNodeChanges(all, get().nodes) });
  },

  onEdgesChange(changes) {
    if (changes.some((c) => c.type === "remove")) get().record();
    set({ edges: applyEdgeChanges(changes, get().edges) });
  },

  connect(c) {
    const { nodes, edges, catalog } = get();
    const verdict = checkConnection(c, nodes, edges, catalog);
    if (!verdict.ok) {
      if (verdict.reason !== "already connected") toast(verdict.reason, "warn");
      return false;
    }
    get().record();
    let next = edges;
    if (verdict.replaces) {
      const old = verdict.replaces;
      next = edges.filter((e) => e.id !== old.id);
      const src = nodes.find((n) => n.id === old.source);
      const srcName = src && src.type !== "frame" ? src.data.title ?? catalog.get(src.data.type)?.displayName ?? src.data.type : old.source;
      toast(`Input "${c.targetHandle}" was already connected (from ${srcName}); the old link was replaced`, "info");
    }
    set({ edges: [...next, makeEdge(c.source!, c.sourceHandle!, c.target!, c.targetHandle!, verdict.socket)] });
    return true;
  },

  reconnect(oldEdge, c) {
    const { nodes, edges, catalog } = get();
    const without = edges.filter((e) => e.id !== oldEdge.id);
    const verdict = checkConnection(c, nodes, without, catalog);
    if (!verdict.ok) {
      if (verdict.reason !== "already connected") toast(`Connection refused: ${verdict.reason}`, "warn");
      return false;
    }
    get().record();
    const next = verdict.replaces ? without.filter((e) => e.id !== verdict.replaces!.id) : without;
    set({ edges: [...next, makeEdge(c.source!, c.sourceHandle!, c.target!, c.targetHandle!, verdict.socket)] });
    return true;
  },

  removeEdge(id) {
    if (!get().edges.some((e) => e.id === id)) return;
    get().record();
    set({ edges: get().edges.filter((e) => e.id !== id) });
  },

  addNode(type, pos, opts) {
    const { catalog, nodes } = get();
    const spec = catalog.get(type);
    if (!spec && type !== NOTE_TYPE) return null;
    get().record();
    const id = nextNodeId(nodes);
    const values: Record<string, Literal> = {};
    if (type === NOTE_TYPE) values.text = "";
    for (const input of spec?.inputs ?? []) if (isWidgetInput(input)) values[input.name] = defaultValue(input);
    // A latent size defaults to the size the pack in use was made for, not the catalog's default
    // (which is the released models' 1024² at compression 42).
    if (spec && sizedLatent(spec)) {
      const pack = packSize(usePacks.getState().packs, packInUse(nodes));
      if (pack) Object.assign(values, { width: pack.width, height: pack.height, compression: pack.compression });
    }
    Object.assign(values, opts?.values ?? {});
    const data: SluiceNodeData = { type, values };
    const seedInputs = spec?.inputs.filter((i) => i.seed) ?? [];
    if (seedInputs.length) data.seedControl = Object.fromEntries(seedInputs.map((i) => [i.name, "randomize" as SeedControl]));
    const node = {
      id,
      type: type === NOTE_TYPE ? "note" : "sluice",
      position: pos,
      data,
      selected: true,
      ...(type === NOTE_TYPE ? { width: 240, height: 140 } : {}),
    } as FlowNode;
    const deselected = nodes.map((n) => (n.selected ? { ...n, selected: false } : n));
    set({ nodes: [...deselected, node] });
    const from = opts?.wireFrom;
    if (from && spec) {
      const socket = compatibleSocket(spec, from);
      if (socket) {
        const conn = from.kind === "source"
          ? { source: from.nodeId, sourceHandle: from.handle, target: id, targetHandle: socket }
          : { source: id, sourceHandle: socket, target: from.nodeId, targetHandle: from.handle };
        const verdict = checkConnection(conn, get().nodes, get().edges, catalog);
        if (verdict.ok) {
          const edges = verdict.replaces ? get().edges.filter((e) => e.id !== verdict.replaces!.id) : get().edges;
          set({ edges: [...edges, makeEdge(conn.source, conn.sourceHandle, conn.target, conn.targetHandle, verdict.socket)] });
        }
      }
    }
    return id;
  },

  setValue(nodeId, input, value) {
    get().record(`value:${nodeId}:${input}`);
    set({
      nodes: get().nodes.map((n) => (n.id === nodeId && n.type !== "frame" ? { ...n, data: { ...n.data, values: { ...n.data.values, [input]: value } } } : n)),
    });
  },

  patchNode(nodeId, patch, recordKey) {
    if (recordKey !== false) get().record(recordKey);
    set({ nodes: get().nodes.map((n) => (n.id === nodeId && n.type !== "frame" ? { ...n, data: { ...n.data, ...patch } } : n)) as FlowNode[] });
  },

  patchFrame(id, patch) {
    get().record(`frame:${id}`);
    set({ nodes: get().nodes.map((n) => (n.id === id && n.type === "frame" ? { ...n, data: { ...n.data, ...patch } } : n)) as FlowNode[] });
  },

  toggleMode(mode, ids) {
    const pick = new Set(ids ?? get().nodes.filter((n) => n.selected && n.type === "sluice").map((n) => n.id));
    const targets = get().nodes.filter((n) => pick.has(n.id) && n.type === "sluice");
    if (!targets.length) return;
    const off = targets.every((n) => n.type === "sluice" && n.data.mode === mode);
    get().record();
    set({
      nodes: get().nodes.map((n) => {
        if (!pick.has(n.id) || n.type !== "sluice") return n;
        const { mode: _old, ...data } = n.data;
        return { ...n, data: off ? data : { ...data, mode } };
      }) as FlowNode[],
    });
  },

  deleteSelected() {
    const ids = get().nodes.filter((n) => n.selected).map((n) => n.id);
    const edgeIds = new Set(get().edges.filter((e) => e.selected).map((e) => e.id));
    if (!ids.length && !edgeIds.size) return;
    get().record();
    const idSet = new Set(ids);
    set({
      nodes: get().nodes.filter((n) => !idSet.has(n.id)),
      edges: get().edges.filter((e) => !edgeIds.has(e.id) && !idSet.has(e.source) && !idSet.has(e.target)),
    });
  },

  deleteNodes(ids) {
    get().record();
    const idSet = new Set(ids);
    set({
      nodes: get().nodes.filter((n) => !idSet.has(n.id)),
      edges: get().edges.filter((e) => !idSet.has(e.source) && !idSet.has(e.target)),
    });
  },

  selectionWorkflow() {
    const sel = get().nodes.filter((n) => n.selected);
    if (!sel.length) return null;
    const ids = new Set(sel.map((n) => n.id));
    const edges = get().edges.filter((e) => ids.has(e.source) && ids.has(e.target));
    const wf = flowToWorkflow(sel, edges);
    return { ...wf, components: usedComponents(wf.nodes, get().meta.components) };
  },

  paste(wf, at) {
    if (wf.format !== WORKFLOW_FORMAT || !Array.isArray(wf.nodes)) return;
    get().record();
    const existing = get().nodes;
    const idMap = new Map<string, string>();
    const taken = [...existing];
    for (const n of wf.nodes) {
      const id = nextNodeId(taken);
      idMap.set(n.id, id);
      taken.push({ id } as FlowNode);
    }
    // Offset so the pasted block's top-left lands at `at` (or 40px down-right of the original).
    const xs = [...wf.nodes.map((n) => n.ui?.pos?.[0] ?? 0), ...(wf.groups ?? []).map((g) => g.bounds[0])];
    const ys = [...wf.nodes.map((n) => n.ui?.pos?.[1] ?? 0), ...(wf.groups ?? []).map((g) => g.bounds[1])];
    const minX = xs.length ? Math.min(...xs) : 0;
    const minY = ys.length ? Math.min(...ys) : 0;
    const dx = at ? at.x - minX : 40;
    const dy = at ? at.y - minY : 40;
    const remapped: Workflow = {
      ...wf,
      nodes: wf.nodes.map((n) => ({
        ...n,
        id: idMap.get(n.id)!,
        inputs: Object.fromEntries(Object.entries(n.inputs ?? {}).flatMap(([k, v]): [string, unknown][] => {
          if (!isLink(v)) return [[k, v]];
          const src = idMap.get(v.node);
          return src ? [[k, { node: src, output: v.output }]] : [];
        })) as Workflow["nodes"][number]["inputs"],
        ui: { ...(n.ui ?? {}), pos: [(n.ui?.pos?.[0] ?? 0) + dx, (n.ui?.pos?.[1] ?? 0) + dy] as [number, number] },
      })),
      groups: (wf.groups ?? []).map((g) => ({ ...g, bounds: [g.bounds[0] + dx, g.bounds[1] + dy, g.bounds[2], g.bounds[3]] as [number, number, number, number] })),
    };
    // Component definitions travel with pasted instances; a key already here keeps its definition.
    const incoming = Object.entries(wf.components ?? {}).filter(([k]) => !(k in (get().meta.components ?? {})));
    if (incoming.length) {
      const meta = { ...get().meta, components: { ...(get().meta.components ?? {}), ...Object.fromEntries(incoming) } };
      set({ meta, ...effectiveCatalog(get().serverSpecs, meta.components) });
    }
    const flow = workflowToFlow(remapped, get().catalog);
    set({
      nodes: [...existing.map((n) => (n.selected ? { ...n, selected: false } : n)), ...flow.nodes.map((n) => ({ ...n, selected: true }))],
      edges: [...get().edges, ...flow.edges],
    });
  },

  duplicate() {
    const wf = get().selectionWorkflow();
    if (wf) get().paste(wf);
  },

  groupSelection() {
    const sel = get().nodes.filter((n) => n.selected && n.type !== "frame");
    if (!sel.length) return;
    get().record();
    const rects = sel.map(nodeRect);
    const x = Math.min(...rects.map((r) => r.x)) - 20;
    const y = Math.min(...rects.map((r) => r.y)) - 50;
    const x2 = Math.max(...rects.map((r) => r.x + r.w)) + 20;
    const y2 = Math.max(...rects.map((r) => r.y + r.h)) + 20;
    const frame = groupToFrame({ title: "Group", bounds: [x, y, x2 - x, y2 - y] }, get().nodes.length);
    set({ nodes: [frame, ...get().nodes] });
  },

  arrange() {
    get().record();
    set({ nodes: relayout(get().nodes, get().edges, get().catalog), loadCount: get().loadCount + 1, tidy: true });
  },

  resolveOverlaps() {
    const nodes = get().nodes;
    const frames = nodes.filter((n) => n.type === "frame");
    const items = nodes.filter((n) => n.type !== "frame");
    const members = new Map(frames.map((f) => {
      const r = nodeRect(f);
      return [f.id, items.filter((n) => n.position.x >= r.x && n.position.y >= r.y && n.position.x < r.x + r.w && n.position.y < r.y + r.h).map((n) => n.id)];
    }));
    const gap = 16;
    const placed: { id: string; x: number; y: number; w: number; h: number }[] = [];
    const moved = new Map<string, { x: number; y: number }>();
    for (const n of [...items].sort((a, b) => a.position.y - b.position.y || a.position.x - b.position.x)) {
      const r = nodeRect(n);
      let y = r.y;
      for (let guard = 0; guard < 200; guard++) {
        const hit = placed.find((p) => r.x < p.x + p.w + gap && r.x + r.w + gap > p.x && y < p.y + p.h + gap && y + r.h + gap > p.y);
        if (!hit) break;
        y = hit.y + hit.h + gap;
      }
      placed.push({ id: n.id, x: r.x, y, w: r.w, h: r.h });
      if (y !== r.y) moved.set(n.id, { x: r.x, y });
    }
    if (!moved.size) return;
    const rects = new Map(placed.map((p) => [p.id, p]));
    set({
      nodes: nodes.map((n) => {
        if (n.type === "frame") {
          const ids = members.get(n.id) ?? [];
          if (!ids.length) return n;
          const f = nodeRect(n);
          let bottom = f.y + f.h;
          let right = f.x + f.w;
          for (const id of ids) {
            const p = rects.get(id)!;
            bottom = Math.max(bottom, p.y + p.h + 20);
            right = Math.max(right, p.x + p.w + 20);
          }
          return bottom === f.y + f.h && right === f.x + f.w ? n : { ...n, width: right - f.x, height: bottom - f.y };
        }
        const m = moved.get(n.id);
        return m ? { ...n, position: m } : n;
      }) as FlowNode[],
    });
  },

  record(key) {
    const now = Date.now();
    if (key && key === lastRecord.key && now - lastRecord.at < 1000) {
      lastRecord.at = now;
      return;
    }
    lastRecord = { key: key ?? "", at: now };
    const { nodes, edges, meta, past } = get();
    set({ past: [...past.slice(-(HISTORY_LIMIT - 1)), { nodes, edges, meta }], future: [] });
  },

  undo() {
    const { past, future, nodes, edges, meta } = get();
    const prev = past[past.length - 1];
    if (!prev) return;
    lastRecord = { key: "", at: 0 };
    set({
      nodes: prev.nodes, edges: prev.edges, past: past.slice(0, -1), future: [...future, { nodes, edges, meta }],
      ...(prev.meta !== meta ? { meta: prev.meta, ...effectiveCatalog(get().serverSpecs, prev.meta.components) } : {}),
    });
  },

  redo() {
    const { past, future, nodes, edges, meta } = get();
    const next = future[future.length - 1];
    if (!next) return;
    lastRecord = { key: "", at: 0 };
    set({
      nodes: next.nodes, edges: next.edges, future: future.slice(0, -1), past: [...past, { nodes, edges, meta }],
      ...(next.meta !== meta ? { meta: next.meta, ...effectiveCatalog(get().serverSpecs, next.meta.components) } : {}),
    });
  },

  setSnap(on) { set({ snap: on }); },

  beginFrameDrag(frameId) {
    const frame = get().nodes.find((n) => n.id === frameId);
    if (!frame) return;
    const f = nodeRect(frame);
    const children = new Set<string>();
    for (const n of get().nodes) {
      if (n.id === frameId || n.type === "frame") continue;
      const r = nodeRect(n);
      if (r.x >= f.x && r.y >= f.y && r.x + Math.min(r.w, 60) <= f.x + f.w && r.y + 20 <= f.y + f.h) children.add(n.id);
    }
    frameDrag = { frameId, children };
  },
  endFrameDrag() { frameDrag = null; },

  applySeedControls() {
    const { nodes, catalog } = get();
    let changed = false;
    const next = nodes.map((n) => {
      if (n.type === "frame" || !n.data.seedControl) return n;
      const spec = catalog.get(n.data.type);
      let values = n.data.values;
      for (const [name, control] of Object.entries(n.data.seedControl)) {
        if (control === "fixed") continue;
        const input = spec?.inputs.find((i) => i.name === name);
        const max = input?.max !== undefined && input.max < Number(MAX_SEED) ? BigInt(Math.floor(input.max)) : MAX_SEED;
        const min = input?.min !== undefined ? BigInt(Math.ceil(input.min)) : 0n;
        const cur = seedOrZero(values[name]);
        const nextSeed = control === "increment" ? (cur >= max ? min : cur + 1n) : randomSeed(min, max);
        values = { ...values, [name]: seedValue(nextSeed) };
        changed = true;
      }
      return values === n.data.values ? n : { ...n, data: { ...n.data, values } };
    });
    if (changed) set({ nodes: next as FlowNode[] });
  },

  makeComponent(name, existingKey) {
    const { nodes, edges, meta } = get();
    const selected = nodes.filter((n) => n.selected && n.type === "sluice");
    if (!selected.length) { toast("Select the nodes to make a component of", "warn"); return null; }
    const components = meta.components ?? {};
    const key = existingKey ?? uniqueKey(name, components);
    if (selected.some((n) => n.type === "sluice" && n.data.type === COMPONENT_PREFIX + key)) {
      toast("A component cannot contain itself", "warn");
      return null;
    }
    const made = buildComponent(name, selected, edges, get().catalog);
    get().record();
    const prevDescription = components[key]?.description;
    const nextMeta = { ...meta, components: { ...components, [key]: { ...made.def, ...(prevDescription ? { description: prevDescription } : {}) } } };
    const eff = effectiveCatalog(get().serverSpecs, nextMeta.components);
    const ids = new Set(selected.map((n) => n.id));
    const id = nextNodeId(nodes);
    const type = COMPONENT_PREFIX + key;
    const instance = { id, type: "sluice", position: made.position, selected: true, data: { type, values: {} } } as FlowNode;
    // Other instances of an edited definition keep their links by port name; vanished ports drop theirs.
    const spec = eff.catalog.get(type)!;
    const others = new Set(nodes.filter((n) => n.type === "sluice" && n.data.type === type).map((n) => n.id));
    const kept = edges.filter((e) => !ids.has(e.source) && !ids.has(e.target)
      && (!others.has(e.target) || spec.inputs.some((i) => i.name === e.targetHandle))
      && (!others.has(e.source) || spec.outputs.some((o) => o.name === e.sourceHandle)));
    set({
      meta: nextMeta,
      ...eff,
      nodes: [...nodes.filter((n) => !ids.has(n.id)).map((n) => (n.selected ? { ...n, selected: false } : n)), instance],
      edges: [
        ...kept,
        ...made.incoming.map((l) => makeEdge(l.source, l.sourceHandle, id, l.port, l.socket)),
        ...made.outgoing.map((l) => makeEdge(id, l.port, l.target, l.targetHandle, l.socket)),
      ],
    });
    return id;
  },

  unpackComponent(instanceId) {
    const { nodes, edges, meta } = get();
    const inst = nodes.find((n) => n.id === instanceId);
    const key = inst && inst.type === "sluice" ? componentKey(inst.data.type) : undefined;
    const def = key ? meta.components?.[key] : undefined;
    if (!inst || inst.type !== "sluice" || !def) return [];
    get().record();
    const taken: { id: string }[] = [...nodes];
    const newId = () => { const id = nextNodeId(taken); taken.push({ id }); return id; };
    const un = unpackDef({ id: inst.id, position: inst.position, values: inst.data.values }, def, edges, newId);
    const flow = workflowToFlow({ format: WORKFLOW_FORMAT, version: WORKFLOW_VERSION, nodes: un.nodes, groups: [], components: meta.components ?? {}, params: [] }, get().catalog);
    const catalog = get().catalog;
    const socketOf = (src: string, handle: string, target: string, targetHandle: string) => {
      const srcType = [...flow.nodes, ...nodes].find((n) => n.id === src);
      const dstType = [...flow.nodes, ...nodes].find((n) => n.id === target);
      return (srcType && srcType.type !== "frame" ? outputType(catalog, srcType.data.type, handle) : undefined)
        ?? (dstType && dstType.type !== "frame" ? inputType(catalog, dstType.data.type, targetHandle) : undefined) ?? "*";
    };
    set({
      nodes: [...nodes.filter((n) => n.id !== instanceId).map((n) => (n.selected ? { ...n, selected: false } : n)), ...flow.nodes.map((n) => ({ ...n, selected: true }))],
      edges: [
        ...edges.filter((e) => e.source !== instanceId && e.target !== instanceId),
        ...flow.edges,
        ...[...un.links, ...un.outLinks].map((l) => makeEdge(l.source, l.sourceHandle, l.target, l.targetHandle, socketOf(l.source, l.sourceHandle, l.target, l.targetHandle))),
      ],
    });
    return flow.nodes.map((n) => n.id);
  },


  setParams(params) {
    get().record();
    set({ meta: { ...get().meta, params } });
  },

  setComponentPorts(key, inputs, outputs, renamed, name) {
    const { nodes, edges, meta } = get();
    const def = meta.components?.[key];
    if (!def) return;
    get().record();
    const nextMeta = { ...meta, components: { ...meta.components, [key]: { ...def, inputs, outputs, ...(name ? { name } : {}) } } };
    const eff = effectiveCatalog(get().serverSpecs, nextMeta.components);
    const type = COMPONENT_PREFIX + key;
    const instances = new Set(nodes.filter((n) => n.type === "sluice" && n.data.type === type).map((n) => n.id));
    const inNames = new Set(inputs.map((p) => p.name));
    const outNames = new Set(outputs.map((p) => p.name));
    const nextEdges: FlowEdge[] = [];
    for (const e of edges) {
      if (instances.has(e.target) && e.targetHandle) {
        const name = renamed.inputs[e.targetHandle] ?? e.targetHandle;
        if (!inNames.has(name)) continue;
        if (name !== e.targetHandle) { nextEdges.push(makeEdge(e.source, e.sourceHandle ?? "", e.target, name, e.data?.socket ?? "*")); continue; }
      }
      if (instances.has(e.source) && e.sourceHandle) {
        const name = renamed.outputs[e.sourceHandle] ?? e.sourceHandle;
        if (!outNames.has(name)) continue;
        if (name !== e.sourceHandle) { nextEdges.push(makeEdge(e.source, name, e.target, e.targetHandle ?? "", e.data?.socket ?? "*")); continue; }
      }
      nextEdges.push(e);
    }
    set({
      meta: nextMeta,
      ...eff,
      edges: nextEdges,
      nodes: nodes.map((n) => {
        if (!instances.has(n.id) || n.type !== "sluice") return n;
        const values: Record<string, Literal> = {};
        for (const [k, v] of Object.entries(n.data.values)) {
          const name = renamed.inputs[k] ?? k;
          if (inNames.has(name)) values[name] = v;
        }
        return { ...n, data: { ...n.data, values } };
      }) as FlowNode[],
    });
  },
}));

/** Nodes that make a latent of a size: width, height and compression widgets. */
export function sizedLatent(spec: NodeSpec): boolean {
  return ["width", "height", "compression"].every((n) => spec.inputs.some((i) => i.name === n && i.type === "INT"));
}

/** The pack the canvas uses: the first pack chosen on a node, if any. */
export function packInUse(nodes: FlowNode[]): string | undefined {
  for (const n of nodes) {
    if (n.type !== "sluice") continue;
    const p = n.data.values.pack;
    if (typeof p === "string" && p) return p;
  }
  return undefined;
}

/** Lenient, for the seed controls: a half-typed or empty seed counts as 0 (validation names it on queue). */
export function seedOrZero(v: unknown): bigint {
  try {
    if (typeof v === "number" && Number.isFinite(v)) return BigInt(Math.trunc(v));
    if (typeof v === "string" && /^\d+$/.test(v.trim())) return BigInt(v.trim());
  } catch { /* fall through */ }
  return 0n;
}

/** Seeds within 2^53 travel as numbers, larger ones as decimal strings (exact). */
export function seedValue(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

export function randomSeed(min = 0n, max = MAX_SEED): bigint {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  const r = (BigInt(words[0]!) << 32n) | BigInt(words[1]!);
  const span = max - min + 1n;
  return min + (r % span);
}
