// A component's border (issue 7): rename and reorder its inputs and outputs, and choose which inner
// widgets are exposed on its instances. Every instance follows (links and values move with renames).
import { useMemo, useState } from "react";
import type { ComponentDef } from "../../../nodes/schema.ts";
import { socketColor } from "../graph/colors.ts";
import { isWidgetInput } from "../graph/convert.ts";
import { useGraph } from "../store/graph.ts";
import { toast, useUi } from "../store/ui.ts";

type InPort = ComponentDef["inputs"][number] & { orig?: string };
type OutPort = ComponentDef["outputs"][number] & { orig?: string };

export default function ComponentPorts({ componentKey }: { componentKey: string }) {
  const def = useGraph((s) => s.meta.components?.[componentKey]);
  const catalog = useGraph((s) => s.catalog);
  const close = () => useUi.getState().openPorts(null);
  const [inputs, setInputs] = useState<InPort[]>(() => (def?.inputs ?? []).map((p) => ({ ...p, orig: p.name })));
  const [outputs, setOutputs] = useState<OutPort[]>(() => (def?.outputs ?? []).map((p) => ({ ...p, orig: p.name })));
  const [name, setName] = useState(def?.name ?? "");

  // Inner widgets that no port feeds yet: candidates to expose on the instances.
  const candidates = useMemo(() => {
    if (!def) return [];
    const fed = new Set(inputs.flatMap((p) => p.targets.map((t) => `${t.node}\u0000${t.input}`)));
    return def.nodes.flatMap((n) => {
      const spec = catalog.get(n.type);
      return (spec?.inputs ?? [])
        .filter((i) => isWidgetInput(i) && !fed.has(`${n.id}\u0000${i.name}`) && !(n.inputs[i.name] && typeof n.inputs[i.name] === "object"))
        .map((i) => ({ node: n.id, nodeTitle: (n.ui?.title as string | undefined) ?? spec?.displayName ?? n.type, input: i.name, type: i.type }));
    });
  }, [def, catalog, inputs]);

  if (!def) return null;

  const move = <T,>(list: T[], i: number, d: number): T[] => {
    const j = i + d;
    if (j < 0 || j >= list.length) return list;
    const next = [...list];
    [next[i], next[j]] = [next[j]!, next[i]!];
    return next;
  };
  const unique = (want: string, taken: string[]) => {
    let n = want;
    for (let k = 2; taken.includes(n); k++) n = `${want}_${k}`;
    return n;
  };
  const save = () => {
    const inNames = inputs.map((p) => p.name.trim());
    const outNames = outputs.map((p) => p.name.trim());
    if (inNames.some((n) => !n) || outNames.some((n) => !n)) { toast("Every port needs a name", "warn"); return; }
    if (new Set(inNames).size !== inNames.length || new Set(outNames).size !== outNames.length) { toast("Port names must differ", "warn"); return; }
    const renamed = {
      inputs: Object.fromEntries(inputs.filter((p) => p.orig && p.orig !== p.name.trim()).map((p) => [p.orig!, p.name.trim()])),
      outputs: Object.fromEntries(outputs.filter((p) => p.orig && p.orig !== p.name.trim()).map((p) => [p.orig!, p.name.trim()])),
    };
    const g = useGraph.getState();
    g.setComponentPorts(
      componentKey,
      inputs.map(({ orig: _o, ...p }) => ({ ...p, name: p.name.trim() })),
      outputs.map(({ orig: _o, ...p }) => ({ ...p, name: p.name.trim() })),
      renamed,
    );
    if (name.trim() && name.trim() !== def.name) {
      const meta = useGraph.getState().meta;
      useGraph.setState({ meta: { ...meta, components: { ...meta.components, [componentKey]: { ...meta.components![componentKey]!, name: name.trim() } } } });
      useGraph.getState().setCatalog(useGraph.getState().serverSpecs);
    }
    close();
    toast(`Updated the ports of “${name.trim() || def.name}”`);
  };

  return (
    <div className="lightbox ports" data-testid="component-ports" onClick={close}>
      <div className="ports-box" onClick={(e) => e.stopPropagation()} onKeyDown={(e) => e.stopPropagation()}>
        <label className="ports-name">Component <input value={name} onChange={(e) => setName(e.target.value)} /></label>
        <div className="ports-cols">
          <section>
            <h4>Inputs</h4>
            {inputs.map((p, i) => (
              <div key={`${p.orig ?? ""}:${i}`} className="port-row">
                <span className="dot" style={{ background: socketColor(p.type) }} title={p.type} />
                <input value={p.name} data-testid="port-input-name" onChange={(e) => setInputs(inputs.map((x, k) => (k === i ? { ...x, name: e.target.value } : x)))} />
                <button className="small" onClick={() => setInputs(move(inputs, i, -1))} title="Up">↑</button>
                <button className="small" onClick={() => setInputs(move(inputs, i, 1))} title="Down">↓</button>
                <button className="small danger" onClick={() => setInputs(inputs.filter((_, k) => k !== i))} title="Remove this port (its links on instances go)">✕</button>
              </div>
            ))}
            {!inputs.length && <div className="muted">None</div>}
            {candidates.length > 0 && (
              <>
                <h4>Expose a widget</h4>
                {candidates.map((c) => (
                  <button key={`${c.node}.${c.input}`} className="small port-expose" data-testid="port-expose" onClick={() => setInputs([...inputs, { name: unique(c.input, inputs.map((p) => p.name)), type: c.type, targets: [{ node: c.node, input: c.input }] }])}>
                    + {c.nodeTitle} · {c.input}
                  </button>
                ))}
              </>
            )}
          </section>
          <section>
            <h4>Outputs</h4>
            {outputs.map((p, i) => (
              <div key={`${p.orig ?? ""}:${i}`} className="port-row">
                <span className="dot" style={{ background: socketColor(p.type) }} title={p.type} />
                <input value={p.name} data-testid="port-output-name" onChange={(e) => setOutputs(outputs.map((x, k) => (k === i ? { ...x, name: e.target.value } : x)))} />
                <button className="small" onClick={() => setOutputs(move(outputs, i, -1))} title="Up">↑</button>
                <button className="small" onClick={() => setOutputs(move(outputs, i, 1))} title="Down">↓</button>
                <button className="small danger" onClick={() => setOutputs(outputs.filter((_, k) => k !== i))} title="Remove this port">✕</button>
              </div>
            ))}
            {!outputs.length && <div className="muted">None</div>}
          </section>
        </div>
        <div className="ports-actions">
          <button onClick={close}>Cancel</button>
          <button className="primary" data-testid="ports-save" onClick={save}>Save</button>
        </div>
      </div>
    </div>
  );
}
