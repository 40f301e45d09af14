// Side panels: queue, gallery, history, library, system. Each shows the server's answer or why
// there is none (the server may be down): nothing here needs a chunk loaded on demand.
import { Fragment, useCallback, useEffect, useState } from "react";
import { insertFromLibrary, loadTemplate, loadWorkflow, openFromLibrary, saveToLibrary } from "../actions.ts";
import { promptTextOf } from "../graph/describe.ts";
import { api, viewUrl, type GalleryItem, type HistoryEntry, type LibraryEntry, type QueueState, type QueueSummary, type SystemInfo, type TemplateInfo, type VersionInfo } from "../api.ts";
import { useGraph } from "../store/graph.ts";
import { useRun } from "../store/run.ts";
import { toast, useUi, type PanelName } from "../store/ui.ts";
import { GalleryPanel } from "./Gallery.tsx";
import { LoadingLine } from "../canvas/LoadingLine.tsx";

const TITLES: Record<PanelName, string> = { queue: "Queue", gallery: "Gallery", history: "History", library: "Library", system: "System" };

export default function SidePanel({ panel }: { panel: PanelName }) {
  return (
    <aside className="side-panel" data-testid={`side-${panel}`}>
      <header className="side-head">
        <span>{TITLES[panel]}</span>
        <button className="w-icon" onClick={() => useUi.getState().setPanel(null)} title="Close">✕</button>
      </header>
      <div className="side-body">
        {panel === "queue" && <QueuePanel />}
        {panel === "gallery" && <GalleryPanel />}
        {panel === "history" && <HistoryPanel />}
        {panel === "system" && <SystemPanel />}
        {panel === "library" && <LibraryPanel />}
      </div>
    </aside>
  );
}

function usePoll<T>(load: () => Promise<T>, deps: unknown[], everyMs = 2000): [T | null, () => void, string | null] {
  const [data, setData] = useState<T | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const refresh = useCallback(() => { load().then((d) => { setData(d); setErr(null); }, (e: Error) => setErr(e.message)); }, deps);
  useEffect(() => {
    refresh();
    const t = setInterval(refresh, everyMs);
    return () => clearInterval(t);
  }, [refresh, everyMs]);
  return [data, refresh, err];
}

function when(t: string | number | undefined): string {
  if (t === undefined) return "";
  const d = new Date(typeof t === "number" && t < 1e12 ? t * 1000 : t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleTimeString();
}

/** The prompt text of a queued prompt (read once from its record; the record does not change). */
const promptTexts = new Map<string, Promise<string>>();
function usePromptText(promptId: string): string {
  const [text, setText] = useState("");
  useEffect(() => {
    let p = promptTexts.get(promptId);
    if (!p) {
      p = api.historyEntry(promptId).then((e) => (e.workflow ? promptTextOf(e.workflow) : ""), () => { promptTexts.delete(promptId); return ""; });
      promptTexts.set(promptId, p);
    }
    let live = true;
    void p.then((t) => { if (live) setText(t); });
    return () => { live = false; };
  }, [promptId]);
  return text;
}

function QueueRow({ s, onCancel }: { s: QueueSummary; onCancel(id: string): void }) {
  const text = usePromptText(s.promptId);
  const live = useRun((st) => (st.live?.promptId === s.promptId ? st.live : null));
  const loading = useRun((st) => (st.loading?.promptId === s.promptId ? st.loading : null));
  const pct = live?.total ? Math.round((100 * live.step) / live.total) : null;
  return (
    <li className={`q-item ${s.status}`} data-testid="queue-item" data-prompt-id={s.promptId}>
      <span className={`q-status ${s.status}`}>{s.status}</span>
      <span className="q-name" title={`${text}\n${s.promptId}`} data-testid="queue-item-text">{text || s.name || s.promptId.slice(0, 8)}</span>
      <span className="q-time">{when(s.createdAt)}</span>
      <button className="w-icon danger" title={s.status === "running" ? "Stop this prompt" : "Remove from the queue"} onClick={() => onCancel(s.promptId)}>✕</button>
      {s.status === "running" && loading && <LoadingLine loading={loading} testId="queue-loading" className="q-progress q-loading" />}
      {s.status === "running" && !loading && (
        <div className="q-progress" data-testid="queue-progress" title={live ? `node ${live.nodeId}: ${live.step}/${live.total}` : "starting"}>
          <div style={{ width: `${pct ?? 0}%` }} />
          <span>{live ? `node ${live.nodeId}${live.total ? ` · ${live.step}/${live.total}` : ""}` : "starting…"}</span>
        </div>
      )}
    </li>
  );
}

function QueuePanel() {
  const queueRemaining = useRun((s) => s.queueRemaining);
  const serverRunning = useRun((s) => s.serverRunning);
  const [q, refresh, err] = usePoll<QueueState>(api.queue, [queueRemaining, serverRunning], 1500);
  const [done] = usePoll<GalleryItem[]>(() => api.gallery(), [serverRunning, queueRemaining], 5000);
  const cancel = async (id: string) => {
    try { await api.cancel(id); refresh(); } catch (e) { toast(`Cancel failed: ${(e as Error).message}`, "error"); }
  };
  const clear = async () => {
    try { await api.clearQueue(); refresh(); toast("Cleared the pending prompts"); } catch (e) { toast(`Clear failed: ${(e as Error).message}`, "error"); }
  };
  const row = (s: QueueSummary) => <QueueRow key={s.promptId} s={s} onCancel={(id) => void cancel(id)} />;
  return (
    <div className="queue-panel">
      {err && <div className="snode-error">{err}</div>}
      <h4>Running</h4>
      <ul>{q?.running.length ? q.running.map(row) : <li className="muted">Nothing running</li>}</ul>
      {!!q?.waiting?.length && (<><h4>Waiting at a gate</h4><ul>{q.waiting.map(row)}</ul></>)}
      <h4>Pending <button className="small" onClick={() => void clear()} disabled={!q?.pending.length} data-testid="queue-clear">Clear all</button></h4>
      <ul>{q?.pending.length ? q.pending.map(row) : <li className="muted">Queue is empty</li>}</ul>
      {!!done?.length && (
        <>
          <h4>Done</h4>
          <ul>
            {done.slice(0, 8).map((d) => (
              <li key={`${d.promptId}:${d.file}`} className="q-item done" data-testid="queue-done">
                <img className="q-thumb" src={viewUrl(d.file)} alt="" loading="lazy" onClick={() => useUi.getState().openLightbox(viewUrl(d.file), viewUrl(d.file), d.prompt)} />
                <span className="q-name" title={d.prompt}>{d.prompt || d.file}</span>
                <span className="q-time">{when(d.finishedAt ?? d.createdAt)}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function HistoryPanel() {
  const promptId = useRun((s) => s.promptId);
  const queueRemaining = useRun((s) => s.queueRemaining);
  const [h, , err] = usePoll<HistoryEntry[]>(() => api.history(60), [promptId, queueRemaining], 4000);
  const open = async (id: string) => {
    try {
      const entry = await api.historyEntry(id);
      if (!entry.workflow) { toast("This entry has no workflow stored", "warn"); return; }
      loadWorkflow(entry.workflow, `the workflow of ${id.slice(0, 8)}`);
      // Show that run's images on its nodes.
      for (const [nodeId, out] of Object.entries(entry.outputs ?? {})) {
        if (out.images?.length && !nodeId.includes("/")) useRun.getState().patch(nodeId, { status: "idle", images: out.images });
      }
    } catch (e) {
      toast(`History: ${(e as Error).message}`, "error");
    }
  };
  return (
    <div className="history-panel">
      {err && <div className="snode-error">{err}</div>}
      {!h?.length && !err && <div className="muted">No runs yet.</div>}
      <div className="gallery">
        {h?.map((entry) => {
          const imgs = Object.values(entry.outputs ?? {}).flatMap((o) => o.images ?? []);
          const first = imgs[0];
          return (
            <figure key={entry.promptId} className={`g-item ${entry.status}`} data-testid="history-item" onClick={() => void open(entry.promptId)} title={`${entry.status} · ${when(entry.createdAt)} · click to load its workflow${entry.error ? `\n${entry.error.message}` : ""}`}>
              {first ? <img src={viewUrl(first.file)} alt={first.file} loading="lazy" /> : <div className="g-none">{entry.status}</div>}
              <figcaption>
                <span>{when(entry.finishedAt ?? entry.createdAt)}</span>
                {imgs.length > 1 && <span>+{imgs.length - 1}</span>}
                {entry.cached?.length ? <span className="badge cached">{entry.cached.length} cached</span> : null}
                {first && (
                  <a href={viewUrl(first.file)} target="_blank" rel="noreferrer" onClick={(e) => e.stopPropagation()} title="Open the full image">↗</a>
                )}
              </figcaption>
            </figure>
          );
        })}
      </div>
    </div>
  );
}

function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "?";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function SystemPanel() {
  const [s, , err] = usePoll<SystemInfo>(api.system, [], 5000);
  if (err) return <div className="snode-error">{err}</div>;
  if (!s) return <div className="muted">Loading…</div>;
  return (
    <div className="system-panel">
      <dl>
        <dt>Device</dt><dd data-testid="system-device">{s.device}{s.deviceNote && s.deviceNote !== s.device ? <div className="muted device-note">{s.deviceNote}</div> : null}</dd>
        {Object.entries(s.versions ?? {}).map(([k, v]) => (<Fragment key={k}><dt>{k}</dt><dd>{v}</dd></Fragment>))}
        <dt>Server memory</dt><dd>{bytes(s.memory?.rss)} rss · {bytes(s.memory?.heapUsed)} heap</dd>
        <dt>System memory</dt><dd>{bytes((s.memory?.systemTotal ?? 0) - (s.memory?.systemFree ?? 0))} used of {bytes(s.memory?.systemTotal)}</dd>
      </dl>
      <h4>Model packs</h4>
      {!s.packs?.length && <div className="muted">No packs found.</div>}
      {s.packs?.map((p) => (
        <div key={p.name} className="pack">
          <div className="pack-name">{p.name}</div>
          <div className="pack-stages">{p.stages.join(" · ")}</div>
          {p.assumptions?.length ? <ul className="pack-assume">{p.assumptions.map((a, i) => <li key={i}>{a}</li>)}</ul> : null}
        </div>
      ))}
    </div>
  );
}

function LibraryPanel() {
  const lib = useGraph((s) => s.library);
  const metaName = useGraph((s) => s.meta.name);
  const [name, setName] = useState(lib?.name ?? metaName ?? "");
  const [q, setQ] = useState("");
  const [tick, setTick] = useState(0);
  const [entries, , err] = usePoll<LibraryEntry[]>(() => api.library(q || undefined), [q, tick, lib?.version], 10000);
  const [templates, setTemplates] = useState<TemplateInfo[]>([]);
  const [versionsOf, setVersionsOf] = useState<string | null>(null);
  const [versions, setVersions] = useState<VersionInfo[]>([]);
  useEffect(() => { setName(lib?.name ?? metaName ?? ""); }, [lib?.id, lib?.name, metaName]);
  useEffect(() => { api.templates().then(setTemplates, () => setTemplates([])); }, []);
  useEffect(() => {
    if (!versionsOf) return;
    api.libraryVersions(versionsOf).then((v) => setVersions([...v].sort((a, b) => b.version - a.version)), (e: Error) => toast(e.message, "error"));
  }, [versionsOf, tick, lib?.version]);
  const refresh = () => setTick((t) => t + 1);
  const act = async (fn: () => Promise<unknown>, ok?: string) => {
    try { await fn(); if (ok) toast(ok); refresh(); } catch (e) { toast((e as Error).message, "error"); }
  };
  return (
    <div className="library-panel">
      <div className="lib-save">
        <input
          data-testid="library-name"
          placeholder="Workflow name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          onKeyDown={(e) => { e.stopPropagation(); if (e.key === "Enter") void saveToLibrary({ name }).then(refresh); }}
        />
        <button className="primary" data-testid="library-save" onClick={() => void saveToLibrary({ name }).then(refresh)} title={lib ? `Save a new version of “${lib.name}” (Ctrl+S)` : "Save to the library (Ctrl+S)"}>
          Save
        </button>
        {lib && <button onClick={() => void saveToLibrary({ name, asNew: true }).then(refresh)} title="Save as a new library entry">Save as new</button>}
      </div>
      {lib && <div className="muted lib-current">Editing “{lib.name}”, version {lib.version}</div>}
      <input className="lib-search" placeholder="Search by name or tag" value={q} onChange={(e) => setQ(e.target.value)} onKeyDown={(e) => e.stopPropagation()} />
      {err && <div className="snode-error">{err}</div>}
      <ul className="lib-list">
        {entries?.map((e) => (
          <li key={e.id} className={`lib-item${lib?.id === e.id ? " current" : ""}`} data-testid="library-item">
            <div className="lib-row">
              <button className="lib-open" onClick={() => void openFromLibrary(e.id)} title="Open">{e.name}</button>
              <span className="muted">v{e.version}</span>
            </div>
            {e.tags.length > 0 && <div className="lib-tags">{e.tags.map((t) => <span key={t} className="badge">{t}</span>)}</div>}
            <div className="lib-actions">
              <span className="muted">{when(e.updatedAt)}</span>
              <button className="small" onClick={() => {
                const n = window.prompt("Rename to", e.name);
                if (n && n.trim()) void act(() => api.libraryPatch(e.id, { name: n.trim() }).then((r) => { if (lib?.id === e.id) useGraph.getState().setLibrary({ ...lib, name: r.name }); }));
              }}>Rename</button>
              <button className="small" onClick={() => {
                const t = window.prompt("Tags (comma separated)", e.tags.join(", "));
                if (t !== null) void act(() => api.libraryPatch(e.id, { tags: t.split(",").map((x) => x.trim()).filter(Boolean) }));
              }}>Tags</button>
              <button className="small" title="Add its nodes to the current canvas (components keep their definitions)" onClick={() => void insertFromLibrary(e.id)}>Insert</button>
              <button className="small" onClick={() => void act(() => api.libraryDuplicate(e.id), `Duplicated “${e.name}”`)}>Duplicate</button>
              <button className="small" onClick={() => setVersionsOf(versionsOf === e.id ? null : e.id)}>Versions</button>
              <button className="small danger" onClick={() => {
                if (window.confirm(`Delete “${e.name}” and all its versions?`)) {
                  void act(() => api.libraryDelete(e.id).then(() => { if (lib?.id === e.id) useGraph.getState().setLibrary(null); }), `Deleted “${e.name}”`);
                }
              }}>Delete</button>
            </div>
            {versionsOf === e.id && (
              <ul className="lib-versions">
                {versions.map((v) => (
                  <li key={v.version}>
                    <span>v{v.version}</span>
                    <span className="muted">{when(v.createdAt)}{v.note ? ` · ${v.note}` : ""}</span>
                    <button className="small" onClick={() => void openFromLibrary(e.id, v.version)}>Open</button>
                    <button className="small" onClick={() => void act(() => api.libraryRestore(e.id, v.version), `Restored version ${v.version} as the newest`)}>Restore</button>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
        {entries && !entries.length && <li className="muted">{q ? "Nothing matches." : "Nothing saved yet."}</li>}
      </ul>
      <ParamsSection />
      {templates.length > 0 && (
        <>
          <h4>Templates (read-only: save to keep changes)</h4>
          <ul className="lib-list">
            {templates.map((t) => (
              <li key={t.id} className="lib-item">
                <button className="lib-open" onClick={() => void loadTemplate(t.id).then((ok) => { if (ok) useGraph.getState().setLibrary(null); })} title={t.description}>{t.name}</button>
                {t.description && <div className="muted lib-desc">{t.description}</div>}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

const NO_PARAMS: never[] = [];

function ParamsSection() {
  const params = useGraph((s) => s.meta.params) ?? NO_PARAMS;
  const nodes = useGraph((s) => s.nodes);
  const catalog = useGraph((s) => s.catalog);
  return (
    <>
      <h4>Parameters of this workflow</h4>
      {!params.length && <div className="muted">None. Right-click a widget on a node to expose it as a parameter (for <code>sluice run --set</code> and the API).</div>}
      <ul className="params-list" data-testid="params-list">
        {params.map((p) => {
          const n = nodes.find((x) => x.id === p.node);
          const data = n && n.type !== "frame" ? n.data : undefined;
          const title = data ? data.title ?? catalog.get(data.type)?.displayName ?? data.type : `missing node ${p.node}`;
          return (
            <li key={p.name}>
              <span className="p-name">{p.name}</span>
              <span className="p-where" title={p.description}>{title} · {p.input}</span>
              <span className="p-value">{data ? String(data.values[p.input] ?? "") : ""}</span>
              <button className="small" onClick={() => useGraph.getState().setParams(params.filter((x) => x !== p))} title="Stop exposing">✕</button>
            </li>
          );
        })}
      </ul>
    </>
  );
}
