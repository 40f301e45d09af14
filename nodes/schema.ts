// The vocabulary shared by server and client: socket types, widget specs, node definitions and
// the workflow file format. Everything that crosses a boundary has a zod schema here; the types
// used elsewhere are inferred from those schemas.
import { z } from "zod";
import { SOCKET_TYPES } from "./sockets.ts";
import { WORKFLOW_FORMAT } from "./format.ts";
import type { PackMemoryInfo } from "./memory.ts";

export { SOCKET_TYPES, LITERAL_TYPES, socketCompatibility } from "./sockets.ts";
export { WORKFLOW_FORMAT, WORKFLOW_VERSION, isLink } from "./format.ts";
export { MAX_SEED, parseSeed, type Seed } from "./seed.ts";

// ---------------------------------------------------------------------------------------------
// Socket types
// ---------------------------------------------------------------------------------------------

export const SocketType = z.enum(SOCKET_TYPES);
export type SocketType = z.infer<typeof SocketType>;

// ---------------------------------------------------------------------------------------------
// Widgets and inputs
// ---------------------------------------------------------------------------------------------

export const SEED_CONTROLS = ["fixed", "randomize", "increment"] as const;
export const SeedControl = z.enum(SEED_CONTROLS);
export type SeedControl = z.infer<typeof SeedControl>;

export const InputSpec = z.object({
  name: z.string(),
  type: SocketType,
  /** Further types this input takes besides `type`. */
  accepts: z.array(SocketType).optional(),
  label: z.string().optional(),
  description: z.string().optional(),
  /** Absent for link-only inputs (IMAGE, LATENT, ...). */
  default: z.unknown().optional(),
  optional: z.boolean().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  step: z.number().optional(),
  options: z.array(z.string()).optional(),
  multiline: z.boolean().optional(),
  /** An INT widget holding a 64-bit seed, with an "after run" control in the editor. */
  seed: z.boolean().optional(),
  /** A STRING holding a colour (#rrggbb). */
  color: z.boolean().optional(),
  /** A STRING naming an uploaded image (editor shows upload + thumbnail). */
  upload: z.boolean().optional(),
  /** A STRING holding a painted mask as a data URL or empty (editor shows a paint surface). */
  paint: z.boolean().optional(),
});
export type InputSpec = z.infer<typeof InputSpec>;

export const OutputSpec = z.object({ name: z.string(), type: SocketType, description: z.string().optional() });
export type OutputSpec = z.infer<typeof OutputSpec>;

/** The catalog entry sent to clients (GET /api/nodes): a node definition without its code. */
export const NodeSpec = z.object({
  type: z.string(),
  displayName: z.string(),
  category: z.string(),
  description: z.string(),
  inputs: z.array(InputSpec),
  outputs: z.array(OutputSpec),
  output: z.boolean().optional(),
});
export type NodeSpec = z.infer<typeof NodeSpec>;
export const NodeCatalog = z.array(NodeSpec);
export type NodeCatalog = z.infer<typeof NodeCatalog>;

// ---------------------------------------------------------------------------------------------
// Values flowing between nodes
// ---------------------------------------------------------------------------------------------

/** A dense float32 tensor. Images are [B, 3, H, W] in [0, 1]; masks [B, 1, H, W] in [0, 1]. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
  /** The seed each batch item was made with, where a branch gave them (kept through decoding). */
  seeds?: string[];
}

export type LatentStage = "c" | "b";

/** A latent of one cascade stage; `noisy` marks a result returned with leftover noise. */
export interface Latent {
  samples: Tensor;
  stage: LatentStage;
  /** t in [0,1] at which the samples still carry noise (0 = clean). */
  noisyAt?: number;
  /** Seeds of a branched batch, one per batch item, so picking a result keeps its seed. */
  seeds?: string[];
  /** The shift a renoised latent was noised at (the sampler continues at it). */
  renoiseShift?: number;
  /** Latent → RGB factors of the pack that made it, for previews at gates. */
  preview?: { factors: number[][]; bias?: number[] };
  /** Where a sampler may change the latent ([B or 1, 1, H, W], 1 = repaint, any size): masked sampling. */
  noiseMask?: Tensor;
}

/** A ControlNet applied to a conditioning (the sampler runs it at the latent's size). */
export interface ControlApplication {
  /** The loaded ControlNet (a handle of the node family that made it). */
  net: unknown;
  /** The control image as the ControlNet takes it ([B or 1, channels, H, W]). */
  image: Tensor;
  strength: number;
  /** The part of the schedule it acts on: fractions of the way from pure noise (0) to clean (1). */
  start: number;
  end: number;
}

export interface Conditioning {
  clipText: Tensor;
  pooled: Tensor;
  clipImg: Tensor;
  /** Stage B's conditioning carries the Stage C latent it decodes. */
  stageC?: Tensor;
  text?: string;
  /** How many image prompts clipImg holds (its tokens); 0 or absent: clipImg is the zero placeholder. */
  images?: number;
  /** ControlNets applied to Stage C under this conditioning. */
  control?: ControlApplication[];
}

/**
 * A live preview of one step. The host throttles previews, so most frames are never shown: `rgb`
 * renders the picture (raw RGB bytes, HWC, in a fresh array the host may keep or transfer) only
 * when asked, and only during the call to preview().
 */
export interface PreviewFrame {
  width: number;
  height: number;
  step?: number;
  total?: number;
  /** The picture; call it during the preview callback (a sampler's later steps reuse the frame's data). */
  rgb(): Uint8Array<ArrayBuffer>;
}

/** What a node's execute function receives besides its inputs. */
export interface ExecContext {
  promptId: string;
  nodeId: string;
  signal: AbortSignal;
  /** Per-step progress of a long node. */
  progress(step: number, total: number): void;
  /** A live preview, sent throttled to clients by the host. */
  preview(frame: PreviewFrame): void;
  /** Host services (runtime, folders); typed by the node families that use them. */
  services: NodeServices;
  /** The workflow being run, to embed in saved images. */
  workflow: Workflow;
  /** Set by the host when someone asks a running sampler to finish now. */
  finishRequested(): boolean;
}

/** Services a host provides to nodes. Families narrow `runtime` to what they need. */
export interface NodeServices {
  outputsDir: string;
  uploadsDir: string;
  tempDir: string;
  /** The cascade runtime (server/runtime) when the host has one. */
  runtime?: unknown;
  /** Where samplers draw their per-step noise (a diffusion NoiseSource; default: on their own thread). */
  noise?: unknown;
  /** Dynamic options for COMBO inputs named by key (packs, uploads). */
  listOptions?(key: string): string[];
  /** Pauses the prompt at a gate until someone answers (absent where nobody can answer, e.g. the CLI). */
  waitAtGate?(nodeId: string, preview: GatePreview): Promise<GateAnswer>;
  /**
   * Keeps a gate's value as a checkpoint and ends the run there (the gate then throws GatePaused):
   * the prompt waits holding no executor memory, and an answer starts the rest from the checkpoint.
   */
  pauseAtGate?(nodeId: string, checkpoint: GateCheckpoint): Promise<void>;
  /** The value and answer of a gate answered earlier in this prompt (the run resumes there). */
  resumedGate?(nodeId: string): Promise<{ value: unknown; answer: GateAnswer } | undefined>;
}

/** What a gate leaves behind when its prompt pauses there. */
export interface GateCheckpoint {
  value: unknown;
  preview: GatePreview;
  /** Seconds to wait for an answer (0: no limit), and what happens then. */
  timeoutSeconds: number;
  onTimeout: "continue" | "cancel";
}

export interface GatePreview {
  kind: "latent" | "image";
  width: number;
  height: number;
  rgb: Uint8Array;
}

export type NodeInputs = Record<string, unknown>;
export type NodeOutputs = Record<string, unknown>;

/** A node definition: data plus the function that computes it. */
export interface NodeDef {
  type: string;
  displayName: string;
  category: string;
  description: string;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  output?: boolean;
  /** Options of COMBO inputs computed when the catalog is built (e.g. the packs found). */
  dynamicOptions?: Record<string, (services: NodeServices) => string[]>;
  /** Never cache (e.g. nodes whose result depends on something outside the graph). */
  volatile?: boolean;
  /** Outside state the result depends on (a file's size and mtime), folded into the cache key. */
  fingerprint?(inputs: NodeInputs, services: NodeServices): string;
  /**
   * Peak memory of one run of this node, from its literal inputs and the static shapes of what
   * its links carry, without running anything; also the shapes of its outputs, so estimates
   * propagate through the graph. Absent: the node is taken to need no memory worth counting and
   * its outputs' shapes are unknown.
   */
  estimateMemory?(args: MemoryArgs): MemoryEstimate;
  execute(inputs: NodeInputs, ctx: ExecContext): Promise<NodeOutputs> | NodeOutputs;
}

// ---------------------------------------------------------------------------------------------
// Memory estimates (before running)
// ---------------------------------------------------------------------------------------------

/** The node and inputs a shape came from, so a refusal can say what to lower. */
export interface ShapeOrigin { node: string; inputs: string[] }

/** What a link carries, as far as it is known before running. */
export type StaticValue =
  | { kind: "latent"; stage: LatentStage; shape: number[]; origin: ShapeOrigin }
  | { kind: "image"; shape: number[]; origin: ShapeOrigin }
  | { kind: "conditioning"; chunks: number; stageC?: number[] }
  | { kind: "model"; pack: string; stage: string };

export interface MemoryArgs {
  nodeId: string;
  /** Literal inputs, defaults filled in. */
  inputs: NodeInputs;
  /** Linked inputs: what the source is known to produce, undefined where unknown. */
  linked: Record<string, StaticValue | undefined>;
  /** Memory facts of a pack by name (undefined: no such pack). */
  pack(name: string): PackMemoryInfo | undefined;
}

export interface MemoryEstimate {
  /** Shapes of this node's outputs where known. */
  outputs?: Record<string, StaticValue | undefined>;
  /** Working memory of one run, beyond the model weights; absent where an input's shape is unknown. */
  bytes?: number;
  /** A model this node loads and keeps loaded ({pack, stage} as in PackMemoryInfo.modelBytes). */
  model?: { pack: string; stage: string };
  /** What runs, e.g. "Stage B at a 256×256 latent"; or why nothing could be estimated. */
  what?: string;
  /** The node and inputs that set the size that drives this estimate. */
  drivenBy?: ShapeOrigin;
}

// ---------------------------------------------------------------------------------------------
// The workflow file
// ---------------------------------------------------------------------------------------------

export const Link = z.object({ node: z.string().min(1), output: z.string().min(1) }).strict();
export type Link = z.infer<typeof Link>;

export const Literal = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Literal = z.infer<typeof Literal>;
export const InputValue = z.union([Link, Literal]);
export type InputValue = z.infer<typeof InputValue>;

export const NodeUi = z.object({
  pos: z.tuple([z.number(), z.number()]).optional(),
  size: z.tuple([z.number(), z.number()]).optional(),
  collapsed: z.boolean().optional(),
  title: z.string().optional(),
  color: z.string().optional(),
  /** Seed "after run" controls per input name. */
  seedControl: z.record(z.string(), SeedControl).optional(),
}).passthrough();

export const WorkflowNode = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  inputs: z.record(z.string(), InputValue).default({}),
  ui: NodeUi.optional(),
  /**
   * ComfyUI's node modes: 0 runs (the default, omitted), 2 never runs (muted: it and what needs
   * it are skipped), 4 bypassed (each output passes on the first input of the same type).
   */
  mode: z.union([z.literal(0), z.literal(2), z.literal(4)]).optional(),
  /** A node whose type no longer exists keeps what it was here (placeholder). */
  placeholder: z.object({ originalType: z.string(), reason: z.string() }).optional(),
});
export type WorkflowNode = z.infer<typeof WorkflowNode>;

export const Group = z.object({
  id: z.string().optional(),
  title: z.string(),
  bounds: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  color: z.string().optional(),
});
export type Group = z.infer<typeof Group>;

export const Param = z.object({
  name: z.string().min(1),
  node: z.string().min(1),
  input: z.string().min(1),
  description: z.string().optional(),
});
export type Param = z.infer<typeof Param>;

/** A component (subgraph): its nodes plus the inputs and outputs that cross its border. */
export const ComponentDef = z.object({
  name: z.string(),
  description: z.string().optional(),
  nodes: z.array(WorkflowNode),
  inputs: z.array(z.object({ name: z.string(), type: SocketType, targets: z.array(z.object({ node: z.string(), input: z.string() })) })),
  outputs: z.array(z.object({ name: z.string(), type: SocketType, source: Link })),
});
export type ComponentDef = z.infer<typeof ComponentDef>;

export const Workflow = z.object({
  format: z.literal(WORKFLOW_FORMAT),
  version: z.string().regex(/^\d+\.\d+\.\d+$/, "version must be semver, e.g. 1.0.0"),
  name: z.string().optional(),
  description: z.string().optional(),
  nodes: z.array(WorkflowNode),
  groups: z.array(Group).default([]),
  components: z.record(z.string(), ComponentDef).default({}),
  params: z.array(Param).default([]),
  extra: z.record(z.string(), z.unknown()).optional(),
});
export type Workflow = z.infer<typeof Workflow>;

// ---------------------------------------------------------------------------------------------
// HTTP bodies and answers shared with the client
// ---------------------------------------------------------------------------------------------

export const NodeError = z.object({ input: z.string().optional(), message: z.string() });
export type NodeError = z.infer<typeof NodeError>;
export const NodeErrors = z.record(z.string(), z.array(NodeError));
export type NodeErrors = z.infer<typeof NodeErrors>;

export const PromptRequest = z.object({
  workflow: z.unknown().optional(),
  workflowId: z.string().optional(),
  outputs: z.array(z.string()).optional(),
  params: z.record(z.string(), Literal).optional(),
  clientId: z.string().optional(),
  /** Run before the prompts already waiting in the queue. */
  front: z.boolean().optional(),
});
export type PromptRequest = z.infer<typeof PromptRequest>;

export const PROMPT_STATUSES = ["pending", "running", "waiting", "done", "failed", "cancelled"] as const;
export const PromptStatus = z.enum(PROMPT_STATUSES);
export type PromptStatus = z.infer<typeof PromptStatus>;

export const OutputImage = z.object({ file: z.string(), width: z.number().optional(), height: z.number().optional(), seed: z.string().optional() });
export type OutputImage = z.infer<typeof OutputImage>;
export const NodeResult = z.object({ images: z.array(OutputImage).optional() }).passthrough();
export type NodeResult = z.infer<typeof NodeResult>;

export const ExecutionError = z.object({
  node: z.string().optional(),
  type: z.string().optional(),
  message: z.string(),
  inputs: z.record(z.string(), z.unknown()).optional(),
});
export type ExecutionError = z.infer<typeof ExecutionError>;

export const GateAnswer = z.object({
  action: z.enum(["continue", "reroll", "cancel"]),
  /** An edited value: a latent as {shape, data (base64 float32)} or an image as a PNG data URL. */
  value: z.unknown().optional(),
});
export type GateAnswer = z.infer<typeof GateAnswer>;
