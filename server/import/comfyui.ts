// ComfyUI → Sluice: maps a Stable Cascade workflow in ComfyUI's UI ("workflow") or API ("prompt")
// format onto Sluice's nodes. Pure: no I/O. Both formats are first read into one intermediate
// shape (nodes with named literal values and named links to (node, output slot)), then mapped.
// Whatever cannot be mapped is kept as a placeholder node or named in the warnings, never dropped
// without a word.
import {
  MAX_SEED, WORKFLOW_FORMAT, WORKFLOW_VERSION, Workflow,
  type Group, type InputValue, type Link, type SeedControl, type WorkflowNode,
} from "../../nodes/schema.ts";
import { parseJsonKeepingBigInts } from "./json.ts";

export { parseJsonKeepingBigInts };

export interface ImportContext {
  /** Pack names, as GET /api/packs lists them. */
  packs: string[];
  /** The pack a checkpoint maps to when its name contains no pack name (usually packs[0]). */
  defaultPack: string;
  /** Stages each pack has (GET /api/packs `stages`, e.g. "clipVision"), to warn about missing ones. */
  packStages?: Record<string, string[]>;
  /** The workflow's name (e.g. from the file name). */
  name?: string;
}

export interface ImportResult {
  workflow: Workflow;
  warnings: string[];
}

/** Nothing usable in the input; `reasons` says what was looked for. */
export class ImportError extends Error {
  constructor(message: string, readonly reasons: string[] = []) {
    super(message);
    this.name = "ImportError";
  }
}

// ---------------------------------------------------------------------------------------------
// What ComfyUI's classes look like (COMFYUI.md)
// ---------------------------------------------------------------------------------------------

const CONTROL = "control_after_generate";
const SEED_CONTROLS = ["fixed", "increment", "decrement", "randomize"];

interface ComfyClass { title: string; widgets: string[]; outputs: string[] }

/** A lookup table whose keys are only its own: a class named "constructor" or "__proto__" finds nothing. */
function withoutPrototype<T>(entries: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries);
}

const CLASSES: Record<string, ComfyClass> = withoutPrototype({
  CheckpointLoaderSimple: { title: "Load Checkpoint", widgets: ["ckpt_name"], outputs: ["MODEL", "CLIP", "VAE"] },
  unCLIPCheckpointLoader: { title: "unCLIPCheckpointLoader", widgets: ["ckpt_name"], outputs: ["MODEL", "CLIP", "VAE", "CLIP_VISION"] },
  CLIPTextEncode: { title: "CLIP Text Encode (Prompt)", widgets: ["text"], outputs: ["CONDITIONING"] },
  StableCascade_EmptyLatentImage: { title: "StableCascade_EmptyLatentImage", widgets: ["width", "height", "compression", "batch_size"], outputs: ["stage_c", "stage_b"] },
  StableCascade_StageC_VAEEncode: { title: "StableCascade_StageC_VAEEncode", widgets: ["compression"], outputs: ["stage_c", "stage_b"] },
  StableCascade_StageB_Conditioning: { title: "StableCascade_StageB_Conditioning", widgets: [], outputs: ["CONDITIONING"] },
  KSampler: { title: "KSampler", widgets: ["seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"], outputs: ["LATENT"] },
  KSamplerAdvanced: { title: "KSampler (Advanced)", widgets: ["add_noise", "noise_seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler", "start_at_step", "end_at_step", "return_with_leftover_noise"], outputs: ["LATENT"] },
  VAEDecode: { title: "VAE Decode", widgets: [], outputs: ["IMAGE"] },
  VAEEncode: { title: "VAE Encode", widgets: [], outputs: ["LATENT"] },
  SaveImage: { title: "Save Image", widgets: ["filename_prefix"], outputs: [] },
  PreviewImage: { title: "Preview Image", widgets: [], outputs: [] },
  LoadImage: { title: "Load Image", widgets: ["image", "upload"], outputs: ["IMAGE", "MASK"] },
  ImageScale: { title: "Upscale Image", widgets: ["upscale_method", "width", "height", "crop"], outputs: ["IMAGE"] },
  CLIPVisionEncode: { title: "CLIP Vision Encode", widgets: ["crop"], outputs: ["CLIP_VISION_OUTPUT"] },
  unCLIPConditioning: { title: "unCLIPConditioning", widgets: ["strength", "noise_augmentation"], outputs: ["CONDITIONING"] },
  ModelSamplingStableCascade: { title: "ModelSamplingStableCascade", widgets: ["shift"], outputs: ["MODEL"] },
  ControlNetLoader: { title: "Load ControlNet Model", widgets: ["control_net_name"], outputs: ["CONTROL_NET"] },
  ControlNetApplyAdvanced: { title: "Apply ControlNet", widgets: ["strength", "start_percent", "end_percent"], outputs: ["positive", "negative"] },
  Note: { title: "Note", widgets: ["text"], outputs: [] },
  MarkdownNote: { title: "Markdown Note", widgets: ["text"], outputs: [] },
  PrimitiveNode: { title: "Primitive", widgets: ["value", CONTROL], outputs: ["*"] },
});

const CHECKPOINTS = new Set(["CheckpointLoaderSimple", "unCLIPCheckpointLoader"]);
const SAMPLERS = new Set(["KSampler", "KSamplerAdvanced"]);

/** Sluice output name of each ComfyUI output slot (checkpoints map by role, see checkpointOutput). */
const OUTPUT_NAMES: Record<string, string[]> = withoutPrototype({
  CLIPTextEncode: ["conditioning"],
  StableCascade_EmptyLatentImage: ["stage_c", "stage_b"],
  StableCascade_StageC_VAEEncode: ["stage_c", "stage_b"],
  StableCascade_StageB_Conditioning: ["conditioning"],
  KSampler: ["latent"],
  KSamplerAdvanced: ["latent"],
  VAEDecode: ["image"],
  LoadImage: ["image", "mask"],
  ImageScale: ["image"],
  unCLIPConditioning: ["conditioning"],
});

const NO_CONTROLNET = "Sluice has no ControlNet nodes";
const UNMAPPED_REASONS: Record<string, string> = withoutPrototype({
  ControlNetLoader: NO_CONTROLNET,
  DiffControlNetLoader: NO_CONTROLNET,
  ControlNetApply: NO_CONTROLNET,
  ControlNetApplyAdvanced: NO_CONTROLNET,
  VAEEncode: "Sluice has no Stage A encoder; image-to-image goes through StableCascade_StageC_VAEEncode (Sluice's StageCEncode)",
  EmptyLatentImage: "an SD latent; Stable Cascade starts from StableCascade_EmptyLatentImage",
  LoraLoader: "Sluice has no LoRA support",
  LoraLoaderModelOnly: "Sluice has no LoRA support",
  CLIPVisionLoader: "Sluice takes the CLIP vision model from the pack (LoadCascadePack's clip_vision output)",
  CLIPVisionEncode: "its output feeds no unCLIPConditioning, the only place Sluice encodes an image with CLIP vision",
  ModelSamplingStableCascade: "it feeds no sampler; Sluice sets the shift on the sampler itself",
});
const UNKNOWN_REASON = "no Sluice node for this ComfyUI type (a custom node, or one outside Stable Cascade)";

const SLUICE_SAMPLERS = new Set(["ddpm", "ddim", "euler", "euler_ancestral", "dpmpp_2m", "lcm"]);

/** The Sluice sampler for a ComfyUI sampler name: itself where Sluice has it, else the closest. */
export function mapSamplerName(name: string): string {
  if (SLUICE_SAMPLERS.has(name)) return name;
  const n = name.toLowerCase();
  if (/^dpmpp_[23]m/.test(n)) return "dpmpp_2m";
  if (/ancestral|sde/.test(n)) return "euler_ancestral";
  if (/^(uni_pc|deis|ipndm|lms|res_multistep)/.test(n)) return "dpmpp_2m";
  if (n.includes("lcm")) return "lcm";
  if (n.includes("ddim")) return "ddim";
  if (/^(euler|heun|dpm_2|dpm_fast|dpm_adaptive)/.test(n)) return "euler";
  return "ddpm";
}

const SCALE_METHODS: Record<string, string> = withoutPrototype({ "nearest-exact": "nearest", nearest: "nearest", bilinear: "bilinear", bicubic: "bicubic", lanczos: "lanczos" });

// ---------------------------------------------------------------------------------------------
// The intermediate shape both formats are read into
// ---------------------------------------------------------------------------------------------

type Pair = [number, number];
interface Src { node: string; slot: number }

interface CNode {
  id: string;
  type: string;
  title?: string;
  pos?: Pair;
  size?: Pair;
  collapsed?: boolean;
  color?: string;
  /** Literal values by ComfyUI input (widget) name. */
  widgets: Record<string, unknown>;
  /** Linked inputs by ComfyUI input name. */
  links: Record<string, Src>;
  /** "control after generate" per seed widget (UI format). */
  controls: Record<string, string>;
  /** ComfyUI's mode when the node is muted (2) or bypassed (4); kept on the Sluice node. */
  mode?: 2 | 4;
  /**
   * Inputs whose link first reaches a Reroute, muted or bypassed node: the workflow keeps that
   * link (so un-bypassing restores the flow), while `links` (what the mapping reasons about)
   * holds where the value really comes from.
   */
  direct?: Record<string, Src>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function pair(v: unknown): Pair | undefined {
  if (Array.isArray(v) && v.length >= 2 && typeof v[0] === "number" && typeof v[1] === "number") return [v[0], v[1]];
  if (isObject(v) && typeof v["0"] === "number" && typeof v["1"] === "number") return [v["0"], v["1"]];
  return undefined;
}

/** Positional widgets_values → values by name, per the class's widget order. */
function namedWidgets(type: string, values: unknown): { widgets: Record<string, unknown>; controls: Record<string, string> } {
  const widgets: Record<string, unknown> = {};
  const controls: Record<string, string> = {};
  if (isObject(values)) return { widgets: { ...values }, controls };
  const cls = CLASSES[type];
  if (!Array.isArray(values) || !cls) return { widgets, controls };
  let k = 0;
  for (let w = 0; w < cls.widgets.length && k < values.length; w++) {
    const name = cls.widgets[w];
    if (name === CONTROL) {
      // The UI-only value after a seed; absent in some files, so only taken when it is one.
      if (typeof values[k] === "string" && SEED_CONTROLS.includes(values[k] as string)) controls[cls.widgets[w - 1]] = values[k++] as string;
      continue;
    }
    widgets[name] = values[k++];
  }
  return { widgets, controls };
}

// ---------------------------------------------------------------------------------------------
// UI format
// ---------------------------------------------------------------------------------------------

interface UiInput { name: string; type: string; link: string | null }
interface UiNode {
  id: string;
  type: string;
  mode: number;
  title?: string;
  pos?: Pair;
  size?: Pair;
  collapsed?: boolean;
  color?: string;
  inputs: UiInput[];
  outputs: { name: string; type: string }[];
  widgetsValues: unknown;
}
interface UiLink { id: string; src: string; srcSlot: number; dst: string; dstSlot: number; type: string }

function uiNode(raw: Json, id: string): UiNode {
  const inputs = Array.isArray(raw.inputs) ? raw.inputs : [];
  const outputs = Array.isArray(raw.outputs) ? raw.outputs : [];
  const flags = isObject(raw.flags) ? raw.flags : {};
  return {
    id,
    type: String(raw.type ?? ""),
    mode: typeof raw.mode === "number" ? raw.mode : 0,
    title: typeof raw.title === "string" ? raw.title : undefined,
    pos: pair(raw.pos),
    size: pair(raw.size),
    collapsed: flags.collapsed === true ? true : undefined,
    color: typeof raw.color === "string" ? raw.color : undefined,
    inputs: inputs.map((i: unknown) => {
      const inp = isObject(i) ? i : {};
      const widget = isObject(inp.widget) ? inp.widget : undefined;
      return { name: String(widget?.name ?? inp.name ?? ""), type: String(inp.type ?? "*"), link: inp.link === null || inp.link === undefined ? null : String(inp.link) };
    }),
    outputs: outputs.map((o: unknown) => ({ name: String(isObject(o) ? o.name ?? "" : ""), type: String(isObject(o) ? o.type ?? "*" : "*") })),
    widgetsValues: raw.widgets_values,
  };
}

function uiLink(raw: unknown): UiLink | undefined {
  if (Array.isArray(raw) && raw.length >= 5) {
    const [id, src, srcSlot, dst, dstSlot, type] = raw;
    return { id: String(id), src: String(src), srcSlot: Number(srcSlot), dst: String(dst), dstSlot: Number(dstSlot), type: String(type ?? "*") };
  }
  if (isObject(raw) && raw.id !== undefined) {
    return { id: String(raw.id), src: String(raw.origin_id), srcSlot: Number(raw.origin_slot), dst: String(raw.target_id), dstSlot: Number(raw.target_slot), type: String(raw.type ?? "*") };
  }
  return undefined;
}

const GROUP_NODE_PREFIX = /^workflow[/>]/;

/** Replaces one group node instance by its inner nodes (ids "<instance>:<index>"), rewiring links. */
function expandGroupNode(instance: UiNode, def: Json, links: Map<string, UiLink>, warnings: string[]): UiNode[] {
  const g = instance.id;
  const rawNodes = (def.nodes as unknown[]).filter(isObject);
  const indexOf = (r: Json, k: number) => (typeof r.index === "number" ? r.index : k);
  const inner = rawNodes.map((r, k) => uiNode(r, `${g}:${indexOf(r, k)}`));
  const byIndex = new Map<number, UiNode>(rawNodes.map((r, k) => [indexOf(r, k), inner[k]]));
  const indexOfNode = new Map<UiNode, number>(rawNodes.map((r, k) => [inner[k], indexOf(r, k)]));
  for (const n of inner) {
    for (const inp of n.inputs) inp.link = null; // they named the definition's own links
    if (instance.mode !== 0) n.mode = instance.mode;
  }

  // Positions: the inner layout, moved to where the instance stands.
  const placed = inner.filter((n) => n.pos);
  if (instance.pos && placed.length) {
    const minX = Math.min(...placed.map((n) => n.pos![0])), minY = Math.min(...placed.map((n) => n.pos![1]));
    for (const n of placed) n.pos = [instance.pos[0] + n.pos![0] - minX, instance.pos[1] + n.pos![1] - minY];
  }

  // Widget values: the instance holds the inner nodes' values one after another.
  if (Array.isArray(instance.widgetsValues)) {
    const counts = inner.map((n) => (Array.isArray(n.widgetsValues) ? n.widgetsValues.length : 0));
    if (counts.reduce((a, b) => a + b, 0) === instance.widgetsValues.length) {
      let k = 0;
      inner.forEach((n, i) => { n.widgetsValues = (instance.widgetsValues as unknown[]).slice(k, k + counts[i]); k += counts[i]; });
    }
  }

  // Links inside the group.
  const linkedOutputs = new Set<string>();
  const linkedInputs = new Set<string>();
  (Array.isArray(def.links) ? def.links : []).forEach((l: unknown, k: number) => {
    if (!Array.isArray(l)) return;
    const [si, ss, di, ds, , type] = l as [number, number, number, number, unknown, string];
    const src = byIndex.get(si), dst = byIndex.get(di);
    if (!src || !dst || !dst.inputs[ds]) { warnings.push(`node ${g} (${instance.type}): an inner link of the group (${si}:${ss} → ${di}:${ds}) names a node or input the group does not have; dropped`); return; }
    const id = `${g}:link${k}`;
    links.set(id, { id, src: src.id, srcSlot: ss, dst: dst.id, dstSlot: ds, type: String(type ?? "*") });
    dst.inputs[ds].link = id;
    linkedOutputs.add(`${si}:${ss}`);
    linkedInputs.add(`${di}:${ds}`);
  });

  // The instance's inputs are the inner inputs not fed inside the group, in node then slot order.
  const extInputs: { node: UiNode; slot: number; name: string }[] = [];
  for (const n of inner) n.inputs.forEach((inp, s) => { if (!linkedInputs.has(`${indexOfNode.get(n)}:${s}`)) extInputs.push({ node: n, slot: s, name: inp.name }); });
  const taken = new Set<number>();
  instance.inputs.forEach((inp, j) => {
    if (inp.link === null) return;
    const matches = (e: (typeof extInputs)[number]) => e.name === inp.name || `${e.node.title ?? e.node.type} ${e.name}` === inp.name;
    let k = extInputs[j] && !taken.has(j) && matches(extInputs[j]) ? j : extInputs.findIndex((e, i) => !taken.has(i) && matches(e));
    if (k < 0 && extInputs[j] && !taken.has(j)) k = j;
    const link = links.get(inp.link);
    if (k < 0 || !link) { warnings.push(`node ${g} (${instance.type}): input "${inp.name}" matches no input inside the group; its link is dropped`); return; }
    taken.add(k);
    const target = extInputs[k];
    link.dst = target.node.id;
    link.dstSlot = target.slot;
    target.node.inputs[target.slot].link = link.id;
  });

  // The instance's outputs are the inner outputs not used inside the group, plus those marked external.
  const external = new Set((Array.isArray(def.external) ? def.external : []).filter(Array.isArray).map((e: unknown[]) => `${e[0]}:${e[1]}`));
  const extOutputs: { node: UiNode; slot: number }[] = [];
  for (const n of inner) n.outputs.forEach((_, s) => {
    const key = `${indexOfNode.get(n)}:${s}`;
    if (!linkedOutputs.has(key) || external.has(key)) extOutputs.push({ node: n, slot: s });
  });
  for (const [id, link] of links) {
    if (link.src !== g) continue;
    const target = extOutputs[link.srcSlot];
    if (!target) { warnings.push(`node ${g} (${instance.type}): output ${link.srcSlot} matches no output inside the group; its link is dropped`); links.delete(id); continue; }
    link.src = target.node.id;
    link.srcSlot = target.slot;
  }

  warnings.push(`node ${g} (${instance.type}): group node expanded into nodes ${inner.map((n) => n.id).join(", ")}`);
  return inner;
}

type Resolved = { src: Src } | { literal: unknown } | { dropped: string };

/** Follows a link through reroutes and bypassed nodes to the node that makes the value. */
function resolveUiLink(linkId: string, byId: Map<string, UiNode>, links: Map<string, UiLink>): Resolved {
  let link = links.get(linkId);
  for (let hops = 0; hops < 10000; hops++) {
    if (!link) return { dropped: `its link ${linkId} is missing from the workflow's links` };
    const src = byId.get(link.src);
    if (!src) return { dropped: `it came from node ${link.src}, which is not in the workflow` };
    if (src.type === "Reroute" || src.mode === 4) {
      let next: string | null = null;
      const type = src.outputs[link.srcSlot]?.type ?? link.type;
      if (src.type === "Reroute") next = src.inputs[0]?.link ?? null;
      else {
        const passes = (i: UiInput | undefined) => !!i && i.link !== null && (i.type === type || i.type === "*" || type === "*");
        next = (passes(src.inputs[link.srcSlot]) ? src.inputs[link.srcSlot] : src.inputs.find(passes))?.link ?? null;
      }
      if (next === null) {
        return { dropped: src.type === "Reroute" ? `it came through reroute ${src.id}, which has no input` : `it came from node ${src.id} (${src.type}), which is bypassed and has no connected ${type} input to pass through` };
      }
      link = links.get(next);
      continue;
    }
    if (src.mode === 2) return { dropped: `it came from node ${src.id} (${src.type}), which is muted` };
    if (src.type === "PrimitiveNode") return { literal: Array.isArray(src.widgetsValues) ? src.widgetsValues[0] : undefined };
    return { src: { node: src.id, slot: link.srcSlot } };
  }
  return { dropped: "its links form a loop" };
}

function readUi(raw: Json, warnings: string[]): { nodes: CNode[]; groups: Group[] } {
  const links = new Map<string, UiLink>();
  for (const l of raw.links as unknown[]) {
    const link = uiLink(l);
    if (link) links.set(link.id, link);
  }
  let nodes = (raw.nodes as unknown[]).filter(isObject).map((n) => uiNode(n, String(n.id)));

  const extra = isObject(raw.extra) ? raw.extra : {};
  const defs = isObject(extra.groupNodes) ? extra.groupNodes : {};
  for (let depth = 0; depth < 16 && nodes.some((n) => GROUP_NODE_PREFIX.test(n.type) && isObject(defs[n.type.replace(GROUP_NODE_PREFIX, "")])); depth++) {
    nodes = nodes.flatMap((n) => {
      const def = GROUP_NODE_PREFIX.test(n.type) ? defs[n.type.replace(GROUP_NODE_PREFIX, "")] : undefined;
      return isObject(def) && Array.isArray(def.nodes) ? expandGroupNode(n, def, links, warnings) : [n];
    });
  }

  const byId = new Map(nodes.map((n) => [n.id, n]));
  const out: CNode[] = [];
  const special = (n: UiNode | undefined) => !!n && (n.type === "Reroute" || n.mode === 2 || n.mode === 4);
  for (const n of nodes) {
    const label = `node ${n.id} (${n.type})`;
    if (!n.type) { warnings.push(`node ${n.id} has no type: dropped`); continue; }
    if (n.type === "PrimitiveNode") { warnings.push(`${label}: its value is written into the inputs it fed; the node itself is not kept`); continue; }
    if (n.mode === 2) warnings.push(`${label} is muted in ComfyUI (mode 2): kept muted (it and what needs it do not run)`);
    if (n.mode === 4) warnings.push(`${label} is bypassed in ComfyUI (mode 4): kept bypassed (its inputs pass through to its consumers)`);
    const { widgets, controls } = n.type === "Reroute" ? { widgets: {}, controls: {} } : namedWidgets(n.type, n.widgetsValues);
    const node: CNode = { id: n.id, type: n.type, title: n.title, pos: n.pos, size: n.size, collapsed: n.collapsed, color: n.color, widgets, links: {}, controls };
    if (n.mode === 2 || n.mode === 4) node.mode = n.mode;
    for (const inp of n.inputs) {
      if (inp.link === null) continue;
      const name = n.type === "Reroute" ? "input" : inp.name;
      const r = resolveUiLink(inp.link, byId, links);
      const first = links.get(inp.link);
      if ("literal" in r) { if (r.literal !== undefined) node.widgets[name] = r.literal; continue; }
      if (first && special(byId.get(first.src))) (node.direct ??= {})[name] = { node: first.src, slot: first.srcSlot };
      if ("src" in r) node.links[name] = r.src;
      else if (!node.direct?.[name]) warnings.push(`${label}: input "${name}" is left unconnected: ${r.dropped}`);
    }
    // A reroute that carried a primitive's value has handed it to the inputs it fed.
    if (n.type === "Reroute" && "input" in node.widgets) continue;
    out.push(node);
  }

  const groups: Group[] = [];
  for (const g of Array.isArray(raw.groups) ? raw.groups : []) {
    if (!isObject(g)) continue;
    const b = Array.isArray(g.bounding) ? g.bounding : undefined;
    if (!b || b.length < 4 || !b.slice(0, 4).every((x) => typeof x === "number")) { warnings.push(`group "${String(g.title ?? "")}" has no usable bounding box; dropped`); continue; }
    groups.push({
      ...(g.id !== undefined ? { id: String(g.id) } : {}),
      title: typeof g.title === "string" ? g.title : "Group",
      bounds: [b[0], b[1], b[2], b[3]] as [number, number, number, number],
      ...(typeof g.color === "string" ? { color: g.color } : {}),
    });
  }
  return { nodes: out, groups };
}

// ---------------------------------------------------------------------------------------------
// API format
// ---------------------------------------------------------------------------------------------

function apiEntries(raw: unknown): [string, Json][] | undefined {
  if (!isObject(raw)) return undefined;
  if (isObject(raw.prompt) && !("class_type" in raw.prompt)) {
    const inner = apiEntries(raw.prompt); // the body of ComfyUI's POST /prompt
    if (inner) return inner;
  }
  const entries = Object.entries(raw).filter((e): e is [string, Json] => isObject(e[1]) && typeof e[1].class_type === "string" && e[1].class_type !== "");
  return entries.length ? entries : undefined;
}

function readApi(raw: Json, entries: [string, Json][], warnings: string[]): CNode[] {
  for (const key of Object.keys(raw)) if (!entries.some(([id]) => id === key)) warnings.push(`entry "${key}" of the prompt has no class_type; ignored`);
  const ids = new Set(entries.map(([id]) => id));
  return entries.map(([id, entry]) => {
    const type = String(entry.class_type);
    const meta = isObject(entry._meta) ? entry._meta : {};
    const node: CNode = { id, type, widgets: {}, links: {}, controls: {} };
    if (typeof meta.title === "string" && meta.title !== type && meta.title !== CLASSES[type]?.title) node.title = meta.title;
    for (const [name, value] of Object.entries(isObject(entry.inputs) ? entry.inputs : {})) {
      if (Array.isArray(value) && value.length === 2 && (typeof value[0] === "string" || typeof value[0] === "number") && Number.isInteger(value[1])) {
        const src = String(value[0]);
        if (!ids.has(src)) { warnings.push(`node ${id} (${type}): input "${name}" is left unconnected: it came from node ${src}, which is not in the prompt`); continue; }
        node.links[name] = { node: src, slot: value[1] as number };
      } else node.widgets[name] = value;
    }
    return node;
  });
}

// ---------------------------------------------------------------------------------------------
// Mapping onto Sluice nodes
// ---------------------------------------------------------------------------------------------

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined);
const int = (v: unknown): number | undefined => { const n = num(v); return n === undefined ? undefined : Math.round(n); };
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined);
const clamp = (v: number | undefined, lo: number, hi: number) => (v === undefined ? undefined : Math.min(hi, Math.max(lo, v)));

function mapNodes(nodes: CNode[], ctx: ImportContext, warnings: string[]): WorkflowNode[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const label = (n: CNode) => `node ${n.id} (${n.type})`;
  const warn = (n: CNode, message: string) => warnings.push(`${label(n)}: ${message}`);
  const consumers = (id: string) => nodes.filter((c) => Object.values(c.links).some((l) => l.node === id));

  // Nodes Sluice folds into their consumers, and the ones that become placeholders.
  const folded = new Map<string, string>();
  for (const n of nodes) {
    if (n.type === "CLIPVisionEncode") {
      const users = nodes.filter((c) => c.type === "unCLIPConditioning" && c.links.clip_vision_output?.node === n.id);
      if (users.length) folded.set(n.id, `folded into ImageVariation node(s) ${users.map((u) => u.id).join(", ")}, which encode the image themselves`);
    }
    if (n.type === "ModelSamplingStableCascade") {
      const users = nodes.filter((c) => SAMPLERS.has(c.type) && c.links.model?.node === n.id);
      if (users.length) folded.set(n.id, `folded into sampler node(s) ${users.map((u) => u.id).join(", ")} as their shift (${String(n.widgets.shift)})`);
    }
  }
  const MAPPED = new Set([...CHECKPOINTS, ...SAMPLERS, ...Object.keys(OUTPUT_NAMES), "SaveImage", "PreviewImage", "Note", "MarkdownNote", "Reroute"]);
  const placeholderReason = (n: CNode): string | undefined => {
    if (folded.has(n.id) || MAPPED.has(n.type)) return undefined;
    if (GROUP_NODE_PREFIX.test(n.type)) return `the definition of group node "${n.type.replace(GROUP_NODE_PREFIX, "")}" is missing from extra.groupNodes`;
    return UNMAPPED_REASONS[n.type] ?? UNKNOWN_REASON;
  };

  // The stage a latent belongs to, following samplers back to where the latent was made.
  const latentStage = (src: Src | undefined, seen = new Set<string>()): "c" | "b" | undefined => {
    const n = src && byId.get(src.node);
    if (!n || seen.has(n.id)) return undefined;
    seen.add(n.id);
    if (n.type === "StableCascade_EmptyLatentImage" || n.type === "StableCascade_StageC_VAEEncode") return src.slot === 0 ? "c" : src.slot === 1 ? "b" : undefined;
    if (SAMPLERS.has(n.type)) return latentStage(n.links.latent_image, seen);
    return undefined;
  };
  /** The model behind a sampler, past ModelSamplingStableCascade nodes (whose shift it takes). */
  const modelOf = (sampler: CNode): { src?: Src; shift?: number } => {
    let src = sampler.links.model;
    let shift: number | undefined;
    for (let hops = 0; src && hops < 100; hops++) {
      const n = byId.get(src.node);
      if (n?.type !== "ModelSamplingStableCascade") break;
      shift ??= num(n.widgets.shift);
      src = n.links.model;
    }
    return { src, shift };
  };
  const nameRole = (ckpt: CNode): "c" | "b" | undefined => {
    const name = String(ckpt.widgets.ckpt_name ?? "");
    if (/stage[\s_-]?b|decoder/i.test(name)) return "b";
    if (/stage[\s_-]?c|prior/i.test(name)) return "c";
    return undefined;
  };
  const samplerStage = (sampler: CNode): "c" | "b" => {
    const fromLatent = latentStage(sampler.links.latent_image);
    if (fromLatent) return fromLatent;
    if (byId.get(sampler.links.positive?.node ?? "")?.type === "StableCascade_StageB_Conditioning") return "b";
    const model = modelOf(sampler).src;
    const ckpt = model && byId.get(model.node);
    return (ckpt && nameRole(ckpt)) ?? "c";
  };
  /** Stage C or Stage B checkpoint: from what its model samples, its VAE's use, or its name. */
  const checkpointRole = (ckpt: CNode): "c" | "b" | undefined => {
    for (const c of nodes) {
      if (SAMPLERS.has(c.type) && modelOf(c).src?.node === ckpt.id) {
        const stage = latentStage(c.links.latent_image);
        if (stage) return stage;
      }
    }
    for (const c of consumers(ckpt.id)) {
      const viaVae = Object.values(c.links).some((l) => l.node === ckpt.id && l.slot === 2);
      if (viaVae && c.type === "VAEDecode") return "b";
      if (viaVae && c.type === "StableCascade_StageC_VAEEncode") return "c";
    }
    return nameRole(ckpt);
  };
  const checkpointOutput = (ckpt: CNode, slot: number, consumer: CNode): string | undefined => {
    switch (slot) {
      case 0: return (SAMPLERS.has(consumer.type) ? samplerStage(consumer) : checkpointRole(ckpt) ?? "c") === "c" ? "stage_c" : "stage_b";
      case 1: return "text_encoder";
      case 2:
        if (consumer.type === "VAEDecode") return "stage_a";
        if (consumer.type === "StableCascade_StageC_VAEEncode") return "effnet";
        return checkpointRole(ckpt) === "b" ? "stage_a" : "effnet";
      case 3: return ckpt.type === "unCLIPCheckpointLoader" ? "clip_vision" : undefined;
      default: return undefined;
    }
  };

  // Links into one node: each one taken is marked, so that the rest can be named in warnings.
  const used = new Map<string, Set<string>>();
  const linkFrom = (consumer: CNode, input: string, src?: Src, owner: CNode = consumer): Link | undefined => {
    (used.get(owner.id) ?? used.set(owner.id, new Set()).get(owner.id)!).add(input);
    const direct = consumer.direct?.[input];
    // Keep the link to a Reroute, muted or bypassed node where that node maps onto Sluice; else
    // link to where the value comes from.
    const via = direct && byId.get(direct.node);
    if (via && via.type === "Reroute") return { node: via.id, output: "output" };
    if (via && placeholderReason(via) === undefined && !folded.has(via.id)) src = direct;
    if (!src) return undefined;
    const source = byId.get(src.node);
    const drop = (why: string) => { warn(consumer, `input "${input}" is left unconnected: ${why}`); return undefined; };
    if (!source) return drop(`it came from node ${src.node}, which is not in the workflow`);
    if (placeholderReason(source) !== undefined) return drop(`it came from ${label(source)}, which could not be mapped`);
    if (folded.has(source.id)) return drop(`it came from ${label(source)}, which Sluice folds into the nodes it feeds and cannot link from here`);
    const name = CHECKPOINTS.has(source.type) ? checkpointOutput(source, src.slot, consumer) : OUTPUT_NAMES[source.type]?.[src.slot];
    if (!name) return drop(`it came from output ${src.slot} of ${label(source)}, which has no counterpart in Sluice`);
    return { node: source.id, output: name };
  };
  const literal = (n: CNode, name: string) => {
    (used.get(n.id) ?? used.set(n.id, new Set()).get(n.id)!).add(name);
    return n.widgets[name];
  };

  const seedOf = (n: CNode, name: string): string | number => {
    const v = literal(n, name);
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
    if (typeof v === "string" && /^\d+$/.test(v)) {
      const b = BigInt(v);
      if (b > MAX_SEED) { warn(n, `seed ${v} is beyond 2^64−1; using 2^64−1`); return MAX_SEED.toString(); }
      return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
    }
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) {
      const b = BigInt(Math.round(v));
      warn(n, `seed ${v} lost digits before it reached the importer (send the file as it is); using ${b <= MAX_SEED ? b : MAX_SEED}`);
      return (b <= MAX_SEED ? b : MAX_SEED).toString();
    }
    warn(n, `seed ${JSON.stringify(v)} is not a whole number from 0 to 2^64−1; using 0`);
    return 0;
  };
  const seedControl = (n: CNode, name: string): SeedControl => {
    const c = n.controls[name];
    if (c === undefined || c === "fixed") return "fixed";
    if (c === "increment" || c === "randomize") return c;
    warn(n, `seed control "${c}" is not in Sluice (fixed, increment, randomize); using "fixed"`);
    return "fixed";
  };

  const packFor = (n: CNode): string => {
    const ckpt = str(literal(n, "ckpt_name")) ?? "";
    const lower = ckpt.toLowerCase();
    const hit = ctx.packs.filter((p) => p && lower.includes(p.toLowerCase())).sort((a, b) => b.length - a.length)[0];
    if (hit) return hit;
    warn(n, `checkpoint '${ckpt}' is not among the packs (${ctx.packs.join(", ") || "none"}); using '${ctx.defaultPack}'`);
    return ctx.defaultPack;
  };

  const put = (inputs: Record<string, InputValue>, name: string, value: InputValue | undefined) => { if (value !== undefined) inputs[name] = value; };

  const mapSampler = (n: CNode): { inputs: Record<string, InputValue>; seedControl: SeedControl } => {
    const advanced = n.type === "KSamplerAdvanced";
    const seedName = advanced ? "noise_seed" : "seed";
    const inputs: Record<string, InputValue> = {};
    const model = modelOf(n);
    put(inputs, "model", linkFrom(n, "model", model.src));
    put(inputs, "positive", linkFrom(n, "positive", n.links.positive));
    put(inputs, "negative", linkFrom(n, "negative", n.links.negative));
    put(inputs, "latent", linkFrom(n, "latent_image", n.links.latent_image));
    inputs.seed = seedOf(n, seedName);
    const steps = int(literal(n, "steps"));
    if (steps !== undefined && steps > 1000) warn(n, `steps ${steps} is more than Sluice's 1000; using 1000`);
    put(inputs, "steps", clamp(steps, 1, 1000));
    put(inputs, "cfg", num(literal(n, "cfg")));
    const sampler = str(literal(n, "sampler_name"));
    if (sampler !== undefined) {
      const mapped = mapSamplerName(sampler);
      if (mapped !== sampler) warn(n, `sampler '${sampler}' is not in Sluice; using '${mapped}', the closest`);
      inputs.sampler = mapped;
    }
    const scheduler = str(literal(n, "scheduler"));
    if (scheduler !== undefined && scheduler !== "simple" && scheduler !== "normal") warn(n, `scheduler '${scheduler}' is not used: Sluice samples with the Stable Cascade cosine schedule`);
    inputs.shift = model.shift ?? 0;
    if (advanced) {
      inputs.denoise = 1;
      const start = int(literal(n, "start_at_step")), end = int(literal(n, "end_at_step"));
      inputs.start_step = clamp(start, 0, 10000) ?? 0;
      inputs.end_step = clamp(end, 0, 10000) ?? 10000;
      const addNoise = literal(n, "add_noise"), leftover = literal(n, "return_with_leftover_noise");
      inputs.add_noise = !(addNoise === "disable" || addNoise === false);
      inputs.return_leftover_noise = leftover === "enable" || leftover === true;
    } else {
      put(inputs, "denoise", num(literal(n, "denoise")));
      Object.assign(inputs, { start_step: 0, end_step: 10000, add_noise: true, return_leftover_noise: false });
    }
    inputs.cfg_rescale = 0;
    return { inputs, seedControl: seedControl(n, seedName) };
  };

  /** The pack of the LoadCascadePack a link comes from, if it is one. */
  const packOf = (link: Link | undefined, packs: Map<string, string>) => (link ? packs.get(link.node) : undefined);

  const out: WorkflowNode[] = [];
  const loaderPacks = new Map<string, string>();
  for (const n of nodes) if (CHECKPOINTS.has(n.type)) loaderPacks.set(n.id, packFor(n));

  for (const n of nodes) {
    if (folded.has(n.id)) { warn(n, folded.get(n.id)!); continue; }
    const ui: NonNullable<WorkflowNode["ui"]> = {};
    if (n.pos) ui.pos = n.pos;
    if (n.size) ui.size = n.size;
    if (n.collapsed) ui.collapsed = true;
    if (n.title) ui.title = n.title;
    if (n.color) ui.color = n.color;
    const withUi = (node: WorkflowNode): WorkflowNode => (Object.keys(ui).length ? { ...node, ui } : node);

    const reason = placeholderReason(n);
    if (reason !== undefined) {
      const linked = Object.keys(n.links).length;
      warn(n, `kept as a placeholder: ${reason}${linked ? ` (its ${linked} input link(s) are not kept)` : ""}`);
      out.push(withUi({ id: n.id, type: n.type, inputs: {}, placeholder: { originalType: n.type, reason }, ...(n.mode ? { mode: n.mode } : {}) }));
      continue;
    }

    const inputs: Record<string, InputValue> = {};
    let type: string;
    switch (n.type) {
      case "CheckpointLoaderSimple":
      case "unCLIPCheckpointLoader":
        type = "LoadCascadePack";
        inputs.pack = loaderPacks.get(n.id)!;
        break;
      case "CLIPTextEncode":
        type = "TextEncode";
        put(inputs, "text_encoder", linkFrom(n, "clip", n.links.clip));
        put(inputs, "text", str(literal(n, "text")));
        break;
      case "StableCascade_EmptyLatentImage":
        type = "EmptyCascadeLatent";
        put(inputs, "width", int(literal(n, "width")));
        put(inputs, "height", int(literal(n, "height")));
        put(inputs, "compression", int(literal(n, "compression")));
        put(inputs, "batch", int(literal(n, "batch_size")));
        break;
      case "StableCascade_StageC_VAEEncode":
        type = "StageCEncode";
        put(inputs, "effnet", linkFrom(n, "vae", n.links.vae));
        put(inputs, "image", linkFrom(n, "image", n.links.image));
        put(inputs, "compression", int(literal(n, "compression")));
        break;
      case "StableCascade_StageB_Conditioning":
        type = "StageBConditioning";
        put(inputs, "conditioning", linkFrom(n, "conditioning", n.links.conditioning));
        put(inputs, "stage_c", linkFrom(n, "stage_c", n.links.stage_c));
        break;
      case "KSampler":
      case "KSamplerAdvanced": {
        type = "CascadeSampler";
        const mapped = mapSampler(n);
        Object.assign(inputs, mapped.inputs);
        ui.seedControl = { seed: mapped.seedControl };
        break;
      }
      case "VAEDecode":
        type = "StageADecode";
        put(inputs, "stage_a", linkFrom(n, "vae", n.links.vae));
        put(inputs, "latent", linkFrom(n, "samples", n.links.samples));
        break;
      case "SaveImage":
        type = "SaveImage";
        put(inputs, "image", linkFrom(n, "images", n.links.images));
        put(inputs, "prefix", str(literal(n, "filename_prefix")));
        break;
      case "PreviewImage":
        type = "PreviewImage";
        put(inputs, "image", linkFrom(n, "images", n.links.images));
        break;
      case "LoadImage": {
        type = "LoadImage";
        const image = str(literal(n, "image"));
        literal(n, "upload");
        put(inputs, "image", image);
        warn(n, `the image '${image ?? ""}' is not part of the workflow: upload it to Sluice (POST /api/upload) and pick it on this node`);
        break;
      }
      case "ImageScale": {
        type = "ImageScale";
        put(inputs, "image", linkFrom(n, "image", n.links.image));
        put(inputs, "width", int(literal(n, "width")));
        put(inputs, "height", int(literal(n, "height")));
        const method = str(literal(n, "upscale_method"));
        if (method !== undefined) {
          const mapped = SCALE_METHODS[method];
          if (!mapped) warn(n, `upscale method '${method}' is not in Sluice; using 'bilinear'`);
          inputs.method = mapped ?? "bilinear";
        }
        const crop = str(literal(n, "crop"));
        if (crop !== undefined && crop !== "disabled") warn(n, `crop '${crop}' is not supported: Sluice scales the whole image to the size`);
        break;
      }
      case "unCLIPConditioning": {
        type = "ImageVariation";
        put(inputs, "conditioning", linkFrom(n, "conditioning", n.links.conditioning));
        const cvSrc = n.links.clip_vision_output;
        const cv = cvSrc && byId.get(cvSrc.node);
        (used.get(n.id) ?? used.set(n.id, new Set()).get(n.id)!).add("clip_vision_output");
        if (cv?.type === "CLIPVisionEncode") {
          const clipVision = linkFrom(cv, "clip_vision", cv.links.clip_vision);
          put(inputs, "clip_vision", clipVision);
          put(inputs, "image", linkFrom(cv, "image", cv.links.image));
          const pack = packOf(clipVision, loaderPacks);
          const stages = pack !== undefined ? ctx.packStages?.[pack] : undefined;
          if (pack !== undefined && stages && !stages.includes("clipVision") && !stages.includes("clip_vision")) {
            warn(n, `pack '${pack}' has no CLIP vision model (vae_encoder), so this ImageVariation cannot run with it; choose a pack that has one`);
          }
        } else if (cvSrc) warn(n, `input "clip_vision_output" is left unconnected: it comes from ${cv ? label(cv) : `node ${cvSrc.node}`}, not from a CLIPVisionEncode`);
        const strength = num(literal(n, "strength"));
        put(inputs, "strength", clamp(strength, 0, 2));
        if (strength !== undefined && strength > 2) warn(n, `strength ${strength} is above Sluice's 2; using 2`);
        const noise = num(literal(n, "noise_augmentation"));
        if (noise) warn(n, `noise_augmentation ${noise} is not supported: Sluice conditions on the clean image embedding`);
        break;
      }
      case "Note":
      case "MarkdownNote":
        type = "Note";
        put(inputs, "text", str(literal(n, "text")) ?? "");
        break;
      case "Reroute":
        type = "Reroute";
        put(inputs, "input", linkFrom(n, "input", n.links.input));
        break;
      default:
        throw new Error(`unreachable: ${n.type}`);
    }
    for (const [name, src] of Object.entries(n.links)) {
      if (used.get(n.id)?.has(name) && !(name in n.widgets)) continue;
      if (name in n.widgets) warn(n, `the link into "${name}" (from node ${src.node}) is not kept; the value saved with the widget (${JSON.stringify(n.widgets[name])}) is used`);
      else warn(n, `the link into "${name}" (from node ${src.node}) is not kept: Sluice's ${type} has no such input`);
    }
    out.push(withUi({ id: n.id, type, inputs, ...(n.mode ? { mode: n.mode } : {}) }));
  }
  return out;
}

/** Places nodes without positions left to right by depth in the graph (x = 320·depth), stacked in y. */
function layOut(nodes: WorkflowNode[]): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = new Map<string, number>();
  const depthOf = (n: WorkflowNode, stack: Set<string>): number => {
    const known = depth.get(n.id);
    if (known !== undefined) return known;
    if (stack.has(n.id)) return 0;
    stack.add(n.id);
    let d = 0;
    for (const v of Object.values(n.inputs)) {
      const src = v && typeof v === "object" ? byId.get((v as Link).node) : undefined;
      if (src) d = Math.max(d, depthOf(src, stack) + 1);
    }
    stack.delete(n.id);
    depth.set(n.id, d);
    return d;
  };
  const rows = new Map<number, number>();
  for (const n of nodes) {
    if (n.ui?.pos) continue;
    const d = depthOf(n, new Set());
    const row = rows.get(d) ?? 0;
    rows.set(d, row + 1);
    n.ui = { ...(n.ui ?? {}), pos: [320 * d, 220 * row] };
  }
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

export function isComfyUiWorkflow(raw: unknown): raw is Json {
  return isObject(raw) && Array.isArray(raw.nodes) && (Array.isArray(raw.links) || "last_node_id" in raw);
}

export function isComfyUiPrompt(raw: unknown): boolean {
  return apiEntries(raw) !== undefined;
}

/** Maps a ComfyUI workflow (UI format) or prompt (API format) onto a Sluice workflow. */
export function importComfyUi(raw: unknown, ctx: ImportContext): ImportResult {
  const warnings: string[] = [];
  let nodes: CNode[];
  let groups: Group[] = [];
  let format: "ui" | "api";
  if (isComfyUiWorkflow(raw)) {
    if (!Array.isArray(raw.links)) raw = { ...raw, links: [] };
    ({ nodes, groups } = readUi(raw as Json, warnings));
    format = "ui";
  } else {
    const entries = apiEntries(raw);
    if (!entries) {
      throw new ImportError("not a ComfyUI workflow", [
        "a ComfyUI UI workflow has \"nodes\" and \"links\" arrays",
        "a ComfyUI API prompt is an object of nodes keyed by id, each with a \"class_type\"",
      ]);
    }
    nodes = readApi(isObject(raw) && isObject(raw.prompt) && apiEntries(raw.prompt) ? raw.prompt : (raw as Json), entries, warnings);
    format = "api";
  }
  if (!nodes.length) throw new ImportError("the ComfyUI workflow has no nodes Sluice could use", warnings.length ? warnings : ["its node list is empty"]);

  const mapped = mapNodes(nodes, ctx, warnings);
  if (format === "api") layOut(mapped);

  const candidate = {
    format: WORKFLOW_FORMAT,
    version: WORKFLOW_VERSION,
    ...(ctx.name ? { name: ctx.name } : {}),
    nodes: mapped,
    groups,
    components: {},
    params: [],
    extra: { importedFrom: { app: "ComfyUI", format } },
  };
  const parsed = Workflow.safeParse(candidate);
  if (!parsed.success) {
    throw new ImportError("the imported workflow is not valid", parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`));
  }
  return { workflow: parsed.data, warnings };
}
