// The one generic node component: title bar in the category colour, typed handles, inline widgets,
// a fixed-size image area on samplers/outputs/gates, progress bar, badges and errors.
// Memoised; run-time state is read per node from the run store.
import { Handle, Position, useReactFlow, type NodeProps } from "@xyflow/react";
import { memo, useCallback, useMemo, useRef, useState } from "react";
import type { InputSpec, Literal, NodeSpec, SeedControl } from "../../../nodes/schema.ts";
import { editComponent } from "../actions.ts";
import { api, viewUrl } from "../api.ts";
import { COMPONENT_PREFIX, componentKey } from "../graph/components.ts";
import { nodeColor, socketColor } from "../graph/colors.ts";
import { defaultValue, hasPreviewArea, isWidgetInput } from "../graph/convert.ts";
import { rerouteType } from "../graph/connect.ts";
import { MODE_BYPASS, MODE_MUTE, NODE_WIDTH, REROUTE_TYPE, type FlowEdge, type SluiceNode } from "../graph/types.ts";
import { packInUse, sizedLatent, useGraph } from "../store/graph.ts";
import { packSize, usePacks } from "../store/packs.ts";
import { sizeAdvice, sizePresets } from "../graph/sizes.ts";
import { inputErrors, useRun, type NodeRun } from "../store/run.ts";
import { toast, useUi } from "../store/ui.ts";
import { widgetFor } from "../widgets/Widgets.tsx";
import { useBlockedReason } from "./BlockedOutputs.tsx";
import { LoadingLine } from "./LoadingLine.tsx";

const EMPTY: never[] = [];

/**
 * The linked inputs of every node, computed once per edges array (not once per node): a change
 * anywhere in a big graph then costs each node one map lookup.
 */
const linkedIndex = new WeakMap<readonly FlowEdge[], Map<string, string>>();
function linkedKeys(edges: readonly FlowEdge[]): Map<string, string> {
  let index = linkedIndex.get(edges);
  if (!index) {
    const lists = new Map<string, string[]>();
    for (const e of edges) (lists.get(e.target) ?? lists.set(e.target, []).get(e.target)!).push(e.targetHandle ?? "");
    index = new Map([...lists].map(([k, v]) => [k, v.sort().join("\u0000")]));
    linkedIndex.set(edges, index);
  }
  return index;
}

function useLinkedInputs(id: string): Set<string> {
  const key = useGraph(useCallback((s) => linkedKeys(s.edges).get(id) ?? "", [id]));
  return useMemo(() => new Set(key ? key.split("\u0000") : []), [key]);
}

function NodeViewImpl(props: NodeProps<SluiceNode>) {
  return props.data.type === REROUTE_TYPE ? <RerouteView {...props} /> : <CatalogNodeView {...props} />;
}

/** A Reroute: a small dot with one input and one output, coloured by the type of its link. */
function RerouteView({ id, data, selected }: NodeProps<SluiceNode>) {
  const type = useGraph(useCallback((s) => rerouteType(id, s.edges) ?? "*", [id]));
  const color = socketColor(type);
  const mode = data.mode === MODE_BYPASS ? " mode-bypass" : data.mode === MODE_MUTE ? " mode-mute" : "";
  return (
    <div className={`reroute${selected ? " selected" : ""}${mode}`} data-node-id={id} data-node-type={REROUTE_TYPE} data-status="idle" data-socket={type} title={`Reroute (${type})`} style={{ ["--sock" as string]: color }}>
      <Handle type="target" position={Position.Left} id="input" className="shandle" style={{ background: color }} />
      <span className="reroute-dot" />
      <Handle type="source" position={Position.Right} id="output" className="shandle" style={{ background: color }} />
    </div>
  );
}

function CatalogNodeView({ id, data, selected }: NodeProps<SluiceNode>) {
  const spec = useGraph(useCallback((s) => s.catalog.get(data.type), [data.type]));
  const run = useRun(useCallback((s) => s.nodes[id], [id]));
  const errors = useRun(useCallback((s) => s.nodeErrors[id], [id]));
  const linked = useLinkedInputs(id);
  const paramKey = useGraph(useCallback((s) => (s.meta.params ?? []).filter((p) => p.node === id).map((p) => `${p.input}\u0001${p.name}`).join("\u0000"), [id]));
  const params = new Map(paramKey ? paramKey.split("\u0000").map((x) => x.split("\u0001") as [string, string]) : []);
  const [renaming, setRenaming] = useState(false);

  const title = data.title ?? spec?.displayName ?? data.type;
  const collapsed = !!data.collapsed;
  const status = run?.status ?? "idle";
  const color = data.color ?? nodeColor(data.type, spec?.category);
  const blockedReason = useBlockedReason(id);
  const hasErr = !!errors?.length || status === "error" || !!data.placeholder;
  const progress = run?.total ? Math.min(1, (run.step ?? 0) / run.total) : status === "done" ? 1 : 0;

  // An edit clears the node's errors: the cause may be gone; the next queue checks again.
  const setValue = useCallback((name: string, v: Literal) => {
    useGraph.getState().setValue(id, name, v);
    useRun.getState().clearNodeError(id);
  }, [id]);
  const setSeedControl = useCallback((name: string, c: SeedControl) => {
    const cur = useGraph.getState().nodes.find((n) => n.id === id);
    const sc = cur && cur.type !== "frame" ? cur.data.seedControl ?? {} : {};
    useGraph.getState().patchNode(id, { seedControl: { ...sc, [name]: c } });
  }, [id]);

  // A placeholder (unknown type) keeps the sockets its links use, so its links stay drawn.
  const placeholderKey = useGraph(useCallback((s) => (spec ? "" : s.edges
    .filter((e) => e.target === id || e.source === id)
    .map((e) => (e.target === id ? `i${e.targetHandle}` : `o${e.sourceHandle}`) + `\u0001${e.data?.socket ?? "*"}`)
    .sort().join("\u0000")), [id, spec]));
  const placeholderSockets = placeholderKey ? [...new Set(placeholderKey.split("\u0000"))].map((k) => { const [h, t] = k.split("\u0001") as [string, string]; return { kind: h[0], name: h.slice(1), type: t as InputSpec["type"] }; }) : [];
  const inputs: InputSpec[] = spec?.inputs ?? placeholderSockets.filter((x) => x.kind === "i").map((x) => ({ name: x.name, type: x.type }));
  const outputs: NodeSpec["outputs"] = spec?.outputs ?? placeholderSockets.filter((x) => x.kind === "o").map((x) => ({ name: x.name, type: x.type }));
  const nodeErrs = errors?.filter((e) => !e.input || !inputs.some((i) => i.name === e.input)) ?? EMPTY;

  return (
    <div
      className={`snode status-${status}${selected ? " selected" : ""}${hasErr ? " has-error" : ""}${blockedReason ? " blocked-output" : ""}${collapsed ? " collapsed" : ""}${data.mode === MODE_BYPASS ? " mode-bypass" : data.mode === MODE_MUTE ? " mode-mute" : ""}`}
      data-node-id={id}
      data-mode={data.mode === MODE_BYPASS ? "bypass" : data.mode === MODE_MUTE ? "mute" : "always"}
      data-node-type={data.placeholder?.originalType ?? data.type}
      data-status={status}
      style={{ width: collapsed ? undefined : data.width ?? NODE_WIDTH, ["--cat" as string]: color }}
    >
      <div className="snode-progress" aria-hidden><div style={{ transform: `scaleX(${status === "running" || status === "done" ? progress : 0})` }} /></div>
      <header className="snode-head" onDoubleClick={(e) => { e.stopPropagation(); setRenaming(true); }} title={spec?.description}>
        <button
          className="snode-collapse nodrag"
          title={collapsed ? "Expand" : "Collapse"}
          onClick={() => useGraph.getState().patchNode(id, { collapsed: !collapsed })}
        >{collapsed ? "▸" : "▾"}</button>
        {renaming ? (
          <input
            className="snode-rename nodrag"
            autoFocus
            defaultValue={title}
            onBlur={(e) => {
              setRenaming(false);
              const t = e.target.value.trim();
              useGraph.getState().patchNode(id, { title: t && t !== (spec?.displayName ?? data.type) ? t : undefined });
            }}
            onKeyDown={(e) => { e.stopPropagation(); if (e.key === "Enter" || e.key === "Escape") (e.target as HTMLInputElement).blur(); }}
          />
        ) : (
          <span className="snode-title">{title}</span>
        )}
        {componentKey(data.type) !== undefined && (
          <span className="snode-comp nodrag">
            <button title="Edit the definition (every instance follows)" data-testid="component-edit" onClick={() => editComponent(id, componentKey(data.type)!)}>Edit</button>
            <button title="Rename and reorder its inputs and outputs, expose inner widgets" data-testid="component-ports-button" onClick={() => useUi.getState().openPorts(componentKey(data.type)!)}>Ports</button>
            <button title="Unpack: replace this instance by its nodes (unlinks it)" data-testid="component-unpack" onClick={() => useGraph.getState().unpackComponent(id)}>Unpack</button>
          </span>
        )}
        <span className="snode-badges">
          {data.mode === MODE_BYPASS && <span className="badge mode" data-testid="bypass-badge" title="Bypassed: its inputs pass through to its outputs (Ctrl+B)">bypassed</span>}
          {data.mode === MODE_MUTE && <span className="badge mode" data-testid="mute-badge" title="Muted: it and what needs it do not run (Ctrl+M)">muted</span>}
          {blockedReason && <span className="badge blocked" data-testid="blocked-badge" title={`Will not run: ${blockedReason}`}>will not run</span>}
          {status === "cached" && <span className="badge cached" data-testid="cached-badge" title="Result reused from the cache">cached</span>}
          {status === "done" && run?.ms !== undefined && <span className="badge ms">{run.ms < 1000 ? `${Math.round(run.ms)}ms` : `${(run.ms / 1000).toFixed(1)}s`}</span>}
          {status === "running" && run?.total ? <span className="badge step">{run.step}/{run.total}</span> : null}
        </span>
        {collapsed && (
          <div className="snode-collapsed-handles">
            {inputs.filter((i) => !isWidgetInput(i) || linked.has(i.name)).map((i) => (
              <Handle key={`in-${i.name}`} type="target" position={Position.Left} id={i.name} className="shandle" style={{ background: socketColor(i.type) }} />
            ))}
            {outputs.map((o) => (
              <Handle key={`out-${o.name}`} type="source" position={Position.Right} id={o.name} className="shandle" style={{ background: socketColor(o.type) }} />
            ))}
          </div>
        )}
      </header>
      {run?.loading && <LoadingLine loading={run.loading} testId="node-loading" className="snode-loading nodrag" />}
      {!collapsed && <WidthHandle id={id} width={data.width ?? NODE_WIDTH} />}
      {!collapsed && (
        <div className="snode-body">
          {data.placeholder && (
            <div className="snode-error">Unknown node type “{data.placeholder.originalType}” ({data.placeholder.reason}). Kept as a placeholder.</div>
          )}
          {outputs.map((o) => (
            <div className="srow out" key={`out-${o.name}`} title={o.description ?? o.type}>
              <span className="srow-label">{o.name}</span>
              <span className="srow-type" style={{ color: socketColor(o.type) }}>{o.type}</span>
              <Handle type="source" position={Position.Right} id={o.name} className="shandle" style={{ background: socketColor(o.type) }} />
            </div>
          ))}
          {inputs.map((input) => (
            <InputRow
              key={input.name}
              nodeId={id}
              input={input}
              linked={linked.has(input.name)}
              value={data.values[input.name] ?? null}
              seedControl={data.seedControl?.[input.name]}
              setValue={setValue}
              setSeedControl={setSeedControl}
              errors={inputErrors(errors, input.name)}
              param={params.get(input.name)}
            />
          ))}
          {componentKey(data.type) !== undefined && <PromoteInner componentKey={componentKey(data.type)!} />}
          {spec && sizedLatent(spec) && <SizeAdvice id={id} values={data.values} />}
          {hasPreviewArea(spec) && <ImageArea id={id} spec={spec!} run={run} />}
          {nodeErrs.map((e, i) => <div key={i} className="snode-error" data-testid="node-error">{e.message}</div>)}
          {status === "error" && run?.error && <div className="snode-error" data-testid="node-error">{run.error}</div>}
        </div>
      )}
    </div>
  );
}

/**
 * A component's inner widgets that are not on its instances yet, each promoted in one click: it
 * becomes an input of the component (a widget on every instance) that keeps its current value.
 */
function PromoteInner({ componentKey: key }: { componentKey: string }) {
  const [open, setOpen] = useState(false);
  const def = useGraph((s) => s.meta.components?.[key]);
  const catalog = useGraph((s) => s.catalog);
  if (!def) return null;
  const fed = new Set(def.inputs.flatMap((p) => p.targets.map((t) => `${t.node}\u0000${t.input}`)));
  const candidates = open ? def.nodes.flatMap((n) => {
    const spec = catalog.get(n.type);
    return (spec?.inputs ?? [])
      .filter((i) => isWidgetInput(i) && !fed.has(`${n.id}\u0000${i.name}`) && !(n.inputs[i.name] && typeof n.inputs[i.name] === "object"))
      .map((i) => ({ node: n.id, title: (n.ui?.title as string | undefined) ?? spec?.displayName ?? n.type, input: i, value: n.inputs[i.name] }));
  }) : [];
  const promote = (c: (typeof candidates)[number]) => {
    const g = useGraph.getState();
    const taken = def.inputs.map((p) => p.name);
    let name = c.input.name;
    for (let k = 2; taken.includes(name); k++) name = `${c.input.name}_${k}`;
    g.setComponentPorts(key, [...def.inputs, { name, type: c.input.type, targets: [{ node: c.node, input: c.input.name }] }], def.outputs, { inputs: {}, outputs: {} });
    // Every instance starts from the value the inner node holds.
    const value = c.value ?? defaultValue(c.input);
    if (value !== undefined && typeof value !== "object") {
      for (const n of useGraph.getState().nodes) if (n.type === "sluice" && n.data.type === COMPONENT_PREFIX + key) useGraph.getState().patchNode(n.id, { values: { ...n.data.values, [name]: value } }, false);
    }
    toast(`“${c.input.name}” of ${c.title} is now an input of “${def.name}”`);
  };
  return (
    <div className="promote nodrag">
      <button className="small" data-testid="component-inner" onClick={() => setOpen(!open)} title="Edit an inner widget here: promote it to an input of the component">
        {open ? "▾" : "▸"} Inner widgets
      </button>
      {open && (
        <ul>
          {candidates.map((c) => (
            <li key={`${c.node}:${c.input.name}`}>
              <span className="muted">{c.title} ·</span> {c.input.label ?? c.input.name}
              <button className="small" data-testid="promote-widget" data-inner={`${c.node}.${c.input.name}`} onClick={() => promote(c)} title="Show this widget on the component's instances">＋</button>
            </li>
          ))}
          {!candidates.length && <li className="muted">Every inner widget is an input already.</li>}
        </ul>
      )}
    </div>
  );
}

/** Size presets of the pack in use, and warnings when the size is beyond it or the memory budget. */
function SizeAdvice({ id, values }: { id: string; values: Record<string, Literal> }) {
  const packName = useGraph((s) => packInUse(s.nodes));
  const packs = usePacks((s) => s.packs);
  const budget = usePacks((s) => s.memoryBudget);
  const pack = packSize(packs, packName);
  const warnings = sizeAdvice(values, pack, budget);
  const presets = pack ? sizePresets(pack) : [];
  const apply = (i: number) => {
    const p = presets[i];
    if (!p || !pack) return;
    useGraph.getState().patchNode(id, { values: { ...values, width: p.width, height: p.height, compression: pack.compression } });
    useRun.getState().clearNodeError(id);
  };
  return (
    <>
      {presets.length > 0 && (
        <div className="size-presets nodrag">
          <select data-testid="size-preset" value="" onChange={(e) => apply(Number(e.target.value))} title={`Sizes for pack “${pack!.name}”: its native size first, then aspect ratios of about the same area`}>
            <option value="">Size presets ({pack!.name})…</option>
            {presets.map((p, i) => <option key={p.label} value={i}>{p.label}</option>)}
          </select>
        </div>
      )}
      {warnings.map((w) => <div key={w} className="snode-warning" data-testid="size-warning">{w}</div>)}
    </>
  );
}

/** Drag the right edge to change a node's width (its height follows its content). */
function WidthHandle({ id, width }: { id: string; width: number }) {
  const rf = useReactFlow();
  const start = useRef<{ x: number; w: number } | null>(null);
  return (
    <div
      className="snode-resize nodrag"
      title="Drag to change the width"
      onPointerDown={(e) => { e.stopPropagation(); e.currentTarget.setPointerCapture(e.pointerId); start.current = { x: e.clientX, w: width }; }}
      onPointerMove={(e) => {
        if (!start.current) return;
        const w = Math.round(Math.max(200, Math.min(900, start.current.w + (e.clientX - start.current.x) / rf.getZoom())) / 10) * 10;
        if (w !== width) useGraph.getState().patchNode(id, { width: w }, `width:${id}`);
      }}
      onPointerUp={() => { start.current = null; }}
    />
  );
}

interface InputRowProps {
  nodeId: string;
  input: InputSpec;
  linked: boolean;
  value: Literal;
  seedControl?: SeedControl;
  setValue(name: string, v: Literal): void;
  setSeedControl(name: string, c: SeedControl): void;
  errors: { message: string }[];
  param?: string;
}

function toggleParam(nodeId: string, input: string, current: string | undefined) {
  const g = useGraph.getState();
  const params = g.meta.params ?? [];
  if (current) {
    if (window.confirm(`Stop exposing "${input}" as the parameter "${current}"?`)) g.setParams(params.filter((p) => !(p.node === nodeId && p.input === input)));
    return;
  }
  const name = window.prompt(`Expose "${input}" as a workflow parameter (for \`sluice run --set NAME=...\` and the API). Name:`, input);
  if (!name?.trim()) return;
  if (params.some((p) => p.name === name.trim())) { toast(`A parameter "${name.trim()}" exists already`, "warn"); return; }
  g.setParams([...params, { name: name.trim(), node: nodeId, input }]);
}

const InputRow = memo(function InputRow({ nodeId, input, linked, value, seedControl, setValue, setSeedControl, errors, param }: InputRowProps) {
  const widget = isWidgetInput(input);
  const color = socketColor(input.type);
  const invalid = errors.length > 0;
  const Widget = widget ? widgetFor(input) : null;
  return (
    <div
      className={`srow in${widget ? " widget" : ""}${invalid ? " invalid" : ""}${param ? " param" : ""}`}
      data-input={input.name}
      title={errors.map((e) => e.message).join("\n") || `${input.description ?? input.type}${widget ? " · right-click: expose as a workflow parameter" : ""}`}
      onContextMenu={widget ? (e) => { e.preventDefault(); e.stopPropagation(); toggleParam(nodeId, input.name, param); } : undefined}
    >
      {param && <span className="param-badge" title={`Workflow parameter "${param}"`}>{param}</span>}
      <Handle type="target" position={Position.Left} id={input.name} className={`shandle${widget && !linked ? " widget-handle" : ""}`} style={{ background: color }} />
      {Widget && !linked ? (
        <Widget
          input={input}
          value={value}
          onChange={(v) => setValue(input.name, v)}
          invalid={invalid}
          nodeId={nodeId}
          {...(input.seed ? { seedControl: seedControl ?? "fixed", onSeedControl: (c: SeedControl) => setSeedControl(input.name, c) } : {})}
        />
      ) : (
        <>
          <span className="srow-label">{input.label ?? input.name}{input.optional ? <em> (optional)</em> : null}</span>
          <span className="srow-type" style={{ color }}>{linked && widget ? "linked" : input.type}</span>
        </>
      )}
      {errors.map((e, i) => <div key={i} className="srow-error" data-testid="input-error">{e.message}</div>)}
    </div>
  );
});

function ImageArea({ id, spec, run }: { id: string; spec: NodeSpec; run: NodeRun | undefined }) {
  const gate = run?.gate;
  const images = run?.images ?? [];
  const live = run?.status === "running" && run.preview;
  const [pick, setPick] = useState(0);
  const open = useUi((s) => s.openLightbox);
  let main: { src: string; full?: string; caption: string } | null = null;
  if (gate && gate.src) main = { src: gate.src, caption: `Gate ${id}: waiting` };
  else if (live) main = { src: run!.preview!, caption: `Preview ${run?.step ?? ""}/${run?.total ?? ""}` };
  else if (images.length) {
    const img = images[Math.min(pick, images.length - 1)]!;
    main = { src: viewUrl(img.file), full: viewUrl(img.file), caption: `${img.file}${img.width ? ` · ${img.width}×${img.height}` : ""}${img.seed ? ` · seed ${img.seed}` : ""}` };
  } else if (run?.preview) main = { src: run.preview, caption: "Last preview" };

  const answer = async (action: "continue" | "reroll" | "cancel") => {
    if (!gate) return;
    try {
      await api.gate(gate.promptId, id, action);
      useRun.getState().patch(id, { gate: undefined, ...(action === "cancel" ? { status: "idle" } : {}) });
    } catch (e) {
      toast(`Gate: ${(e as Error).message}`, "error");
    }
  };

  const finishNow = async () => {
    const promptId = useRun.getState().promptId;
    if (!promptId) return;
    try { await api.finishNow(promptId, id); } catch (e) { toast(`Finish now: ${(e as Error).message}`, "error"); }
  };

  return (
    <div className={`snode-image-area${spec.output ? "" : " compact"}`}>
      <div className="snode-image-box">
        {main ? (
          <img
            data-testid="node-image"
            className="nodrag"
            src={main.src}
            alt={main.caption}
            title={`${main.caption} — click to enlarge`}
            draggable={false}
            onLoad={(e) => { const im = e.currentTarget; im.classList.toggle("pixelated", im.naturalWidth > 0 && im.naturalWidth < 160); }}
            onClick={() => open(main!.src, main!.full, main!.caption)}
          />
        ) : (
          <span className="snode-image-empty">{gate ? "Waiting here (preview not available after a reload)" : spec.output ? "The image appears here" : "Live preview appears here"}</span>
        )}
      {!gate && run?.status === "running" && !spec.output && (run.total ?? 0) > 0 && (
        <div className="gate-actions overlay nodrag">
          <button data-testid="finish-now" title="Take the current estimate as this stage's result and go on" onClick={() => void finishNow()}>Finish now</button>
        </div>
      )}
      {gate && (
        <div className="gate-actions overlay nodrag" data-testid="gate-actions">
          <button className="primary" data-testid="gate-continue" onClick={() => void answer("continue")}>Continue</button>
          {gate.src && (
            <button
              data-testid="gate-edit"
              title={gate.kind === "latent"
                ? "Paint colours over the latent's preview, then continue: the latent changes where you painted"
                : "Paint over the image, then continue with the edited image"}
              onClick={() => useUi.getState().openPainter({ nodeId: id, gate: { promptId: gate.promptId, src: gate.src!, kind: gate.kind } })}
            >Edit…</button>
          )}
          <button data-testid="gate-reroll" onClick={() => void answer("reroll")}>Re-roll</button>
          <button className="danger" data-testid="gate-cancel" onClick={() => void answer("cancel")}>Cancel</button>
        </div>
      )}
      </div>
      {images.length > 1 && !gate && (
        <div className="snode-thumbs nodrag">
          {images.map((img, i) => (
            <img key={img.file} src={viewUrl(img.file)} className={i === pick ? "on" : ""} onClick={() => setPick(i)} title={img.seed ? `seed ${img.seed}` : img.file} />
          ))}
          {images[Math.min(pick, images.length - 1)]?.seed && (
            <button className="small keep-seed" data-testid="keep-seed" title="Keep this result's seed: the branching node upstream gets this one seed" onClick={() => keepSeed(id, images[Math.min(pick, images.length - 1)]!.seed!)}>
              Keep seed
            </button>
          )}
        </div>
      )}
    </div>
  );
}

/**
 * Branching: picking one of several results keeps its seed. The nearest upstream node
 * that branches seeds (an input named "seeds") gets just this seed; failing that, the nearest
 * upstream seed widget is set to it.
 */
function keepSeed(nodeId: string, seed: string) {
  const g = useGraph.getState();
  const seen = new Set<string>();
  let frontier = [nodeId];
  let fallback: { id: string; input: string } | null = null;
  while (frontier.length) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const e of g.edges.filter((x) => x.target === id)) {
        if (seen.has(e.source)) continue;
        seen.add(e.source);
        const n = g.nodes.find((x) => x.id === e.source);
        if (!n || n.type === "frame") continue;
        const spec = g.catalog.get(n.data.type);
        if (spec?.inputs.some((i) => i.name === "seeds" && i.type === "STRING")) {
          g.setValue(n.id, "seeds", seed);
          toast(`Kept seed ${seed} on ${n.data.title ?? spec.displayName}`);
          return;
        }
        const seedInput = spec?.inputs.find((i) => i.seed);
        if (seedInput && !fallback) fallback = { id: n.id, input: seedInput.name };
        next.push(n.id);
      }
    }
    frontier = next;
  }
  if (fallback) {
    const value = /^\d+$/.test(seed) && BigInt(seed) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed;
    g.setValue(fallback.id, fallback.input, value);
    g.patchNode(fallback.id, { seedControl: { ...((g.nodes.find((n) => n.id === fallback!.id) as SluiceNode | undefined)?.data.seedControl ?? {}), [fallback.input]: "fixed" } }, false);
    toast(`Kept seed ${seed} (after run: fixed)`);
  } else toast("No seed upstream to keep", "warn");
}

export const NodeView = memo(NodeViewImpl);
