// The mask painter: paint white over a preview (a gate's, a sampler's or an output) to make
// a mask for a paint input (e.g. MaskFromPreview). The result is a PNG data URL, white = masked.
import { useEffect, useMemo, useRef, useState } from "react";
import { api, viewUrl } from "../api.ts";
import { useGraph } from "../store/graph.ts";
import { useRun } from "../store/run.ts";
import { toast, useUi, type PainterRequest } from "../store/ui.ts";

interface Backdrop { label: string; src: string }

export default function PaintDialog(req: PainterRequest) {
  const nodeId = req.nodeId;
  const input = "input" in req ? req.input : "";
  const gate = "gate" in req ? req.gate : null;
  const close = () => useUi.getState().openPainter(null);
  const runNodes = useRun((s) => s.nodes);
  const node = useGraph((s) => s.nodes.find((n) => n.id === nodeId));
  const current = node && node.type !== "frame" ? node.data.values[input] : "";
  const backdrops = useMemo<Backdrop[]>(() => {
    const out: Backdrop[] = [];
    if (gate) return [{ label: `Gate ${nodeId}`, src: gate.src }];
    for (const [id, r] of Object.entries(runNodes)) if (r.gate) out.push({ label: `Gate ${id}`, src: r.gate.src });
    for (const [id, r] of Object.entries(runNodes)) if (r.preview) out.push({ label: `Preview of node ${id}`, src: r.preview });
    for (const [id, r] of Object.entries(runNodes)) for (const img of r.images ?? []) out.push({ label: `Output of node ${id}`, src: viewUrl(img.file) });
    return out;
  }, [runNodes]);
  const [bg, setBg] = useState(0);
  const [size, setSize] = useState(24);
  const [erase, setErase] = useState(false);
  const [color, setColor] = useState("#ffffff");
  const [dims, setDims] = useState({ w: 512, h: 512 });
  const canvas = useRef<HTMLCanvasElement>(null);
  const drawing = useRef<{ x: number; y: number } | null>(null);

  // Size the canvas to the backdrop (or 512²) and draw the existing mask.
  useEffect(() => {
    const src = backdrops[bg]?.src;
    if (!src) return;
    const img = new Image();
    img.onload = () => setDims({ w: img.naturalWidth || 512, h: img.naturalHeight || 512 });
    img.src = src;
  }, [backdrops, bg]);
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const ctx = c.getContext("2d")!;
    ctx.clearRect(0, 0, c.width, c.height);
    if (typeof current === "string" && current.startsWith("data:")) {
      const img = new Image();
      img.onload = () => ctx.drawImage(img, 0, 0, c.width, c.height);
      img.src = current;
    }
  }, [dims, current]);

  const at = (e: React.PointerEvent) => {
    const r = canvas.current!.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * dims.w, y: ((e.clientY - r.top) / r.height) * dims.h };
  };
  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }) => {
    const ctx = canvas.current!.getContext("2d")!;
    ctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
    ctx.strokeStyle = gate ? color : "#ffffff";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = size * (dims.w / 512);
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  };
  const done = async () => {
    const c = canvas.current!;
    if (gate) {
      let value: unknown;
      if (gate.kind === "latent") {
        // Only the strokes (transparent elsewhere): the server moves the latent toward these
        // colours where they are and leaves it as it is where nothing was painted.
        value = { paint: c.toDataURL("image/png") };
      } else {
        // The edited image: the gate's image with the strokes on top, at the image's own size.
        const out = document.createElement("canvas");
        out.width = c.width;
        out.height = c.height;
        const ctx = out.getContext("2d")!;
        const img = new Image();
        img.src = gate.src;
        await img.decode().catch(() => undefined);
        ctx.drawImage(img, 0, 0, out.width, out.height);
        ctx.drawImage(c, 0, 0);
        value = out.toDataURL("image/png");
      }
      try {
        await api.gate(gate.promptId, nodeId, "continue", value);
        useRun.getState().patch(nodeId, { gate: undefined });
        close();
      } catch (e) {
        toast(`Gate: ${(e as Error).message}`, "error");
      }
      return;
    }
    // Export as an opaque mask: black background, white where painted.
    const out = document.createElement("canvas");
    out.width = c.width;
    out.height = c.height;
    const ctx = out.getContext("2d")!;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(c, 0, 0);
    useGraph.getState().setValue(nodeId, input, out.toDataURL("image/png"));
    close();
  };

  return (
    <div className={`lightbox painter${gate ? " edit" : ""}`} data-testid="painter" onClick={close}>
      <div className="painter-box" onClick={(e) => e.stopPropagation()}>
        <div className="painter-tools">
          <select value={bg} onChange={(e) => setBg(Number(e.target.value))} disabled={!!gate}>
            {backdrops.length ? backdrops.map((b, i) => <option key={i} value={i}>{b.label}</option>) : <option>No preview yet: run up to a gate first</option>}
          </select>
          <label>Brush <input type="range" min={2} max={96} value={size} onChange={(e) => setSize(Number(e.target.value))} /></label>
          <button className={erase ? "" : "on"} onClick={() => setErase(false)}>Paint</button>
          <button className={erase ? "on" : ""} onClick={() => setErase(true)}>Erase</button>
          <button onClick={() => { const c = canvas.current!; c.getContext("2d")!.clearRect(0, 0, c.width, c.height); }}>Clear</button>
          <span style={{ flex: 1 }} />
          <button onClick={close}>Cancel</button>
          {gate && <input type="color" value={color} onChange={(e) => setColor(e.target.value)} title="Brush colour" />}
          <button className="primary" data-testid="paint-done" onClick={() => void done()}>{gate ? `Continue with this ${gate.kind}` : "Use mask"}</button>
        </div>
        <div className="painter-stage" style={{ aspectRatio: `${dims.w} / ${dims.h}` }}>
          {backdrops[bg] && <img src={backdrops[bg]!.src} alt="" draggable={false} />}
          <canvas
            ref={canvas}
            width={dims.w}
            height={dims.h}
            onPointerDown={(e) => { (e.target as HTMLCanvasElement).setPointerCapture(e.pointerId); const p = at(e); drawing.current = p; stroke(p, p); }}
            onPointerMove={(e) => { if (!drawing.current) return; const p = at(e); stroke(drawing.current, p); drawing.current = p; }}
            onPointerUp={() => { drawing.current = null; }}
          />
        </div>
      </div>
    </div>
  );
}
