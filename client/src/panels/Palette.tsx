// The node palette: fuzzy search over name, category and description; arrow keys + Enter.
// Opened by double-click on the canvas, Space or Ctrl+K, or by dropping a link on empty canvas
// (then filtered to nodes that can take the link, and the chosen node is wired).
import { useEffect, useMemo, useRef, useState } from "react";
import type { NodeSpec } from "../../../nodes/schema.ts";
import { nodeColor, socketColor } from "../graph/colors.ts";
import { compatibleSocket } from "../graph/connect.ts";
import { NOTE_TYPE } from "../graph/types.ts";
import { searchNodes } from "../graph/fuzzy.ts";
import { loadTemplate } from "../actions.ts";
import { api } from "../api.ts";
import { useGraph } from "../store/graph.ts";
import { useUi, type PaletteRequest } from "../store/ui.ts";

const TEMPLATE_PREFIX = "template:";

const NOTE_SPEC: NodeSpec = {
  type: NOTE_TYPE, displayName: "Note", category: "utils", description: "A sticky note for comments; not run.",
  inputs: [], outputs: [],
};

export default function Palette({ req }: { req: PaletteRequest }) {
  const specs = useGraph((s) => s.specs);
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const inputRef = useRef<HTMLInputElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const lastPointer = useRef({ x: req.screenPos?.x ?? -1, y: req.screenPos?.y ?? -1 });
  const close = useUi((s) => s.closePalette);

  const [templates, setTemplates] = useState<NodeSpec[]>([]);
  useEffect(() => {
    if (req.from) return;
    api.templates().then(
      (list) => setTemplates(list.map((t) => ({ type: `${TEMPLATE_PREFIX}${t.id}`, displayName: t.name, category: "template", description: t.description ?? "", inputs: [], outputs: [] }))),
      () => setTemplates([]),
    );
  }, [req.from]);

  const pool = useMemo(() => {
    const all = specs.some((s) => s.type === NOTE_TYPE) ? specs : [...specs, NOTE_SPEC];
    if (!req.from) return [...all, ...templates];
    return all.filter((s) => compatibleSocket(s, req.from!));
  }, [specs, req.from, templates]);
  // Templates only show up when searched for (they replace the canvas).
  const results = useMemo(() => searchNodes(query ? pool : pool.filter((s) => !s.type.startsWith(TEMPLATE_PREFIX)), query).slice(0, 60), [pool, query]);

  useEffect(() => { inputRef.current?.focus(); }, []);
  useEffect(() => setActive(0), [query]);
  useEffect(() => {
    listRef.current?.querySelector(`[data-index="${active}"]`)?.scrollIntoView({ block: "nearest" });
  }, [active]);

  const choose = (spec: NodeSpec | undefined) => {
    if (!spec) return;
    close();
    if (spec.type.startsWith(TEMPLATE_PREFIX)) { void loadTemplate(spec.type.slice(TEMPLATE_PREFIX.length)); return; }
    useGraph.getState().addNode(spec.type, req.flowPos, req.from ? { wireFrom: req.from } : undefined);
  };

  const w = 380;
  const h = 420;
  const sx = req.screenPos ? Math.min(Math.max(8, req.screenPos.x - 40), window.innerWidth - w - 8) : (window.innerWidth - w) / 2;
  const sy = req.screenPos ? Math.min(Math.max(8, req.screenPos.y - 20), window.innerHeight - h - 8) : 120;

  return (
    <div className="palette-backdrop" onMouseDown={(e) => { if (e.target === e.currentTarget) close(); }}>
      <div className="palette" style={{ left: sx, top: sy, width: w }} role="dialog" aria-label="Add node">
        <input
          ref={inputRef}
          data-testid="palette-search"
          className="palette-search"
          placeholder={req.from ? `Nodes that take ${req.from.type}…` : "Search nodes…"}
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            e.stopPropagation();
            if (e.key === "ArrowDown") { e.preventDefault(); setActive((a) => Math.min(results.length - 1, a + 1)); }
            else if (e.key === "ArrowUp") { e.preventDefault(); setActive((a) => Math.max(0, a - 1)); }
            else if (e.key === "Enter") { e.preventDefault(); choose(results[active]); }
            else if (e.key === "Escape") { e.preventDefault(); close(); }
          }}
        />
        {req.from && (
          <div className="palette-filter">
            <span className="dot" style={{ background: socketColor(req.from.type) }} /> {req.from.kind === "source" ? "takes" : "gives"} {req.from.type}
          </div>
        )}
        <ul className="palette-list" ref={listRef} role="listbox">
          {results.map((s, i) => (
            <li
              key={s.type}
              data-index={i}
              data-testid="palette-item"
              data-node-type={s.type}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : ""}
              onMouseMove={(e) => {
                // Only a real pointer move selects: lists re-render under a still pointer while typing.
                if (e.clientX === lastPointer.current.x && e.clientY === lastPointer.current.y) return;
                lastPointer.current = { x: e.clientX, y: e.clientY };
                if (i !== active) setActive(i);
              }}
              onMouseDown={(e) => { e.preventDefault(); choose(s); }}
            >
              <span className="palette-cat" style={{ background: nodeColor(s.type, s.category) }}>{s.category}</span>
              <span className="palette-name">{s.category === "template" ? `Open template: ${s.displayName}` : s.displayName}</span>
              <span className="palette-desc">{s.description}</span>
            </li>
          ))}
          {!results.length && <li className="palette-empty">No node matches “{query}”</li>}
        </ul>
      </div>
    </div>
  );
}
