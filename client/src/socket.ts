// socket.io events from the server → the run store. Binary previews become blob URLs.
import { io, type Socket } from "socket.io-client";
import { api, authHeaders, viewUrl } from "./api.ts";
import type { ClientToServerEvents, ServerEvent, ServerEventName, ServerToClientEvents } from "../../nodes/events.ts";
import { useGraph } from "./store/graph.ts";
import { useRun } from "./store/run.ts";
import { toast } from "./store/ui.ts";

type StudioSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
let socket: StudioSocket | null = null;
export const clientId = (() => {
  try {
    const k = "sluice.clientId";
    const v = sessionStorage.getItem(k) ?? crypto.randomUUID();
    sessionStorage.setItem(k, v);
    return v;
  } catch {
    return Math.random().toString(36).slice(2);
  }
})();

function blobUrl(image: unknown, mime: string | undefined): string | null {
  if (image instanceof ArrayBuffer || ArrayBuffer.isView(image)) {
    return URL.createObjectURL(new Blob([image as BlobPart], { type: mime || "image/jpeg" }));
  }
  if (typeof image === "string") return image.startsWith("data:") ? image : `data:${mime || "image/jpeg"};base64,${image}`;
  return null;
}

type Ev = { promptId: string; nodeId?: string };

/** Events of prompts not (yet) known as ours: the server may emit before POST /api/prompt answers. */
const early: { at: number; name: string; ev: Ev }[] = [];
const handlers = new Map<string, (ev: never) => void>();

/** Replays events that arrived for `promptId` before we knew it was ours. */
export function replayEarly(promptId: string) {
  const now = Date.now();
  const mineNow = early.filter((e) => e.ev?.promptId === promptId && now - e.at < 15000);
  for (let i = early.length - 1; i >= 0; i--) if (early[i]!.ev?.promptId === promptId) early.splice(i, 1);
  for (const e of mineNow) (handlers.get(e.name) as ((ev: Ev) => void) | undefined)?.(e.ev);
}

export function connectSocket(): StudioSocket {
  if (socket) return socket;
  // The token travels in the studio's cookie; the header covers polling where cookies are blocked.
  const s: StudioSocket = io({ path: "/socket.io", query: { clientId }, transports: ["websocket", "polling"], extraHeaders: authHeaders() });
  socket = s;
  const run = () => useRun.getState();
  const isMine = (e: Ev | undefined) => !!e && (run().isMine(e.promptId) || run().promptId === e.promptId);
  let current = "";
  const mine = (e: Ev | undefined) => {
    if (isMine(e)) return true;
    if (e?.promptId) {
      early.push({ at: Date.now(), name: current, ev: e });
      if (early.length > 300) early.splice(0, early.length - 300);
    }
    return false;
  };
  const on = <E extends Exclude<ServerEventName, "status">>(name: E, fn: (e: ServerEvent<E>) => void) => {
    // Nodes inside a component instance run as "<instance>/<inner>": show them on the instance.
    const h = (event: ServerEvent<E>) => {
      current = name;
      let e: Ev & { node?: unknown } = event;
      if (e && typeof e.nodeId === "string" && e.nodeId.includes("/")) e = { ...e, nodeId: e.nodeId.split("/")[0] };
      if (e && typeof e.node === "string" && e.node.includes("/")) e = { ...e, node: e.node.split("/")[0] };
      fn(e as ServerEvent<E>);
    };
    handlers.set(name, h as (ev: never) => void);
    // socket.io cannot match a listener to an event name that is itself a type parameter; `fn`'s
    // type above is what ties each handler to its event.
    s.on(name, h as never);
  };

  s.on("connect", () => {
    run().setConnected(true);
    void syncQueueStatus();
    if (window.__sluice?.ready) void restoreGates();
  });
  s.on("disconnect", () => run().setConnected(false));
  s.on("status", (e) => run().setStatus(e ?? {}));
  on("execution:start", (e) => {
    if (e?.promptId) started.add(e.promptId);
    if (!mine(e)) return;
    if (run().promptId !== e.promptId) run().startPrompt(e.promptId);
  });
  on("node:start", (e) => {
    if (e?.promptId && e.nodeId) run().setLive({ promptId: e.promptId, nodeId: e.nodeId, step: 0, total: 0 });
    if (!mine(e) || !e.nodeId) return;
    // The executor runs one node at a time: a node still shown running (its done event not yet
    // drawn, or a sampler whose last step was announced) has finished when the next one starts.
    for (const [id, r] of Object.entries(run().nodes)) {
      if (id !== e.nodeId && r.status === "running" && !r.gate) run().patch(id, { status: "done", ...(r.total ? { step: r.total } : {}) });
    }
    run().patch(e.nodeId, { status: "running", step: 0, total: 0, error: undefined });
  });
  on("node:progress", (e) => {
    if (e?.promptId && e.nodeId) run().setLive({ promptId: e.promptId, nodeId: e.nodeId, step: e.step, total: e.total });
    if (!mine(e) || !e.nodeId) return;
    run().patch(e.nodeId, { status: "running", step: e.step, total: e.total });
  });
  on("node:preview", (e) => {
    if (!mine(e) || !e.nodeId) return;
    const url = blobUrl(e.image, e.mime);
    if (!url) return;
    run().patch(e.nodeId, { preview: url, ...(e.step !== undefined ? { step: e.step, total: e.total } : {}) });
  });
  on("node:done", (e) => {
    if (!mine(e) || !e.nodeId) return;
    const prev = run().nodes[e.nodeId];
    const images = e.outputs?.images;
    run().patch(e.nodeId, {
      status: "done",
      ...(prev?.loading ? { loading: undefined } : {}),
      ...(prev?.gate ? { gate: undefined } : {}),
      ...(prev?.total ? { step: prev.total } : {}),
      ...(images?.length ? { images } : {}),
      ...(e.ms !== undefined ? { ms: e.ms } : {}),
    });
  });
  on("model:loading", (e) => {
    if (!e?.promptId) return;
    run().modelLoading(e, mine(e));
  });
  on("node:cached", (e) => {
    if (!mine(e) || !e.nodeId) return;
    run().patch(e.nodeId, { status: "cached" });
  });
  on("gate:waiting", (e) => {
    if (!mine(e) || !e.nodeId) return;
    const url = blobUrl(e.image, e.mime);
    if (!url) return;
    run().patch(e.nodeId, { status: "running", gate: { promptId: e.promptId, src: url, kind: e.kind ?? "image" } });
  });
  on("execution:error", (e) => {
    if (e?.promptId) run().clearLoading(e.promptId);
    if (!mine(e)) return;
    if (e.node) run().patch(e.node, { status: "error", error: e.message });
    toast(`Run failed${e.node ? ` at node ${e.node}` : ""}: ${e.message}`, "error");
    finishRunning();
  });
  on("execution:interrupted", (e) => {
    if (e?.promptId) run().clearLoading(e.promptId);
    if (!mine(e)) return;
    const gateNode = Object.entries(run().nodes).find(([, r]) => r.gate?.promptId === e.promptId)?.[0];
    toast(cancelMessage(e.promptId, e.node, gateNode), "warn");
    if (started.has(e.promptId) || run().promptId === e.promptId) finishRunning();
  });
  on("execution:done", (e) => {
    if (e?.promptId) run().clearLoading(e.promptId);
    if (!mine(e)) return;
    for (const [nodeId, out] of Object.entries(e.outputs ?? {})) {
      if (out?.images?.length) run().patch(nodeId.split("/")[0]!, { images: out.images });
    }
    finishRunning();
  });
  return s;
}

/**
 * Watches a prompt someone else queued (its progress and previews reach only the browsers that
 * queued or opened it): the server adds this socket to the prompt's room.
 */
export function openPrompt(promptId: string) {
  connectSocket().emit("prompt:open", promptId);
}

/** Prompts this page saw start: a cancelled prompt that never started was still pending. */
const started = new Set<string>();

/** What a cancellation did, in words: a queued prompt dropped, a gate declined, or a run stopped. */
function cancelMessage(promptId: string, node: string | undefined, gateNode: string | undefined): string {
  if (!started.has(promptId) && useRun.getState().serverRunning !== promptId) return "Queued prompt cancelled before it ran";
  if (gateNode) return `Cancelled at the gate (${nodeLabel(gateNode)}); nothing after it ran`;
  if (node) return `Run stopped at ${nodeLabel(node.split("/")[0]!)}`;
  return "Run stopped";
}

function nodeLabel(id: string): string {
  const g = useGraph.getState();
  const n = g.nodes.find((x) => x.id === id);
  const title = n && n.type !== "frame" ? n.data.title ?? g.catalog.get(n.data.type)?.displayName ?? n.data.type : undefined;
  return title ? `${title} (node ${id})` : `node ${id}`;
}

/** Nodes left "running" when a prompt ends (interrupted, failed) go back to idle; gates close. */
function finishRunning() {
  const st = useRun.getState();
  for (const [id, r] of Object.entries(st.nodes)) {
    if (r.status === "running") st.patch(id, { status: "idle", gate: undefined });
    else if (r.gate) st.patch(id, { gate: undefined });
  }
}

/** The queue as it is now (a page opened mid-run learns what runs, so Stop works for it). */
export async function syncQueueStatus() {
  try {
    const q = await api.queue();
    useRun.getState().setStatus({ queueRemaining: q.pending.length, running: q.running[0]?.promptId ?? null });
  } catch { /* not reachable: the status event will tell */ }
}

/**
 * After a reload (or a reconnect) gates of our prompts may be waiting: the preview event is gone,
 * but the buttons come back so the run can still be answered.
 */
export async function restoreGates() {
  try {
    const q = await api.queue();
    const st = useRun.getState();
    for (const w of q.waiting ?? []) {
      if (!st.isMine(w.promptId)) continue;
      const entry = (await api.historyEntry(w.promptId)) as { gate?: { nodeId: string; preview?: string; kind?: "latent" | "image" } };
      const nodeId = entry.gate?.nodeId;
      if (!nodeId || useRun.getState().nodes[nodeId]?.gate) continue;
      if (!useRun.getState().promptId) useRun.setState({ promptId: w.promptId });
      // The server keeps the gate's preview as a file (gate.preview) so a reloaded page can show it.
      const src = entry.gate?.preview ? viewUrl(entry.gate.preview) : "";
      // The kind, when the server does not say, follows what flows into the gate on the canvas.
      const into = useGraph.getState().edges.find((e) => e.target === nodeId);
      const kind = entry.gate?.kind ?? (into?.data?.socket === "IMAGE" ? "image" : "latent");
      useRun.getState().patch(nodeId, { status: "running", gate: { promptId: w.promptId, src, kind } });
    }
  } catch {
    /* the queue endpoint is unavailable: nothing to restore */
  }
}
