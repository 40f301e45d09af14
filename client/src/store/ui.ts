// UI state that is not the graph: toasts, palette, lightbox, side panel.
import { create } from "zustand";
import type { SocketType } from "../../../nodes/schema.ts";

export interface Toast { id: number; kind: "info" | "error" | "warn"; text: string }

export interface PaletteRequest {
  /** Where (flow coordinates) to put the chosen node. */
  flowPos: { x: number; y: number };
  /** Where (screen coordinates) to open the palette. */
  screenPos?: { x: number; y: number };
  /** A link dragged onto the canvas: filter to nodes that can take it, and wire the chosen one. */
  from?: { nodeId: string; handle: string; kind: "source" | "target"; type: SocketType; accepts?: readonly SocketType[] };
}

export interface MenuItem { label: string; hint?: string; danger?: boolean; disabled?: boolean; action(): void }

export type PainterRequest = { nodeId: string; input: string } | { nodeId: string; gate: { promptId: string; src: string; kind: "latent" | "image" } };

export type PanelName = "queue" | "gallery" | "history" | "library" | "system";

interface UiState {
  /** How many prompts one Queue press sends (batch count). */
  batchCount: number;
  setBatchCount(n: number): void;
  toasts: Toast[];
  palette: PaletteRequest | null;
  lightbox: { src: string; full?: string; caption?: string } | null;
  panel: PanelName | null;
  banner: string | null;
  /** A hint shown only while the canvas is empty (e.g. the default template is missing). */
  emptyHint: string | null;
  /** The painter: a mask for a node's paint input, or paint over a gate's image. */
  painter: PainterRequest | null;
  /** A component whose definition is being edited on the canvas (unpacked), by key. */
  editingComponent: string | null;
  /** The port editor of a component, by key. */
  ports: string | null;
  openPorts(key: string | null): void;
  /** An open context menu, at screen coordinates. */
  menu: { x: number; y: number; items: MenuItem[] } | null;
  openMenu(m: { x: number; y: number; items: MenuItem[] } | null): void;
  setEditingComponent(key: string | null): void;
  openPainter(p: PainterRequest | null): void;
  toast(text: string, kind?: Toast["kind"]): void;
  dismiss(id: number): void;
  openPalette(req: PaletteRequest): void;
  closePalette(): void;
  openLightbox(src: string, full?: string, caption?: string): void;
  closeLightbox(): void;
  setPanel(p: PanelName | null): void;
  setBanner(b: string | null): void;
  setEmptyHint(h: string | null): void;
}

let nextToast = 1;

export const useUi = create<UiState>((set, get) => ({
  batchCount: 1,
  setBatchCount(n) { set({ batchCount: Math.max(1, Math.min(100, Math.floor(n) || 1)) }); },
  toasts: [],
  palette: null,
  lightbox: null,
  panel: null,
  banner: null,
  emptyHint: null,
  painter: null,
  openPainter(p) { set({ painter: p }); },
  editingComponent: null,
  ports: null,
  openPorts(key) { set({ ports: key }); },
  menu: null,
  openMenu(m) { set({ menu: m }); },
  setEditingComponent(key) { set({ editingComponent: key }); },
  toast(text, kind = "info") {
    const id = nextToast++;
    set({ toasts: [...get().toasts.slice(-4), { id, kind, text }] });
    setTimeout(() => get().dismiss(id), kind === "error" ? 7000 : 4000);
  },
  dismiss(id) {
    set({ toasts: get().toasts.filter((t) => t.id !== id) });
  },
  openPalette(req) { set({ palette: req }); },
  closePalette() { set({ palette: null }); },
  openLightbox(src, full, caption) { set({ lightbox: { src, ...(full ? { full } : {}), ...(caption ? { caption } : {}) } }); },
  closeLightbox() { set({ lightbox: null }); },
  setPanel(p) { set({ panel: p }); },
  setBanner(b) { set({ banner: b }); },
  setEmptyHint(h) { set({ emptyHint: h }); },
}));

export const toast = (text: string, kind?: Toast["kind"]) => useUi.getState().toast(text, kind);
