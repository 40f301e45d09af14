// The editor shell: toolbar, canvas, side panel, palette, lightbox, toasts, keyboard shortcuts.
import { ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { useEffect, useRef, useState } from "react";
import {
  copySelection, exportWorkflow, interrupt, loadTemplate, makeComponentFromSelection, newWorkflow, pasteFromStorage, pasteText, queuePrompt,
  saveComponentDefinition, saveToLibrary,
} from "./actions.ts";
import { api, type TemplateInfo } from "./api.ts";
import { BlockedOutputsBanner } from "./canvas/BlockedOutputs.tsx";
import { Canvas, importFile, loadWorkflowText, pointer } from "./canvas/Canvas.tsx";
import { readPngWorkflow } from "./canvas/png.ts";
import { uploadImageFile } from "./widgets/Widgets.tsx";
import type { FlowEdge, FlowNode } from "./graph/types.ts";
import { useGraph } from "./store/graph.ts";
import { useRun } from "./store/run.ts";
import { useUi, type PanelName } from "./store/ui.ts";

// Panels are part of the main bundle: a lazily loaded chunk fails to load while the server is
// down, and the panels must work whatever the server's state.
import Palette from "./panels/Palette.tsx";
import SidePanel from "./panels/SidePanel.tsx";
import Lightbox from "./panels/Lightbox.tsx";
import PaintDialog from "./panels/PaintDialog.tsx";
import ComponentPorts from "./panels/ComponentPorts.tsx";
import { MODE_BYPASS, MODE_MUTE } from "./graph/types.ts";

function isEditable(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
}

function useShortcuts() {
  const rf = useReactFlow<FlowNode, FlowEdge>();
  useEffect(() => {
    let pendingPaste: ReturnType<typeof setTimeout> | undefined;
    const pastePos = () => (pointer.inside ? rf.screenToFlowPosition({ x: pointer.x, y: pointer.y }) : undefined);
    const openPalette = () => {
      const x = pointer.inside ? pointer.x : window.innerWidth / 2;
      const y = pointer.inside ? pointer.y : window.innerHeight / 3;
      useUi.getState().openPalette({ flowPos: rf.screenToFlowPosition({ x, y }), screenPos: { x, y } });
    };
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      if (mod && e.key === "Enter") { e.preventDefault(); void queuePrompt({ front: e.shiftKey }); return; }
      if (mod && k === "s") { e.preventDefault(); void saveToLibrary(); return; }
      if (isEditable(e.target) || useUi.getState().palette) return;
      const g = useGraph.getState();
      if (mod && k === "z" && !e.shiftKey) { e.preventDefault(); g.undo(); }
      else if (mod && ((k === "z" && e.shiftKey) || k === "y")) { e.preventDefault(); g.redo(); }
      else if (mod && k === "k") { e.preventDefault(); openPalette(); }
      else if (mod && k === "d") { e.preventDefault(); g.duplicate(); }
      else if (mod && k === "b") { e.preventDefault(); g.toggleMode(MODE_BYPASS); }
      else if (mod && k === "m") { e.preventDefault(); g.toggleMode(MODE_MUTE); }
      else if (mod && k === "g" && e.shiftKey) { e.preventDefault(); makeComponentFromSelection(); }
      else if (mod && k === "g") { e.preventDefault(); g.groupSelection(); }
      else if (mod && k === "a") {
        e.preventDefault();
        useGraph.setState({ nodes: g.nodes.map((n) => (n.selected ? n : { ...n, selected: true })) });
      }
      else if (mod && k === "c") { copySelection(); }
      else if (mod && k === "x") { if (copySelection()) g.deleteSelected(); }
      else if (mod && k === "v") {
        clearTimeout(pendingPaste);
        pendingPaste = setTimeout(() => pasteFromStorage(pastePos()), 80);
      }
      else if (!mod && (e.key === "Delete" || e.key === "Backspace")) { e.preventDefault(); g.deleteSelected(); }
      else if (!mod && e.key === " ") { e.preventDefault(); openPalette(); }
      else if (!mod && k === "f" && !e.altKey) { void rf.fitView({ padding: 0.08, duration: 200, maxZoom: 1 }); }
      else if (e.key === "Escape") { useUi.getState().closeLightbox(); useUi.getState().openPainter(null); }
    };
    const onCopy = (e: ClipboardEvent) => { if (!isEditable(e.target)) copySelection(e); };
    const onCut = (e: ClipboardEvent) => { if (!isEditable(e.target) && copySelection(e)) useGraph.getState().deleteSelected(); };
    const onPaste = (e: ClipboardEvent) => {
      if (isEditable(e.target) || useUi.getState().palette) return;
      clearTimeout(pendingPaste);
      const text = e.clipboardData?.getData("text/plain");
      if (pasteText(text, pastePos())) { e.preventDefault(); return; }
      const file = e.clipboardData?.files?.[0];
      if (file && file.type.startsWith("image/")) {
        e.preventDefault();
        void (async () => {
          const name = await uploadImageFile(file);
          if (name && useGraph.getState().catalog.get("LoadImage")) {
            useGraph.getState().addNode("LoadImage", pastePos() ?? { x: 0, y: 0 }, { values: { image: name } });
          }
        })();
        return;
      }
      if (text && text.trim().startsWith("{")) { void loadWorkflowText(text, "clipboard"); return; }
      pasteFromStorage(pastePos());
    };
    window.addEventListener("keydown", onKey);
    document.addEventListener("copy", onCopy);
    document.addEventListener("cut", onCut);
    document.addEventListener("paste", onPaste);
    return () => {
      window.removeEventListener("keydown", onKey);
      document.removeEventListener("copy", onCopy);
      document.removeEventListener("cut", onCut);
      document.removeEventListener("paste", onPaste);
    };
  }, [rf]);
}

function Toolbar() {
  const rf = useReactFlow<FlowNode, FlowEdge>();
  const queueRemaining = useRun((s) => s.queueRemaining);
  const serverRunning = useRun((s) => s.serverRunning);
  const connected = useRun((s) => s.connected);
  const batchCount = useUi((s) => s.batchCount);
  const canUndo = useGraph((s) => s.past.length > 0);
  const canRedo = useGraph((s) => s.future.length > 0);
  const snap = useGraph((s) => s.snap);
  const panel = useUi((s) => s.panel);
  const [templates, setTemplates] = useState<TemplateInfo[]>([]);
  const fileRef = useRef<HTMLInputElement>(null);
  const [fileMenu, setFileMenu] = useState(false);
  useEffect(() => {
    if (!fileMenu) return;
    const close = (e: PointerEvent) => { if (!(e.target as Element).closest?.(".menu-wrap")) setFileMenu(false); };
    window.addEventListener("pointerdown", close);
    return () => window.removeEventListener("pointerdown", close);
  }, [fileMenu]);
  useEffect(() => { api.templates().then(setTemplates, () => setTemplates([])); }, []);
  const toggle = (p: PanelName) => useUi.getState().setPanel(panel === p ? null : p);
  const g = useGraph.getState;
  return (
    <header className="toolbar">
      <div className="brand" title={connected ? "Connected to the server" : "Not connected"}>
        <span className={`conn${connected ? " on" : ""}`} />Sluice
      </div>
      <div className="tb-group">
        <button data-testid="queue-button" className="primary queue" onClick={(e) => void queuePrompt({ front: e.shiftKey })} title="Queue the graph (Ctrl+Enter); Shift+click or Ctrl+Shift+Enter: to the front of the queue">
          ▶ Queue{queueRemaining > 0 ? <span className="count" data-testid="queue-count">{queueRemaining}</span> : null}
        </button>
        <label className="batch" title="Batch count: how many prompts one Queue sends; each moves its seeds by their after-run control">
          ×<input
            type="number" min={1} max={100} value={batchCount} data-testid="batch-count"
            onChange={(e) => useUi.getState().setBatchCount(Number(e.target.value))}
            onKeyDown={(e) => e.stopPropagation()}
          />
        </label>
        <button data-testid="queue-front" onClick={() => void queuePrompt({ front: true })} title="Queue to the front: run before the prompts already waiting (Ctrl+Shift+Enter)">⤒ Front</button>
        <button data-testid="stop-button" onClick={() => void interrupt()} disabled={!serverRunning} title="Stop the running prompt, whoever queued it">■ Stop</button>
      </div>
      <div className="tb-group">
        <button onClick={() => g().undo()} disabled={!canUndo} title="Undo (Ctrl+Z)">↶</button>
        <button onClick={() => g().redo()} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">↷</button>
        <button onClick={() => void rf.fitView({ padding: 0.08, duration: 200, maxZoom: 1 })} title="Fit view (F)">Fit</button>
        <button onClick={() => g().arrange()} title="Lay out left to right">Arrange</button>
        <button onClick={() => g().groupSelection()} title="Frame the selected nodes (Ctrl+G)">Group</button>
        <button onClick={makeComponentFromSelection} data-testid="make-component" title="Make a component (subgraph) of the selected nodes (Ctrl+Shift+G)">Component</button>
        <button className={snap ? "on" : ""} onClick={() => g().setSnap(!snap)} title="Snap to grid">Snap</button>
      </div>
      <div className="tb-group">
        <select
          value=""
          onChange={(e) => { const id = e.target.value; e.target.value = ""; if (id === "__new") newWorkflow(); else if (id) void loadTemplate(id); }}
          title="Start from a template"
        >
          <option value="">Templates…</option>
          {templates.map((t) => <option key={t.id} value={t.id} title={t.description}>{t.name}</option>)}
        </select>
        <div className="menu-wrap">
          <button onClick={() => setFileMenu(!fileMenu)} data-testid="file-menu" aria-expanded={fileMenu}>File ▾</button>
          {fileMenu && (
            <div className="menu" onMouseLeave={() => setFileMenu(false)} onClick={() => setFileMenu(false)}>
              <button onClick={() => newWorkflow()}>New (empty canvas)</button>
              <button onClick={() => fileRef.current?.click()} title="A Sluice .json, a PNG made by Sluice, or a ComfyUI workflow">Open file…</button>
              <button onClick={exportWorkflow}>Export as .json</button>
              <button onClick={() => void saveToLibrary()}>Save to library <kbd>Ctrl+S</kbd></button>
              <button onClick={() => useUi.getState().setPanel("library")}>Open from library…</button>
            </div>
          )}
        </div>
        <input
          ref={fileRef}
          type="file"
          accept=".json,application/json,image/png"
          hidden
          onChange={async (e) => {
            const f = e.target.files?.[0];
            e.target.value = "";
            if (!f) return;
            if (f.type === "image/png") {
              const text = readPngWorkflow(await f.arrayBuffer());
              if (text) void loadWorkflowText(text, f.name);
              else if (!(await importFile(f))) useUi.getState().toast(`${f.name} carries no workflow`, "warn");
            } else void loadWorkflowText(await f.text(), f.name);
          }}
        />
      </div>
      <div className="tb-spacer" />
      <div className="tb-group">
        <button className={panel === "queue" ? "on" : ""} onClick={() => toggle("queue")} data-testid="panel-queue">Queue</button>
        <button className={panel === "gallery" ? "on" : ""} onClick={() => toggle("gallery")} data-testid="panel-gallery">Gallery</button>
        <button className={panel === "history" ? "on" : ""} onClick={() => toggle("history")} data-testid="panel-history">History</button>
        <button className={panel === "library" ? "on" : ""} onClick={() => toggle("library")} data-testid="panel-library">Library</button>
        <button className={panel === "system" ? "on" : ""} onClick={() => toggle("system")} data-testid="panel-system">System</button>
      </div>
    </header>
  );
}

function ContextMenu() {
  const menu = useUi((s) => s.menu);
  useEffect(() => {
    if (!menu) return;
    const close = (e: Event) => { if (!(e.target as Element).closest?.(".context-menu")) useUi.getState().openMenu(null); };
    const esc = (e: KeyboardEvent) => { if (e.key === "Escape") useUi.getState().openMenu(null); };
    window.addEventListener("pointerdown", close, true);
    window.addEventListener("keydown", esc);
    window.addEventListener("wheel", close, true);
    return () => { window.removeEventListener("pointerdown", close, true); window.removeEventListener("keydown", esc); window.removeEventListener("wheel", close, true); };
  }, [menu]);
  if (!menu) return null;
  const x = Math.min(menu.x, window.innerWidth - 230);
  const y = Math.min(menu.y, window.innerHeight - menu.items.length * 30 - 12);
  return (
    <div className="menu context-menu" style={{ position: "fixed", left: x, top: y }} data-testid="context-menu" onContextMenu={(e) => e.preventDefault()}>
      {menu.items.map((it, i) => (
        <button key={i} className={it.danger ? "danger" : ""} disabled={it.disabled} onClick={() => { useUi.getState().openMenu(null); it.action(); }}>
          <span>{it.label}</span>{it.hint && <kbd>{it.hint}</kbd>}
        </button>
      ))}
    </div>
  );
}

function Toasts() {
  const toasts = useUi((s) => s.toasts);
  return (
    <div className="toasts" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`toast ${t.kind}`} data-testid="toast" onClick={() => useUi.getState().dismiss(t.id)}>{t.text}</div>
      ))}
    </div>
  );
}

/**
 * The tab title follows the running prompt: "[15% 3/20] Sluice", with the number waiting. A
 * component of its own that draws nothing: progress events re-render it, not the shell.
 */
function TitleSync() {
  useTitle();
  return null;
}

function useTitle() {
  const live = useRun((s) => s.live);
  const running = useRun((s) => s.serverRunning);
  const waiting = useRun((s) => s.queueRemaining);
  const connected = useRun((s) => s.connected);
  const loading = useRun((s) => (s.loading ? s.loading.phase : null));
  useEffect(() => {
    const parts: string[] = [];
    if (!connected) parts.push("[offline]");
    else if (running && loading) parts.push(`[${loading === "converting" ? "converting model" : "loading model"}]`);
    else if (running) parts.push(live?.total ? `[${Math.round((100 * live.step) / live.total)}% ${live.step}/${live.total}]` : "[running]");
    if (waiting > 0) parts.push(`(+${waiting})`);
    document.title = [...parts, "Sluice"].join(" ");
  }, [live, running, waiting, connected, loading]);
}

/** Shown while the socket is down; the editor keeps working and reconnects by itself. */
function DisconnectedBanner() {
  const connected = useRun((s) => s.connected);
  const [shown, setShown] = useState(false);
  // A first connection takes a moment: only a lost (or long-missing) connection is announced.
  useEffect(() => {
    if (connected) { setShown(false); return; }
    const t = setTimeout(() => setShown(true), 1500);
    return () => clearTimeout(t);
  }, [connected]);
  if (connected || !shown) return null;
  return (
    <div className="banner offline" data-testid="disconnected-banner" role="status">
      Not connected to the server: your edits are kept here; runs and panels come back when it is reachable. Reconnecting…
    </div>
  );
}

function Shell() {
  useShortcuts();
  const palette = useUi((s) => s.palette);
  const lightbox = useUi((s) => s.lightbox);
  const painter = useUi((s) => s.painter);
  const ports = useUi((s) => s.ports);
  const panel = useUi((s) => s.panel);
  const banner = useUi((s) => s.banner);
  const emptyHint = useUi((s) => s.emptyHint);
  const editing = useUi((s) => s.editingComponent);
  const editingName = useGraph((s) => (editing ? s.meta.components?.[editing]?.name ?? editing : ""));
  const empty = useGraph((s) => s.nodes.length === 0);
  return (
    <div className="app">
      <Toolbar />
      <div className="main">
        <Canvas />
        {banner && (
          <div className="banner" data-testid="banner">
            {banner} <button className="w-icon" onClick={() => useUi.getState().setBanner(null)} title="Dismiss">✕</button>
          </div>
        )}
        {editing && (
          <div className="banner editing" data-testid="component-editing">
            Editing component “{editingName}”: change its nodes, select them all, then
            <button className="primary small" data-testid="component-save" onClick={saveComponentDefinition}>Save definition</button>
            <button className="small" onClick={() => useUi.getState().setEditingComponent(null)} title="Stop editing; the unpacked nodes stay as plain nodes">Leave unpacked</button>
          </div>
        )}
        {empty && (
          <div className="empty-hint" data-testid="empty-hint">
            {emptyHint && <div className="empty-hint-strong">{emptyHint}</div>}
            Double-click the canvas, press Space or Ctrl+K to add a node — or pick a template.
          </div>
        )}
        <DisconnectedBanner />
        {!editing && <BlockedOutputsBanner />}
        {panel && <SidePanel panel={panel} />}
      </div>
      <TitleSync />
      <Toasts />
      <ContextMenu />
      {palette && <Palette req={palette} />}
      {lightbox && <Lightbox {...lightbox} />}
      {painter && <PaintDialog {...painter} />}
      {ports && <ComponentPorts componentKey={ports} />}
    </div>
  );
}

export function App() {
  return (
    <ReactFlowProvider>
      <Shell />
    </ReactFlowProvider>
  );
}
