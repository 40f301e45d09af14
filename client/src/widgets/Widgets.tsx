// Inline widgets for literal inputs: number (drag or type), seed (+ after-run control), text,
// combo, toggle, colour, image upload. All carry "nodrag" so that using them does not move the node,
// and text areas "nowheel" so that scrolling them does not zoom the canvas.
import { memo, useCallback, useEffect, useRef, useState, type DragEvent, type PointerEvent as RPointerEvent } from "react";
import { type InputSpec, type Literal, type SeedControl } from "../../../nodes/schema.ts";
import { MAX_SEED } from "../../../nodes/seed.ts";
import { api, viewUrl } from "../api.ts";
import { randomSeed, seedValue } from "../store/graph.ts";
import { toast, useUi } from "../store/ui.ts";

export interface WidgetProps {
  input: InputSpec;
  value: Literal;
  onChange(v: Literal): void;
  seedControl?: SeedControl;
  onSeedControl?(c: SeedControl): void;
  invalid?: boolean;
  nodeId?: string;
}

const label = (input: InputSpec) => input.label ?? input.name;

function decimals(step: number): number {
  const s = String(step);
  const i = s.indexOf(".");
  return i < 0 ? 0 : Math.min(6, s.length - i - 1);
}

function clamp(v: number, input: InputSpec): number {
  let out = v;
  if (input.min !== undefined) out = Math.max(input.min, out);
  if (input.max !== undefined) out = Math.min(input.max, out);
  return out;
}

export const NumberWidget = memo(function NumberWidget({ input, value, onChange, invalid }: WidgetProps) {
  const isInt = input.type === "INT";
  const step = input.step ?? (isInt ? 1 : 0.01);
  const dec = isInt ? 0 : Math.max(decimals(step), 2);
  const num = typeof value === "number" ? value : Number(value ?? 0);
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const drag = useRef<{ x: number; start: number; moved: boolean } | null>(null);

  const snap = useCallback((v: number) => {
    const base = input.min ?? 0;
    let r = Math.round((v - base) / step) * step + base;
    r = Number(r.toFixed(isInt ? 0 : Math.max(dec, 4)));
    return clamp(isInt ? Math.round(r) : r, input);
  }, [input, step, isInt, dec]);

  const onPointerDown = (e: RPointerEvent<HTMLDivElement>) => {
    if (editing || e.button !== 0) return;
    if ((e.target as HTMLElement).closest("button")) return;
    (e.currentTarget as HTMLDivElement).setPointerCapture(e.pointerId);
    drag.current = { x: e.clientX, start: num, moved: false };
  };
  const onPointerMove = (e: RPointerEvent<HTMLDivElement>) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    if (!d.moved && Math.abs(dx) < 3) return;
    d.moved = true;
    // One step per 6px; with a range, the full width of travel (~300px) covers up to the range.
    const range = input.min !== undefined && input.max !== undefined ? input.max - input.min : undefined;
    const perPx = range !== undefined && range / step > 300 ? range / 300 : step / 6;
    const next = snap(d.start + dx * perPx * (e.shiftKey ? 0.1 : 1));
    if (next !== num) onChange(next);
  };
  const onPointerUp = () => {
    const d = drag.current;
    drag.current = null;
    if (d && !d.moved) {
      setText(String(num));
      setEditing(true);
    }
  };
  const commit = () => {
    setEditing(false);
    const t = text.trim();
    if (t === "") return;
    const v = Number(t);
    if (!Number.isFinite(v)) { toast(`"${t}" is not a number`, "warn"); return; }
    const typed = isInt ? Math.round(v) : v;
    const kept = clamp(typed, input);
    // A typed value out of range is changed, and the person is told to what and why.
    if (kept !== typed) toast(`${label(input)}: ${t} is ${kept > typed ? "below the minimum" : "above the maximum"}; set to ${kept}`, "warn");
    onChange(kept);
  };

  const stepBy = (dir: number) => onChange(snap(num + dir * step));
  const pct = input.min !== undefined && input.max !== undefined && input.max > input.min
    ? ((num - input.min) / (input.max - input.min)) * 100 : null;

  return (
    <div
      className={`w-num nodrag${invalid ? " invalid" : ""}`}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      title={`${input.description ?? label(input)}${input.min !== undefined ? ` · min ${input.min}` : ""}${input.max !== undefined ? ` · max ${input.max}` : ""} · step ${step}. Drag to change (Shift: finer), click to type.`}
    >
      {pct !== null && <div className="w-num-fill" style={{ width: `${Math.max(0, Math.min(100, pct))}%` }} />}
      {editing ? (
        <input
          className="w-num-input"
          autoFocus
          value={text}
          onChange={(e) => setText(e.target.value)}
          onFocus={(e) => e.target.select()}
          onBlur={commit}
          onKeyDown={(e) => {
            if (e.key === "Enter") (e.target as HTMLInputElement).blur();
            if (e.key === "Escape") setEditing(false);
            e.stopPropagation();
          }}
        />
      ) : (
        <>
          <button className="w-num-arrow" tabIndex={-1} onClick={() => stepBy(-1)} aria-label="decrease">‹</button>
          <span className="w-label">{label(input)}</span>
          <span className="w-num-value">{isInt ? String(Math.round(num)) : num.toFixed(dec)}</span>
          <button className="w-num-arrow" tabIndex={-1} onClick={() => stepBy(1)} aria-label="increase">›</button>
        </>
      )}
    </div>
  );
});

export const SeedWidget = memo(function SeedWidget({ input, value, onChange, seedControl, onSeedControl, invalid }: WidgetProps) {
  const [text, setText] = useState(String(value ?? 0));
  useEffect(() => setText(String(value ?? 0)), [value]);
  const max = input.max !== undefined && input.max < Number(MAX_SEED) ? BigInt(Math.floor(input.max)) : MAX_SEED;
  const commit = () => {
    const t = text.trim();
    if (!/^\d+$/.test(t)) { setText(String(value ?? 0)); toast("A seed is a whole number ≥ 0", "warn"); return; }
    let v = BigInt(t);
    if (v > max) { v = max; toast(`Seed clamped to ${max}`, "warn"); }
    const out = seedValue(v);
    if (String(out) !== String(value)) onChange(out);
    else setText(String(out));
  };
  return (
    <div className="w-seed-wrap nodrag">
      <div className={`w-seed${invalid ? " invalid" : ""}`}>
        <span className="w-label">{label(input)}</span>
        <input
          className="w-seed-input"
          value={text}
          inputMode="numeric"
          title={`A whole number from 0 to ${max}`}
          onChange={(e) => setText(e.target.value)}
          onBlur={commit}
          onKeyDown={(e) => { if (e.key === "Enter") (e.target as HTMLInputElement).blur(); e.stopPropagation(); }}
        />
        <button className="w-icon" title="New random seed now" onClick={() => onChange(seedValue(randomSeed(0n, max)))}>↻</button>
      </div>
      <label className="w-seed-after" title="What happens to the seed after each queued run">
        <span className="w-label">after run</span>
        <select value={seedControl ?? "fixed"} onChange={(e) => onSeedControl?.(e.target.value as SeedControl)}>
          <option value="fixed">fixed</option>
          <option value="randomize">randomize</option>
          <option value="increment">increment</option>
        </select>
      </label>
    </div>
  );
});

export const TextWidget = memo(function TextWidget({ input, value, onChange, invalid }: WidgetProps) {
  const [text, setText] = useState(String(value ?? ""));
  const focused = useRef(false);
  useEffect(() => { if (!focused.current) setText(String(value ?? "")); }, [value]);
  const commit = (t: string) => { if (t !== value) onChange(t); };
  if (input.multiline) {
    return (
      <label className={`w-text multiline${invalid ? " invalid" : ""}`}>
        <span className="w-label">{label(input)}</span>
        <textarea
          className="nodrag nowheel"
          value={text}
          spellCheck={false}
          placeholder={input.description ?? label(input)}
          onFocus={() => { focused.current = true; }}
          onChange={(e) => { setText(e.target.value); commit(e.target.value); }}
          onBlur={() => { focused.current = false; }}
          onKeyDown={(e) => { if (!(e.key === "Enter" && (e.ctrlKey || e.metaKey))) e.stopPropagation(); }}
        />
      </label>
    );
  }
  return (
    <label className={`w-text${invalid ? " invalid" : ""}`}>
      <span className="w-label">{label(input)}</span>
      <input
        className="nodrag"
        value={text}
        spellCheck={false}
        onFocus={() => { focused.current = true; }}
        onChange={(e) => { setText(e.target.value); commit(e.target.value); }}
        onBlur={() => { focused.current = false; }}
        onKeyDown={(e) => { if (!(e.key === "Enter" && (e.ctrlKey || e.metaKey))) e.stopPropagation(); }}
      />
    </label>
  );
});

export const ComboWidget = memo(function ComboWidget({ input, value, onChange, invalid }: WidgetProps) {
  const options = input.options ?? [];
  const v = String(value ?? "");
  const missing = v !== "" && !options.includes(v);
  return (
    <label className={`w-combo${invalid || missing ? " invalid" : ""}`} title={missing ? `"${v}" is not available here` : input.description}>
      <span className="w-label">{label(input)}</span>
      <select className="nodrag" value={v} onChange={(e) => onChange(e.target.value)}>
        {missing && <option value={v}>{v} (missing)</option>}
        {options.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    </label>
  );
});

export const ToggleWidget = memo(function ToggleWidget({ input, value, onChange }: WidgetProps) {
  const on = value === true || value === "true";
  return (
    <label className="w-toggle nodrag" title={input.description}>
      <span className="w-label">{label(input)}</span>
      <button type="button" role="switch" aria-checked={on} className={`switch${on ? " on" : ""}`} onClick={() => onChange(!on)}>
        <span />
      </button>
    </label>
  );
});

export const ColorWidget = memo(function ColorWidget({ input, value, onChange }: WidgetProps) {
  const v = typeof value === "string" && /^#[0-9a-f]{6}$/i.test(value) ? value : "#000000";
  const [text, setText] = useState(String(value ?? ""));
  useEffect(() => setText(String(value ?? "")), [value]);
  return (
    <label className="w-color nodrag" title={input.description}>
      <span className="w-label">{label(input)}</span>
      <input type="color" value={v} onChange={(e) => onChange(e.target.value)} />
      <input
        className="w-color-text"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => { if (/^#[0-9a-f]{6}$/i.test(text)) onChange(text.toLowerCase()); else setText(String(value ?? "")); }}
        onKeyDown={(e) => { if (e.key === "Enter") (e.target as HTMLInputElement).blur(); e.stopPropagation(); }}
      />
    </label>
  );
});

export async function uploadImageFile(file: File): Promise<string | null> {
  if (!file.type.startsWith("image/")) { toast(`${file.name} is not an image`, "warn"); return null; }
  try {
    const { name } = await api.upload(file, file.name);
    return name;
  } catch (e) {
    toast(`Upload failed: ${(e as Error).message}`, "error");
    return null;
  }
}

export const UploadWidget = memo(function UploadWidget({ input, value, onChange, invalid }: WidgetProps) {
  const fileRef = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [over, setOver] = useState(false);
  const name = typeof value === "string" ? value : "";
  const take = async (file: File | undefined) => {
    if (!file) return;
    setBusy(true);
    const uploaded = await uploadImageFile(file);
    setBusy(false);
    if (uploaded) onChange(uploaded);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    e.stopPropagation();
    setOver(false);
    void take(e.dataTransfer.files?.[0]);
  };
  const options = input.options ?? [];
  return (
    <div
      className={`w-upload nodrag${over ? " over" : ""}${invalid ? " invalid" : ""}`}
      onDragOver={(e) => { e.preventDefault(); e.stopPropagation(); setOver(true); }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <div className="w-upload-row">
        <span className="w-label">{label(input)}</span>
        {options.length > 0 ? (
          <select value={name} onChange={(e) => onChange(e.target.value)}>
            {!options.includes(name) && <option value={name}>{name || "(none)"}</option>}
            {options.map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        ) : (
          <span className="w-upload-name" title={name}>{name || "(no image)"}</span>
        )}
        <button type="button" onClick={() => fileRef.current?.click()} disabled={busy}>{busy ? "…" : "Upload"}</button>
        <input ref={fileRef} type="file" accept="image/*" hidden onChange={(e) => void take(e.target.files?.[0])} />
      </div>
      <div className="w-upload-thumb" onClick={() => name && useUi.getState().openLightbox(viewUrl(name), viewUrl(name), name)}>
        {name ? <img src={viewUrl(name)} alt={name} draggable={false} /> : <span>Drop an image here</span>}
      </div>
    </div>
  );
});

/** A painted mask (data URL); painting happens in a dialog over a preview (see panels/PaintDialog). */
export const PaintWidget = memo(function PaintWidget({ input, value, onChange, nodeId }: WidgetProps & { nodeId?: string }) {
  const url = typeof value === "string" && value.startsWith("data:") ? value : "";
  return (
    <div className="w-paint nodrag">
      <div className="w-upload-row">
        <span className="w-label">{label(input)}</span>
        <span className="w-upload-name">{url ? "painted" : "(empty: whole image)"}</span>
        <button type="button" data-testid="paint-open" onClick={() => nodeId && useUi.getState().openPainter({ nodeId, input: input.name })}>Paint…</button>
        {url && <button type="button" onClick={() => onChange("")} title="Clear the mask">✕</button>}
      </div>
      {url && <div className="w-paint-thumb"><img src={url} alt="mask" draggable={false} /></div>}
    </div>
  );
});

export function widgetFor(input: InputSpec) {
  if (input.paint) return PaintWidget;
  if (input.upload) return UploadWidget;
  if (input.seed) return SeedWidget;
  switch (input.type) {
    case "INT":
    case "FLOAT":
      return NumberWidget;
    case "BOOLEAN":
      return ToggleWidget;
    case "COMBO":
      return ComboWidget;
    case "STRING":
      return input.color ? ColorWidget : TextWidget;
    default:
      return TextWidget;
  }
}
