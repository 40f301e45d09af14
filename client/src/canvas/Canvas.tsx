// The React Flow canvas: wiring store ↔ React Flow, connection rules with reasons, palette on
// double-click / dropped links, file drops, fit view on load.
import {
  Background, BackgroundVariant, ConnectionMode, Controls, MiniMap, ReactFlow, SelectionMode, getBezierPath, useReactFlow, useStoreApi, type ReactFlowState,
  type ConnectionLineComponentProps, type FinalConnectionState, type IsValidConnection, type NodeTypes, type OnConnectEnd,
} from "@xyflow/react";
import { useCallback, useEffect, useRef, type DragEvent, type MouseEvent as RMouseEvent } from "react";
import type { SocketType, Workflow } from "../../../nodes/schema.ts";
import { nodeColor, socketColor } from "../graph/colors.ts";
import { checkConnection } from "../graph/connect.ts";
import { inputType, outputType } from "../graph/convert.ts";
import { MODE_BYPASS, MODE_MUTE, REROUTE_TYPE, type FlowEdge, type FlowNode } from "../graph/types.ts";
import { useGraph } from "../store/graph.ts";
import { toast, useUi, type MenuItem } from "../store/ui.ts";
import { copySelection, editComponent, exportComponent, makeComponentFromSelection, pasteFromStorage, saveComponentToLibrary } from "../actions.ts";
import { componentKey } from "../graph/components.ts";

const FRAME_COLORS: [string, string][] = [["slate", "#3b4a5c"], ["plum", "#5a3b5c"], ["moss", "#3f5a3b"], ["ochre", "#6b5a2a"], ["teal", "#2d5a5a"]];
import { uploadImageFile } from "../widgets/Widgets.tsx";
import { FrameNode } from "./FrameNode.tsx";
import { NodeView } from "./NodeView.tsx";
import { NoteNode } from "./NoteNode.tsx";
import { pngHasText, readPngWorkflow } from "./png.ts";
import { api } from "../api.ts";

/** Below this zoom, node text gets too small to read; larger graphs open at this zoom from their left end. */
const READABLE_ZOOM = 0.55;
/**
 * Graphs bigger than this render only the nodes and links in view. Smaller ones render all: a pan
 * or zoom of a mounted graph only moves the viewport layer, while culling mounts and unmounts nodes
 * as they cross the view's edge (tasks of 100-200 ms at 150 nodes, measured by bench:editor).
 */
const CULL_ABOVE = 300;
/** Below this zoom nodes are drawn as their frame and title only. */
const LOW_DETAIL_ZOOM = 0.45;
const lowDetailOf = (s: ReactFlowState<FlowNode, FlowEdge>) => s.transform[2] < LOW_DETAIL_ZOOM;

const nodeTypes: NodeTypes = { sluice: NodeView, note: NoteNode, frame: FrameNode };

/** Last pointer position over the canvas (screen coordinates), for paste and the palette. */
export const pointer = { x: 0, y: 0, inside: false };

function handleSocketType(nodeId: string, handleId: string | null, kind: "source" | "target"): SocketType | undefined {
  const { nodes, catalog } = useGraph.getState();
  const n = nodes.find((x) => x.id === nodeId);
  if (!n || n.type === "frame") return undefined;
  return kind === "source" ? outputType(catalog, n.data.type, handleId) : inputType(catalog, n.data.type, handleId);
}

function ConnectionLine({ fromX, fromY, toX, toY, fromPosition, toPosition, fromHandle, fromNode, connectionStatus }: ConnectionLineComponentProps<FlowNode>) {
  const t = handleSocketType(fromNode.id, fromHandle.id ?? null, fromHandle.type);
  const [path] = getBezierPath({ sourceX: fromX, sourceY: fromY, sourcePosition: fromPosition, targetX: toX, targetY: toY, targetPosition: toPosition });
  const color = connectionStatus === "invalid" ? "#e57373" : socketColor(t);
  return (
    <g>
      <path d={path} fill="none" stroke={color} strokeWidth={2.5} strokeDasharray={connectionStatus === "invalid" ? "6 4" : undefined} />
      <circle cx={toX} cy={toY} r={4} fill={color} />
    </g>
  );
}

export function Canvas() {
  const nodes = useGraph((s) => s.nodes);
  const edges = useGraph((s) => s.edges);
  const snap = useGraph((s) => s.snap);
  const loadCount = useGraph((s) => s.loadCount);
  const onNodesChange = useGraph((s) => s.onNodesChange);
  const onEdgesChange = useGraph((s) => s.onEdgesChange);
  const rf = useReactFlow<FlowNode, FlowEdge>();
  const wrapper = useRef<HTMLDivElement>(null);
  // Zoomed out, node text is too small to read: nodes draw only their frame and title bar, and the
  // dot grid and minimap are hidden (see styles.css), which keeps pan and zoom smooth on big graphs.
  // The class is set on the element directly: crossing the threshold mid-zoom then costs a style
  // change, not a render of the canvas (and a remount of the grid and minimap).
  const flowStore = useStoreApi<FlowNode, FlowEdge>();
  useEffect(() => {
    const apply = () => { wrapper.current?.classList.toggle("low-detail", lowDetailOf(flowStore.getState())); };
    apply();
    return flowStore.subscribe(apply);
  }, [flowStore]);

  // Fit the whole graph when that keeps it readable; otherwise show it from its left end (where a
  // pipeline starts: loaders and prompts) at the smallest readable zoom. "Fit" (F) shows it all.
  const showReadable = useCallback(() => {
    const nodes = rf.getNodes();
    const el = wrapper.current;
    // An empty canvas keeps its view: fitView would wait for the first node added and then move
    // the view away from where the person put it.
    if (!nodes.length || !el) return;
    const b = rf.getNodesBounds(nodes);
    const w = el.clientWidth;
    const h = el.clientHeight;
    const fit = Math.min(1, (w * 0.94) / Math.max(1, b.width), (h * 0.94) / Math.max(1, b.height));
    if (fit >= READABLE_ZOOM) { void rf.fitView({ padding: 0.06, duration: 0, maxZoom: 1 }); return; }
    const zoom = Math.min(READABLE_ZOOM, (h * 0.96) / Math.max(1, b.height), 1);
    const z = Math.max(zoom, fit);
    void rf.setViewport({ x: 24 - b.x * z, y: Math.max(12, (h - b.height * z) / 2) - b.y * z, zoom: z });
  }, [rf]);

  // After a workflow is loaded: once every node is measured, push apart nodes that overlap (a file's
  // positions may assume smaller nodes), grow the groups around their nodes, and fit the view.
  useEffect(() => {
    if (!loadCount) return;
    let done = false;
    const settle = () => {
      if (done) return;
      const { nodes: ns } = useGraph.getState();
      if (ns.some((n) => n.type !== "frame" && !n.measured?.height)) return;
      done = true;
      unsubscribe();
      if (useGraph.getState().tidy) useGraph.getState().resolveOverlaps();
      requestAnimationFrame(() => showReadable());
    };
    const unsubscribe = useGraph.subscribe(settle);
    const timer = setTimeout(() => { if (!done) { done = true; unsubscribe(); showReadable(); } }, 1500);
    settle();
    return () => { done = true; unsubscribe(); clearTimeout(timer); };
  }, [loadCount, rf, showReadable]);

  const isValidConnection: IsValidConnection<FlowEdge> = useCallback((c) => {
    const { nodes: ns, edges: es, catalog } = useGraph.getState();
    return checkConnection(c, ns, es, catalog).ok;
  }, []);

  const onConnect = useCallback((c: Parameters<ReturnType<typeof useGraph.getState>["connect"]>[0]) => {
    useGraph.getState().connect(c);
  }, []);

  const onConnectEnd: OnConnectEnd = useCallback((event, state: FinalConnectionState) => {
    if (state.isValid) return;
    const from = state.fromHandle;
    const fromNode = state.fromNode;
    if (!from || !fromNode) return;
    const to = state.toHandle;
    if (to) {
      if (to.nodeId === fromNode.id && to.id === from.id) return;
      if (to.type === from.type) {
        toast(from.type === "source" ? "Connect an output to an input (both ends are outputs)" : "Connect an input to an output (both ends are inputs)", "warn");
        return;
      }
      const c = from.type === "source"
        ? { source: fromNode.id, sourceHandle: from.id ?? null, target: to.nodeId, targetHandle: to.id ?? null }
        : { source: to.nodeId, sourceHandle: to.id ?? null, target: fromNode.id, targetHandle: from.id ?? null };
      const { nodes: ns, edges: es, catalog } = useGraph.getState();
      const v = checkConnection(c, ns, es, catalog);
      if (!v.ok) {
        if (v.reason !== "already connected") toast(`Connection refused: ${v.reason}`, "warn");
      } else useGraph.getState().connect(c);
      return;
    }
    // Dropped on empty canvas: offer the nodes that can take this link.
    const target = event.target as Element | null;
    if (!target?.closest?.(".react-flow__pane")) return;
    const pt = "changedTouches" in event ? event.changedTouches[0]! : (event as MouseEvent);
    const type = handleSocketType(fromNode.id, from.id ?? null, from.type);
    if (!type) return;
    // An input that accepts several types (a sampler's model: Stage C or Stage B) offers them all.
    const fromData = useGraph.getState().nodes.find((n) => n.id === fromNode.id);
    const accepts = from.type === "target" && fromData && fromData.type !== "frame"
      ? useGraph.getState().catalog.get(fromData.data.type)?.inputs.find((i) => i.name === from.id)?.accepts
      : undefined;
    useUi.getState().openPalette({
      flowPos: rf.screenToFlowPosition({ x: pt.clientX, y: pt.clientY }),
      screenPos: { x: pt.clientX, y: pt.clientY },
      from: { nodeId: fromNode.id, handle: from.id ?? "", kind: from.type, type, ...(accepts?.length ? { accepts } : {}) },
    });
  }, [rf]);

  // Dragging a link's end: drop it on another socket to move it, on empty canvas to remove it.
  const reconnected = useRef(true);
  const onReconnectStart = useCallback(() => { reconnected.current = false; }, []);
  const onReconnect = useCallback((oldEdge: FlowEdge, c: Parameters<ReturnType<typeof useGraph.getState>["connect"]>[0]) => {
    reconnected.current = true;
    useGraph.getState().reconnect(oldEdge, c);
  }, []);
  const onReconnectEnd = useCallback((_: unknown, edge: FlowEdge, _type: unknown, state: FinalConnectionState) => {
    if (!reconnected.current) {
      if (state?.toHandle) toast("Connection refused: that socket cannot take this link", "warn");
      else useGraph.getState().removeEdge(edge.id);
    }
    reconnected.current = true;
  }, []);

  // Context menus: on a node, on a link, on the canvas.
  const onNodeContextMenu = useCallback((e: RMouseEvent, node: FlowNode) => {
    if ((e.target as Element).closest(".srow.widget")) return; // widgets: parameters (see NodeView)
    e.preventDefault();
    const g = useGraph.getState();
    if (!node.selected) useGraph.setState({ nodes: g.nodes.map((n) => (n.id === node.id ? { ...n, selected: true } : n.selected ? { ...n, selected: false } : n)) });
    const items: MenuItem[] = [];
    if (node.type === "frame") {
      items.push({ label: "Rename group…", action: () => { const t = window.prompt("Group title", node.data.title); if (t) g.patchFrame(node.id, { title: t }); } });
      for (const [name, color] of FRAME_COLORS) items.push({ label: `Colour: ${name}`, action: () => g.patchFrame(node.id, { color }) });
      items.push({ label: "Delete group (keeps its nodes)", danger: true, action: () => g.deleteNodes([node.id]) });
    } else {
      const key = componentKey(node.data.type);
      items.push(
        { label: "Rename…", action: () => { const t = window.prompt("Title", node.data.title ?? g.catalog.get(node.data.type)?.displayName ?? node.data.type); if (t !== null) g.patchNode(node.id, { title: t.trim() || undefined }); } },
        { label: node.data.collapsed ? "Expand" : "Collapse", action: () => g.patchNode(node.id, { collapsed: !node.data.collapsed }) },
        { label: "Duplicate", hint: "Ctrl+D", action: () => g.duplicate() },
        { label: "Copy", hint: "Ctrl+C", action: () => copySelection() },
        { label: "Make component of selection", hint: "Ctrl+Shift+G", action: () => makeComponentFromSelection() },
        { label: node.data.mode === MODE_BYPASS ? "Stop bypassing" : "Bypass (pass inputs through)", hint: "Ctrl+B", action: () => g.toggleMode(MODE_BYPASS) },
        { label: node.data.mode === MODE_MUTE ? "Unmute" : "Mute (skip it and what needs it)", hint: "Ctrl+M", action: () => g.toggleMode(MODE_MUTE) },
      );
      if (key !== undefined) {
        items.push({ label: "Edit component definition", action: () => editComponent(node.id, key) });
        items.push({ label: "Edit ports and exposed widgets…", action: () => useUi.getState().openPorts(key) });
        items.push({ label: "Unpack component", action: () => g.unpackComponent(node.id) });
        items.push({ label: "Save component to library", action: () => void saveComponentToLibrary(node.id) });
        items.push({ label: "Export component as file", action: () => exportComponent(node.id) });
      }
      items.push({ label: "Delete", hint: "Del", danger: true, action: () => g.deleteSelected() });
    }
    useUi.getState().openMenu({ x: e.clientX, y: e.clientY, items });
  }, []);
  const onEdgeContextMenu = useCallback((e: RMouseEvent, edge: FlowEdge) => {
    e.preventDefault();
    useUi.getState().openMenu({ x: e.clientX, y: e.clientY, items: [{ label: "Delete link", danger: true, action: () => useGraph.getState().removeEdge(edge.id) }] });
  }, []);
  const onPaneContextMenu = useCallback((e: RMouseEvent | MouseEvent) => {
    e.preventDefault();
    const at = { x: e.clientX, y: e.clientY };
    const g = useGraph.getState();
    useUi.getState().openMenu({
      x: at.x, y: at.y, items: [
        { label: "Add node…", hint: "Space", action: () => useUi.getState().openPalette({ flowPos: rf.screenToFlowPosition(at), screenPos: at }) },
        { label: "Add note", action: () => g.addNode("Note", rf.screenToFlowPosition(at)) },
        ...(g.catalog.get(REROUTE_TYPE) ? [{ label: "Add reroute", action: () => g.addNode(REROUTE_TYPE, rf.screenToFlowPosition(at)) }] : []),
        { label: "Paste", hint: "Ctrl+V", action: () => pasteFromStorage(rf.screenToFlowPosition(at)) },
        { label: "Group selection", hint: "Ctrl+G", action: () => g.groupSelection() },
        { label: "Arrange left to right", action: () => g.arrange() },
        { label: "Fit view", hint: "F", action: () => void rf.fitView({ padding: 0.06, duration: 200, maxZoom: 1 }) },
      ],
    });
  }, [rf]);

  const onDoubleClick = useCallback((e: RMouseEvent) => {
    const t = e.target as Element;
    if (!t.closest(".react-flow__pane") && !t.classList.contains("frame")) return;
    useUi.getState().openPalette({ flowPos: rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }), screenPos: { x: e.clientX, y: e.clientY } });
  }, [rf]);

  const onNodeDragStart = useCallback((_: unknown, node: FlowNode) => {
    useGraph.getState().record();
    if (node.type === "frame") useGraph.getState().beginFrameDrag(node.id);
  }, []);
  const onNodeDragStop = useCallback(() => useGraph.getState().endFrameDrag(), []);
  const onSelectionDragStart = useCallback(() => useGraph.getState().record(), []);

  const onDrop = useCallback(async (e: DragEvent) => {
    e.preventDefault();
    const file = e.dataTransfer.files?.[0];
    if (!file) return;
    const flowPos = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
    if (file.name.endsWith(".json") || file.type === "application/json") {
      await loadWorkflowText(await file.text(), file.name);
      return;
    }
    if (file.type === "image/png") {
      const wf = readPngWorkflow(await file.arrayBuffer());
      if (wf) { await loadWorkflowText(wf, file.name); return; }
      // A PNG from ComfyUI carries its workflow in other chunks: let the server's importer try.
      if (await pngHasText(file) && await importFile(file)) return;
    }
    if (!file.type.startsWith("image/")) { toast(`Cannot open ${file.name}: drop an image or a workflow .json`, "warn"); return; }
    const name = await uploadImageFile(file);
    if (!name) return;
    const g = useGraph.getState();
    const overId = (e.target as Element).closest?.("[data-node-id]")?.getAttribute("data-node-id");
    const over = overId ? g.nodes.find((n) => n.id === overId) : undefined;
    if (over && over.type === "sluice") {
      const up = g.catalog.get(over.data.type)?.inputs.find((i) => i.upload);
      if (up) { g.setValue(over.id, up.name, name); return; }
    }
    const loader = g.catalog.get("LoadImage") ? "LoadImage" : g.specs.find((s) => s.inputs.some((i) => i.upload))?.type;
    if (!loader) { toast("Uploaded, but no image loader node exists", "warn"); return; }
    const input = g.catalog.get(loader)!.inputs.find((i) => i.upload)!;
    g.addNode(loader, flowPos, { values: { [input.name]: name } });
  }, [rf]);

  return (
    <div
      className="canvas"
      ref={wrapper}
      onMouseMove={(e) => { pointer.x = e.clientX; pointer.y = e.clientY; pointer.inside = true; }}
      onMouseLeave={() => { pointer.inside = false; }}
    >
      <ReactFlow<FlowNode, FlowEdge>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onConnectEnd={onConnectEnd}
        onReconnectStart={onReconnectStart}
        onReconnect={onReconnect}
        onReconnectEnd={onReconnectEnd}
        reconnectRadius={14}
        isValidConnection={isValidConnection}
        connectionLineComponent={ConnectionLine}
        connectionMode={ConnectionMode.Strict}
        connectionRadius={24}
        onNodeDragStart={onNodeDragStart}
        onNodeDragStop={onNodeDragStop}
        onSelectionDragStart={onSelectionDragStart}
        onDoubleClick={onDoubleClick}
        onNodeContextMenu={onNodeContextMenu}
        onEdgeContextMenu={onEdgeContextMenu}
        onPaneContextMenu={onPaneContextMenu}
        onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; }}
        onDrop={(e) => void onDrop(e)}
        snapToGrid={snap}
        snapGrid={[10, 10]}
        selectionMode={SelectionMode.Partial}
        selectionKeyCode={["Shift", "Control", "Meta"]}
        multiSelectionKeyCode={["Meta", "Control"]}
        deleteKeyCode={null}
        panActivationKeyCode={null}
        zoomOnDoubleClick={false}
        elevateNodesOnSelect={false}
        elevateEdgesOnSelect
        minZoom={0.1}
        maxZoom={2.5}
        defaultEdgeOptions={{ type: "default" }}
        colorMode="dark"
        proOptions={{ hideAttribution: true }}
        onlyRenderVisibleElements={nodes.length > CULL_ABOVE}
      >
        {/* Zoomed out, the dot grid is thousands of dots and the minimap shows what the view
            shows: neither is drawn then (styles.css hides both; they stay mounted). */}
        <Background variant={BackgroundVariant.Dots} gap={20} size={1.2} color="#2b3440" />
        <MiniMap<FlowNode>
          pannable
          zoomable
          nodeColor={(n) => (n.type === "frame" ? "rgba(90,110,130,0.25)" : n.type === "note" ? "#7a6b3a" : nodeColor(n.data.type, useGraph.getState().catalog.get(n.data.type)?.category))}
          maskColor="rgba(10,14,18,0.6)"
          style={{ background: "#151a20" }}
        />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

/**
 * Loads a workflow from JSON text: a Sluice workflow is validated here with the shared schema;
 * anything else (a ComfyUI workflow or API prompt) goes through the server's importer.
 */
export async function loadWorkflowText(text: string, source: string): Promise<boolean> {
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { toast(`${source} is not JSON`, "error"); return false; }
  let parseWorkflow: typeof import("../graph/validate.ts").parseWorkflow;
  try {
    ({ parseWorkflow } = await import("../graph/validate.ts"));
  } catch {
    toast(`Cannot open ${source} right now: the checker could not be loaded (is the server reachable?). Try again.`, "error");
    return false;
  }
  if (raw && typeof raw === "object" && (raw as { format?: unknown }).format === "sluice.workflow") {
    const res = parseWorkflow(raw);
    if (!res.ok) { toast(`${source}: ${res.error}`, "error"); return false; }
    useGraph.getState().load(res.workflow as Workflow, { record: true });
    toast(`Loaded ${source}`);
    return true;
  }
  try {
    const { workflow, warnings } = await api.importWorkflow(raw);
    useGraph.getState().load(workflow, { record: true });
    reportImport(source, warnings);
    return true;
  } catch (e) {
    toast(`${source}: ${(e as Error).message}`, "error");
    return false;
  }
}

/** Sends a file (PNG or JSON) to the server's importer; false when it holds no usable workflow. */
export async function importFile(file: File): Promise<boolean> {
  try {
    const form = new FormData();
    form.append("file", file, file.name);
    const { workflow, warnings } = await api.importWorkflow(form);
    useGraph.getState().load(workflow, { record: true });
    reportImport(file.name, warnings);
    return true;
  } catch {
    return false;
  }
}

function reportImport(source: string, warnings: string[] | undefined) {
  toast(`Imported ${source}${warnings?.length ? ` with ${warnings.length} warning${warnings.length > 1 ? "s" : ""}` : ""}`);
  for (const w of (warnings ?? []).slice(0, 4)) toast(w, "warn");
}
