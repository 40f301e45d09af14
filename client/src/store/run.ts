// Per-frame run state keyed by node id: status, progress, previews, outputs, errors, gates.
// Kept apart from the graph so a progress event re-renders only the node concerned.
import { create } from "zustand";
import type { NodeError, NodeErrors, OutputImage } from "../../../nodes/schema.ts";
import type { ModelLoading } from "../../../nodes/events.ts";

export type NodeRunStatus = "idle" | "running" | "done" | "cached" | "error";

export interface GateState {
  promptId: string;
  src: string;
  kind: "latent" | "image";
}

/** A model loading for a prompt, as the server last reported it; `since`: when its load began (Date.now()). */
export interface LoadingState {
  promptId: string;
  nodeId?: string;
  label: string;
  phase: "converting" | "loading";
  fraction: number;
  bytes: number;
  since: number;
  /** While loading: how long the server expects ONNX Runtime to take. */
  expectedMs?: number;
}

export interface NodeRun {
  status: NodeRunStatus;
  /** The model this node is waiting on while it loads. */
  loading?: LoadingState;
  step?: number;
  total?: number;
  /** Blob URL of the latest live preview (revoked when replaced). */
  preview?: string;
  images?: OutputImage[];
  error?: string;
  ms?: number;
  gate?: GateState;
}

interface RunState {
  /** The prompt this tab is watching (its latest queued). */
  promptId: string | null;
  /** Prompts queued from this tab (sessionStorage: survives a reload, not shared with other tabs). */
  mine: string[];
  queueRemaining: number;
  serverRunning: string | null;
  connected: boolean;
  nodes: Record<string, NodeRun>;
  /** Progress of the running prompt, whoever queued it (Queue panel, tab title). */
  live: LiveProgress | null;
  setLive(l: LiveProgress | null): void;
  /** The model the running prompt is loading, whoever queued it (Queue panel, tab title). */
  loading: LoadingState | null;
  /** Applies a model:loading event: a load's phase updates the prompt's (and its node's) loading state; "loaded" clears it. */
  modelLoading(e: ModelLoading, mine: boolean): void;
  /** Clears a prompt's loading state (its node or run ended). */
  clearLoading(promptId?: string): void;
  /** Validation errors from the last refused queue, per node. */
  nodeErrors: NodeErrors;
  patch(nodeId: string, patch: Partial<NodeRun>): void;
  startPrompt(promptId: string): void;
  /** Remembers a prompt as this tab's without watching it yet (later prompts of a batch). */
  addMine(promptId: string): void;
  setNodeErrors(errors: NodeErrors): void;
  /** Forgets every node's run state (another workflow was loaded). */
  clearNodes(): void;
  clearNodeError(nodeId: string): void;
  setStatus(s: { queueRemaining?: number; running?: string | null }): void;
  setConnected(c: boolean): void;
  isMine(promptId: string): boolean;
}

export interface LiveProgress { promptId: string; nodeId: string; step: number; total: number }

const MINE_KEY = "sluice.myPrompts";

function loadMine(): string[] {
  try {
    const v = JSON.parse(sessionStorage.getItem(MINE_KEY) ?? "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string").slice(-50) : [];
  } catch {
    return [];
  }
}

export const useRun = create<RunState>((set, get) => ({
  promptId: null,
  mine: loadMine(),
  queueRemaining: 0,
  serverRunning: null,
  connected: false,
  nodes: {},
  nodeErrors: {},
  live: null,
  loading: null,
  modelLoading(e, mine) {
    const prev = get().loading;
    const node = e.nodeId;
    if (e.phase === "loaded") {
      if (prev?.promptId === e.promptId && prev.label === e.label) set({ loading: null });
      if (mine && node && get().nodes[node]?.loading?.label === e.label) get().patch(node, { loading: undefined });
      return;
    }
    // The load's start as this page sees it: the server's elapsed time, counted back from now.
    const same = prev && prev.promptId === e.promptId && prev.label === e.label;
    const state: LoadingState = {
      promptId: e.promptId, ...(node ? { nodeId: node } : {}), label: e.label, phase: e.phase, fraction: e.fraction, bytes: e.bytes,
      since: same ? prev.since : Date.now() - e.elapsedMs,
      ...(e.expectedMs !== undefined ? { expectedMs: e.expectedMs } : {}),
    };
    set({ loading: state });
    if (mine && node) get().patch(node, { loading: state });
  },
  clearLoading(promptId) {
    const cur = get().loading;
    if (cur && (promptId === undefined || cur.promptId === promptId)) set({ loading: null });
    for (const [id, r] of Object.entries(get().nodes)) {
      if (r.loading && (promptId === undefined || r.loading.promptId === promptId)) get().patch(id, { loading: undefined });
    }
  },
  setLive(l) {
    const cur = get().live;
    if (cur === l || (cur && l && cur.promptId === l.promptId && cur.nodeId === l.nodeId && cur.step === l.step && cur.total === l.total)) return;
    set({ live: l });
  },

  patch(nodeId, patch) {
    const prev = get().nodes[nodeId];
    if (patch.preview && prev?.preview && prev.preview !== patch.preview) URL.revokeObjectURL(prev.preview);
    const blob = (u: string | undefined) => !!u && u.startsWith("blob:");
    if (patch.gate && blob(prev?.gate?.src) && prev!.gate!.src !== patch.gate.src) URL.revokeObjectURL(prev!.gate!.src);
    if ("gate" in patch && patch.gate === undefined && blob(prev?.gate?.src)) URL.revokeObjectURL(prev!.gate!.src);
    set({ nodes: { ...get().nodes, [nodeId]: { ...(prev ?? { status: "idle" }), ...patch } } });
  },

  addMine(promptId) {
    const mine = [...get().mine.filter((m) => m !== promptId), promptId].slice(-50);
    try { sessionStorage.setItem(MINE_KEY, JSON.stringify(mine)); } catch { /* storage full: fine */ }
    set({ mine });
  },

  startPrompt(promptId) {
    get().addMine(promptId);
    const mine = get().mine;
    // Keep the last images and previews (nothing jumps; a cached node keeps showing its result) but
    // reset status, progress and errors. A preview's blob URL is revoked when a new one replaces it.
    const nodes: Record<string, NodeRun> = {};
    for (const [id, r] of Object.entries(get().nodes)) {
      nodes[id] = { status: "idle", ...(r.images ? { images: r.images } : {}), ...(r.preview ? { preview: r.preview } : {}), ...(r.gate ? { gate: r.gate } : {}) };
    }
    set({ promptId, mine, nodes, nodeErrors: {} });
  },

  setNodeErrors(errors) { set({ nodeErrors: errors }); },
  clearNodes() {
    for (const r of Object.values(get().nodes)) {
      if (r.preview) URL.revokeObjectURL(r.preview);
      if (r.gate?.src) URL.revokeObjectURL(r.gate.src);
    }
    set({ nodes: {}, nodeErrors: {} });
  },
  clearNodeError(nodeId) {
    const r = get().nodes[nodeId];
    if (r?.status === "error") set({ nodes: { ...get().nodes, [nodeId]: { ...r, status: "idle", error: undefined } } });
    if (!get().nodeErrors[nodeId]) return;
    const next = { ...get().nodeErrors };
    delete next[nodeId];
    set({ nodeErrors: next });
  },
  setStatus(s) {
    if (s.running === null) {
      get().setLive(null);
      get().clearLoading();
    }
    set({
      ...(s.queueRemaining !== undefined ? { queueRemaining: s.queueRemaining } : {}),
      ...(s.running !== undefined ? { serverRunning: s.running } : {}),
    });
  },
  setConnected(c) { set({ connected: c }); },
  isMine(promptId) { return get().mine.includes(promptId); },
}));

export function inputErrors(errors: NodeError[] | undefined, input: string): NodeError[] {
  return errors?.filter((e) => e.input === input) ?? [];
}
