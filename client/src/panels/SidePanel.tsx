// Side panels (lazy-loaded): queue, history gallery, system.
import { Fragment, useCallback, useEffect, useState } from "react";
import { loadWorkflow } from "../actions.ts";
import { api, viewUrl, type HistoryEntry, type QueueState, type QueueSummary, type SystemInfo } from "../api.ts";
import { useRun } from "../store/run.ts";
import { toast, useUi, type PanelName } from "../store/ui.ts";

export default function SidePanel({ panel }: { panel: PanelName }) {
  return (
    <aside className="side-panel" data-testid={`side-${panel}`}>
      <header className="side-head">
        <span>{panel === "queue" ? "Queue" : panel === "history" ? "History" : "System"}</span>
        <button className="w-icon" onClick={() => useUi.getState().setPanel(null)} title="Close">✕</button>
      </header>
      <div className="side-body">
        {panel === "queue" && <QueuePanel />}
        {panel === "history" && <HistoryPanel />}
        {panel === "system" && <SystemPanel />}
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

function QueuePanel() {
  const queueRemaining = useRun((s) => s.queueRemaining);
  const serverRunning = useRun((s) => s.serverRunning);
  const [q, refresh, err] = usePoll<QueueState>(api.queue, [queueRemaining, serverRunning], 1500);
  const cancel = async (id: string) => {
    try { await api.cancel(id); refresh(); } catch (e) { toast(`Cancel failed: ${(e as Error).message}`, "error"); }
  };
  const clear = async () => {
    try { await api.clearQueue(); refresh(); toast("Cleared the pending prompts"); } catch (e) { toast(`Clear failed: ${(e as Error).message}`, "error"); }
  };
  const row = (s: QueueSummary) => (
    <li key={s.promptId} className={`q-item ${s.status}`} data-testid="queue-item">
      <span className={`q-status ${s.status}`}>{s.status}</span>
      <span className="q-name" title={s.promptId}>{s.name ?? s.promptId.slice(0, 8)}</span>
      <span className="q-time">{when(s.createdAt)}</span>
      <button className="w-icon danger" title={s.status === "running" ? "Stop this prompt" : "Remove from the queue"} onClick={() => void cancel(s.promptId)}>✕</button>
    </li>
  );
  return (
    <div className="queue-panel">
      {err && <div className="snode-error">{err}</div>}
      <h4>Running</h4>
      <ul>{q?.running.length ? q.running.map(row) : <li className="muted">Nothing running</li>}</ul>
      {!!q?.waiting?.length && (<><h4>Waiting at a gate</h4><ul>{q.waiting.map(row)}</ul></>)}
      <h4>Pending <button className="small" onClick={() => void clear()} disabled={!q?.pending.length} data-testid="queue-clear">Clear all</button></h4>
      <ul>{q?.pending.length ? q.pending.map(row) : <li className="muted">Queue is empty</li>}</ul>
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
        <dt>Device</dt><dd data-testid="system-device">{s.device}</dd>
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
