// The gallery: every output image with its prompt, seed, pack and time; search and filter by
// pack; open one large, load the workflow that made it, delete the run and its images.
import { useEffect, useMemo, useState } from "react";
import { loadWorkflow } from "../actions.ts";
import { api, viewUrl, type GalleryItem } from "../api.ts";
import { useRun } from "../store/run.ts";
import { toast } from "../store/ui.ts";

export function GalleryPanel() {
  const [q, setQ] = useState("");
  const [pack, setPack] = useState("");
  const [items, setItems] = useState<GalleryItem[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [open, setOpen] = useState<GalleryItem | null>(null);
  const [tick, setTick] = useState(0);
  // New results appear as prompts finish (the running prompt and the queue length change).
  const running = useRun((s) => s.serverRunning);
  const waiting = useRun((s) => s.queueRemaining);
  useEffect(() => {
    let live = true;
    const t = setTimeout(() => {
      api.gallery({ q, pack }).then((list) => { if (live) { setItems(list); setErr(null); } }, (e: Error) => { if (live) setErr(e.message); });
    }, 150);
    return () => { live = false; clearTimeout(t); };
  }, [q, pack, tick, running, waiting]);
  const packs = useMemo(() => [...new Set((items ?? []).map((i) => i.pack).filter((p): p is string => !!p))].sort(), [items]);

  const loadItsWorkflow = async (item: GalleryItem) => {
    try {
      const entry = await api.historyEntry(item.promptId);
      if (!entry.workflow) { toast("This run has no workflow stored", "warn"); return; }
      loadWorkflow(entry.workflow, `the workflow of ${item.file}`);
      setOpen(null);
    } catch (e) {
      toast(`Gallery: ${(e as Error).message}`, "error");
    }
  };
  const remove = async (item: GalleryItem) => {
    if (!window.confirm("Delete this run and its images from the gallery and the disk?")) return;
    try {
      await api.galleryDelete(item.promptId);
      toast("Deleted the run and its images");
      setOpen(null);
      setTick((t) => t + 1);
    } catch (e) {
      toast(`Delete failed: ${(e as Error).message}`, "error");
    }
  };

  return (
    <div className="gallery-panel">
      <div className="gallery-filters">
        <input data-testid="gallery-search" placeholder="Search prompts, seeds, files" value={q} onChange={(e) => setQ(e.target.value)} onKeyDown={(e) => e.stopPropagation()} />
        <select data-testid="gallery-pack" value={pack} onChange={(e) => setPack(e.target.value)} title="Only the images of one pack">
          <option value="">All packs</option>
          {packs.map((p) => <option key={p} value={p}>{p}</option>)}
        </select>
      </div>
      {err && <div className="snode-error">{err}</div>}
      {items && !items.length && <div className="muted">{q || pack ? "Nothing matches." : "No images yet."}</div>}
      <div className="gallery">
        {items?.map((item) => (
          <figure key={`${item.promptId}:${item.file}`} className="g-item" data-testid="gallery-item" data-prompt-id={item.promptId} onClick={() => setOpen(item)} title={item.prompt}>
            <img src={viewUrl(item.file)} alt={item.prompt || item.file} loading="lazy" />
            <figcaption>
              <span className="g-prompt">{item.prompt || "(no prompt)"}</span>
            </figcaption>
          </figure>
        ))}
      </div>
      {open && (
        <div className="lightbox" data-testid="gallery-view" onClick={() => setOpen(null)}>
          <img src={viewUrl(open.file)} alt={open.prompt} onClick={(e) => e.stopPropagation()}
            onLoad={(e) => { const im = e.currentTarget; im.classList.toggle("pixelated", im.naturalWidth > 0 && im.naturalWidth < 400); }} />
          <div className="lightbox-bar gallery-meta" onClick={(e) => e.stopPropagation()}>
            <span data-testid="gallery-meta-prompt">{open.prompt || "(no prompt)"}</span>
            {open.seed && <span>seed {open.seed}</span>}
            {open.pack && <span>pack {open.pack}</span>}
            {open.width && <span>{open.width}×{open.height}</span>}
            <span>{new Date(open.finishedAt ?? open.createdAt).toLocaleString()}</span>
            <button data-testid="gallery-load" onClick={() => void loadItsWorkflow(open)}>Load its workflow</button>
            <a href={viewUrl(open.file)} target="_blank" rel="noreferrer">Full image ↗</a>
            <button className="danger" data-testid="gallery-delete" onClick={() => void remove(open)}>Delete</button>
            <button onClick={() => setOpen(null)}>Close</button>
          </div>
        </div>
      )}
    </div>
  );
}
