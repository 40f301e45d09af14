// A component's border: rename and reorder its inputs and outputs, and choose which inner
// widgets are exposed on its instances. Every instance follows (links and values move with renames).
import { useMemo, useState } from "react";
import type { ComponentDef } from "../../../nodes/schema.ts";
import { socketColor } from "../graph/colors.ts";
import { isWidgetInput } from "../graph/convert.ts";
import { useGraph } from "../store/graph.ts";
import { toast, useUi } from "../store/ui.ts";

type InPort = ComponentDef["inputs"][number] & { orig?: string };
type OutPort = ComponentDef["outputs"][number] & { orig?: string };

function move<T>(list: T[], i: number, d: number): T[] {
  const j = i + d;
  if (j < 0 || j >= list.length) return list;
  const next = [...list];
  [next[i], next[j]] = [next[j]!, next[i]!];
  return next;
}

/** The ports as saved (names trimmed, editor bookkeeping dropped) and the renames among them. */
function settle<P extends { name: string; orig?: string }>(ports: P[]): { ports: Omit<P, "orig">[]; renamed: Record<string, string> } {
  return {
    ports: ports.map(({ orig: _o, ...p }) => ({ ...p, name: p.name.trim() })),
    renamed: Object.fromEntries(ports.filter((p) => p.orig && p.orig !== p.name.trim()).map((p) => [p.orig!, p.name.trim()])),
  };
}

/** One column of ports: a name field, up/down and remove per port. */
function PortRows<P extends { name: string; type: string; orig?: string }>({ ports, onChange, testId, removeTitle }: {
  ports: P[]; onChange: (ports: P[]) => void; testId: string; removeTitle: string;
}) {
  return (
    <>
      {ports.map((p, i) => (
        <div key={`${p.orig ?? ""}:${i}`} className="port-row">
          <span className="dot" style={{ background: socketColor(p.type) }} title={p.type} />
          <input value={p.name} data-testid={testId} onChange={(e) => onChange(ports.map((x, k) => (k === i ? { ...x, name: e.target.value } : x)))} />
          <button className="small" onClick={() => onChange(move(ports, i, -1))} title="Up">↑</button>
          <button className="small" onClick={() => onChange(move(ports, i, 1))} title="Down">↓</button>
          <button className="small danger" onClick={() => onChange(ports.filter((_, k) => k !== i))} title={removeTitle}>✕</button>
        </div>
      ))}
      {!ports.length && <div className="muted">None</div>}
    </>
  );
}

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

  const unique = (want: string, taken: string[]) => {
    let n = want;
    for (let k = 2; taken.includes(n); k++) n = `${want}_${k}`;
    return n;
  };
  const save = () => {
    const ins = settle(inputs), outs = settle(outputs);
    const inNames = ins.ports.map((p) => p.name), outNames = outs.ports.map((p) => p.name);
    if (inNames.some((n) => !n) || outNames.some((n) => !n)) { toast("Every port needs a name", "warn"); return; }
    if (new Set(inNames).size !== inNames.length || new Set(outNames).size !== outNames.length) { toast("Port names must differ", "warn"); return; }
    useGraph.getState().setComponentPorts(componentKey, ins.ports, outs.ports, { inputs: ins.renamed, outputs: outs.renamed }, name.trim() || undefined);
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
            <PortRows ports={inputs} onChange={setInputs} testId="port-input-name" removeTitle="Remove this port (its links on instances go)" />
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
            <PortRows ports={outputs} onChange={setOutputs} testId="port-output-name" removeTitle="Remove this port" />
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
