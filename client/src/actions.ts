// Editor commands shared by the toolbar, keyboard shortcuts and the panels.
import type { Workflow } from "../../nodes/schema.ts";
import { api, ApiError, type PromptRejection } from "./api.ts";
import { replayEarly, clientId } from "./socket.ts";
import { usedComponents } from "./graph/components.ts";
import { WORKFLOW_VERSION } from "../../nodes/format.ts";
import { useGraph } from "./store/graph.ts";
import { useRun } from "./store/run.ts";
import { toast, useUi } from "./store/ui.ts";

export const DEFAULT_TEMPLATE = "text-to-image";
const STORAGE_KEY = "sluice.workflow";
const CLIPBOARD_KEY = "sluice.clipboard";
const LIBRARY_KEY = "sluice.library";

let queueing = false;

/**
 * Queues the canvas `count` times (batch count): each accepted prompt moves the seeds by their
 * "after run" control, so the next one differs. `front` puts the prompts before those waiting.
 * Returns the id of the last prompt queued.
 */
export async function queuePrompt(opts: { count?: number; front?: boolean } = {}): Promise<string | null> {
  if (queueing) return null;
  queueing = true;
  const count = Math.max(1, Math.min(100, Math.floor(opts.count ?? useUi.getState().batchCount)));
  let last: string | null = null;
  // Each prompt of a batch is the canvas after the previous one's "after run" seed moves; the
  // canvas ends where the last one leaves it. Queued to the front, the batch keeps its order
  // (posted last first, each before the others).
  const workflows: Workflow[] = [];
  for (let i = 0; i < count; i++) {
    workflows.push(useGraph.getState().workflow());
    useGraph.getState().applySeedControls();
  }
  try {
    const order = opts.front ? [...workflows].reverse() : workflows;
    for (const wf of order) {
      const { promptId, skipped } = await api.prompt(wf, clientId, { front: opts.front });
      if (last) useRun.getState().addMine(promptId);
      else useRun.getState().startPrompt(promptId);
      replayEarly(promptId);
      last = promptId;
      if (skipped?.length && wf === order[0]) {
        toast(`Will not run: ${skipped.map((x) => `node ${x.node} (${x.type}): ${x.reason}`).join("; ")}`, "warn");
      }
    }
    if (count > 1) toast(`Queued ${count} prompts${opts.front ? " at the front" : ""}`);
    return last;
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) {
      const body = e.body as PromptRejection | undefined;
      const nodeErrors = body?.nodeErrors ?? {};
      useRun.getState().setNodeErrors(nodeErrors);
      const count = Object.keys(nodeErrors).length;
      toast(count ? `Cannot run: ${count} node${count > 1 ? "s have" : " has"} problems (marked in red). ${firstError(nodeErrors)}` : `Cannot run: ${e.message}`, "error");
    } else {
      toast(`Queue failed: ${(e as Error).message}`, "error");
    }
    // Nothing accepted: the seeds stay where they were.
    if (!last) restoreSeeds(workflows[0]!);
    else toast("Only part of the batch was queued", "warn");
    return last;
  } finally {
    queueing = false;
  }
}

/** Puts the seed widgets back to the values in `wf` (what the first prompt of a batch used). */
function restoreSeeds(wf: Workflow) {
  const g = useGraph.getState();
  const byId = new Map(wf.nodes.map((n) => [n.id, n]));
  useGraph.setState({
    nodes: g.nodes.map((n) => {
      if (n.type !== "sluice" || !n.data.seedControl) return n;
      const src = byId.get(n.id);
      if (!src) return n;
      const values = { ...n.data.values };
      for (const name of Object.keys(n.data.seedControl)) {
        const v = src.inputs[name];
        if (v !== undefined && (typeof v === "number" || typeof v === "string")) values[name] = v;
      }
      return { ...n, data: { ...n.data, values } };
    }),
  });
}

function firstError(errs: NonNullable<PromptRejection["nodeErrors"]>): string {
  for (const [node, list] of Object.entries(errs)) {
    const e = list[0];
    if (e) return `Node ${node}${e.input ? ` (${e.input})` : ""}: ${e.message}`;
  }
  return "";
}

export async function interrupt() {
  try {
    await api.interrupt(useRun.getState().serverRunning ?? undefined);
  } catch (e) {
    toast(`Interrupt failed: ${(e as Error).message}`, "error");
  }
}

export async function loadTemplate(id: string, opts?: { record?: boolean; quiet?: boolean }): Promise<boolean> {
  try {
    const wf = await api.template(id);
    useGraph.getState().load(wf, { record: opts?.record ?? true });
    useUi.getState().setBanner(null);
    return true;
  } catch (e) {
    if (!opts?.quiet) toast(`Template "${id}": ${(e as Error).message}`, "error");
    return false;
  }
}

export function loadWorkflow(wf: Workflow, source?: string) {
  useGraph.getState().load(wf, { record: true });
  useUi.getState().setBanner(null);
  if (source) toast(`Loaded ${source}`);
}

export function newWorkflow() {
  useGraph.getState().load({ format: "sluice.workflow", version: WORKFLOW_VERSION, nodes: [], groups: [], components: {}, params: [] }, { record: true });
}

export function exportWorkflow() {
  const wf = useGraph.getState().workflow();
  const blob = new Blob([JSON.stringify(wf, null, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${(wf.name ?? "workflow").replace(/[^\w.-]+/g, "_")}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ----- persistence of the last edited workflow -----

export function restoreSaved(): { workflow: Workflow; library: { id: string; name: string; version: number } | null } | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const wf = JSON.parse(raw) as Workflow;
    if (!wf || wf.format !== "sluice.workflow" || !Array.isArray(wf.nodes)) return null;
    let library = null;
    try { library = JSON.parse(localStorage.getItem(LIBRARY_KEY) ?? "null"); } catch { /* none */ }
    return { workflow: wf, library: library && typeof library.id === "string" ? library : null };
  } catch {
    return null;
  }
}

export function startAutosave() {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const g0 = useGraph.getState();
  let last = { nodes: g0.nodes, edges: g0.edges, meta: g0.meta, library: g0.library };
  const save = () => {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(useGraph.getState().workflow()));
      localStorage.setItem(LIBRARY_KEY, JSON.stringify(useGraph.getState().library));
    } catch { /* quota: ignore */ }
  };
  useGraph.subscribe((s) => {
    if (s.nodes === last.nodes && s.edges === last.edges && s.meta === last.meta && s.library === last.library) return;
    last = { nodes: s.nodes, edges: s.edges, meta: s.meta, library: s.library };
    clearTimeout(timer);
    timer = setTimeout(save, 300);
  });
  window.addEventListener("beforeunload", save);
}

// ----- clipboard (system clipboard as workflow JSON, localStorage as the cross-tab fallback) -----

export function copySelection(e?: ClipboardEvent): boolean {
  const wf = useGraph.getState().selectionWorkflow();
  if (!wf) return false;
  const json = JSON.stringify(wf);
  try { localStorage.setItem(CLIPBOARD_KEY, json); } catch { /* ignore */ }
  if (e?.clipboardData) {
    e.clipboardData.setData("text/plain", json);
    e.preventDefault();
  }
  return true;
}

export function pasteText(text: string | null | undefined, at?: { x: number; y: number }): boolean {
  if (!text) return false;
  try {
    const wf = JSON.parse(text) as Workflow;
    if (wf?.format !== "sluice.workflow" || !Array.isArray(wf.nodes)) return false;
    useGraph.getState().paste(wf, at);
    return true;
  } catch {
    return false;
  }
}

export function pasteFromStorage(at?: { x: number; y: number }): boolean {
  try { return pasteText(localStorage.getItem(CLIPBOARD_KEY), at); } catch { return false; }
}

// ----- the library -----

/** Saves the canvas to the library: a new version of its entry, or a new entry named `name`. */
export async function saveToLibrary(opts: { name?: string; asNew?: boolean; note?: string } = {}): Promise<boolean> {
  const g = useGraph.getState();
  const lib = g.library;
  let name = (opts.name ?? lib?.name ?? "").trim();
  // A canvas that is no library entry yet (a template, a file, a new graph) is named by the person:
  // its workflow's own name (a template's) is only offered.
  if (!name && opts.name === undefined) {
    const asked = window.prompt("Save to the library as:", g.meta.name ?? "");
    if (asked === null) return false;
    name = asked.trim();
  }
  if (!name) {
    useUi.getState().setPanel("library");
    toast("Name the workflow to save it", "info");
    return false;
  }
  const workflow = { ...g.workflow(), name };
  try {
    const entry = lib && !opts.asNew
      ? await api.librarySave(lib.id, { workflow, name, ...(opts.note ? { note: opts.note } : {}) })
      : await api.libraryCreate({ workflow, name, ...(opts.note ? { note: opts.note } : {}) });
    useGraph.getState().setLibrary({ id: entry.id, name: entry.name, version: entry.version });
    toast(`Saved “${entry.name}” (version ${entry.version})`);
    return true;
  } catch (e) {
    toast(`Not saved: ${(e as Error).message}`, "error");
    return false;
  }
}

export async function openFromLibrary(id: string, version?: number): Promise<void> {
  try {
    const entry = await api.libraryGet(id);
    const wf = version ? await api.libraryVersion(id, version) : entry.workflow;
    useGraph.getState().load(wf, { record: true, library: { id: entry.id, name: entry.name, version: version ?? entry.version } });
    useUi.getState().setBanner(null);
    toast(`Opened “${entry.name}”${version ? ` version ${version}` : ""}`);
  } catch (e) {
    toast(`Open failed: ${(e as Error).message}`, "error");
  }
}

// ----- components -----

export function makeComponentFromSelection() {
  const g = useGraph.getState();
  const count = g.nodes.filter((n) => n.selected && n.type === "sluice").length;
  if (!count) { toast("Select the nodes to make a component of (Shift+drag to box-select)", "warn"); return; }
  const name = window.prompt(`Make a component of ${count} node${count > 1 ? "s" : ""}. Name:`, "My component");
  if (!name?.trim()) return;
  const id = g.makeComponent(name.trim());
  if (id) toast(`Made component “${name.trim()}”: links across its border became its inputs and outputs`);
}

/** Unpacks one instance so its nodes can be edited; "Save definition" writes them back for all instances. */
export function editComponent(instanceId: string, key: string) {
  const ids = useGraph.getState().unpackComponent(instanceId);
  if (ids.length) useUi.getState().setEditingComponent(key);
}

export function saveComponentDefinition() {
  const key = useUi.getState().editingComponent;
  if (!key) return;
  const g = useGraph.getState();
  const name = g.meta.components?.[key]?.name ?? key;
  if (!g.makeComponent(name, key)) return;
  useUi.getState().setEditingComponent(null);
  toast(`Updated “${name}”: every instance follows`);
}

/** Adds a library entry's nodes to the canvas (a saved component, a snippet), beside what is there. */
export async function insertFromLibrary(id: string): Promise<void> {
  try {
    const entry = await api.libraryGet(id);
    const g = useGraph.getState();
    const right = Math.max(0, ...g.nodes.map((n) => n.position.x + (n.measured?.width ?? 270)));
    const top = Math.min(0, ...g.nodes.map((n) => n.position.y));
    g.paste(entry.workflow, { x: right + 80, y: top });
    toast(`Inserted “${entry.name}”`);
  } catch (e) {
    toast(`Insert failed: ${(e as Error).message}`, "error");
  }
}

/** Saves one component (its definition, as a workflow holding one instance) to the library. */
export async function saveComponentToLibrary(instanceId: string): Promise<void> {
  const g = useGraph.getState();
  const inst = g.nodes.find((n) => n.id === instanceId);
  if (!inst || inst.type !== "sluice") return;
  const key = inst.data.type.startsWith("component/") ? inst.data.type.slice("component/".length) : "";
  const def = g.meta.components?.[key];
  if (!def) return;
  const wf = g.workflow();
  const node = wf.nodes.find((n) => n.id === instanceId)!;
  const workflow = {
    ...wf,
    name: def.name,
    nodes: [{ ...node, inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, v]) => !(v && typeof v === "object"))), ui: { ...node.ui, pos: [0, 0] as [number, number] } }],
    groups: [],
    params: [],
    components: usedComponents([node], wf.components),
  };
  try {
    const entry = await api.libraryCreate({ name: def.name, tags: ["component"], workflow });
    toast(`Saved component “${entry.name}” to the library (Insert it into any workflow)`);
  } catch (e) {
    toast(`Not saved: ${(e as Error).message}`, "error");
  }
}

/** Downloads one component as a workflow file holding one instance and its definitions. */
export function exportComponent(instanceId: string) {
  const g = useGraph.getState();
  const wf = g.selectionWorkflow();
  const inst = g.nodes.find((n) => n.id === instanceId);
  if (!wf || !inst || inst.type !== "sluice") return;
  const one = { ...wf, nodes: wf.nodes.filter((n) => n.id === instanceId) };
  const blob = new Blob([JSON.stringify(one, null, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${(inst.data.title ?? inst.data.type.replace("component/", "")).replace(/[^\w.-]+/g, "_")}.component.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
