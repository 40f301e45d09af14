// What the server and BullMQ workers say to each other through Redis: the job that runs a
// compiled plan, the durable reports a worker sends back (a queue of their own, so a server that
// restarts reads what it missed), the live events (pub/sub: progress and previews are worth
// nothing later), and the control channel that reaches the worker running a prompt.
import { z } from "zod";
import { ExecutionError, GateAnswer, NodeResult, type NodeDef, type Workflow } from "../../nodes/schema.ts";
import { literalInputs } from "../engine/index.ts";

/** Names in Redis, all under one prefix so several studios can share a Redis. */
export function redisNames(prefix = "sluice") {
  return {
    /** BullMQ's key prefix. */
    bullPrefix: prefix,
    prompts: "prompts",
    reports: "reports",
    events: `${prefix}:events`,
    control: (promptId: string) => `${prefix}:control:${promptId}`,
    /** Set when a prompt is cancelled, so a worker that picks its job up later drops it. */
    cancelled: (promptId: string) => `${prefix}:cancelled:${promptId}`,
    checkpoint: (promptId: string, nodeId: string) => `${prefix}:checkpoint:${promptId}:${nodeId}`,
  };
}
export type RedisNames = ReturnType<typeof redisNames>;

/** A gate answered earlier in the prompt: its value comes from the checkpoint, not its inputs. */
export const ResumedGate = z.object({ nodeId: z.string(), answer: GateAnswer, checkpoint: z.string() });
export type ResumedGate = z.infer<typeof ResumedGate>;

/** A job on the prompts queue: one run of a compiled plan. */
export const RunJob = z.object({
  promptId: z.string(),
  /** The flat, checked workflow as JSON. */
  workflowJson: z.string(),
  /** The workflow as the person built it, embedded in images (JSON). */
  embeddedJson: z.string().optional(),
  outputs: z.array(z.string()).optional(),
  /** Packs the plan loads; a worker without one of them refuses the job. */
  packs: z.array(z.string()),
  resumed: z.array(ResumedGate).default([]),
  /** Workers that refused the job for a missing pack. */
  refusedBy: z.array(z.string()).default([]),
});
export type RunJob = z.infer<typeof RunJob>;

const Files = z.record(z.string(), z.string()).describe("output file path (under outputs/) → base64 bytes");

/** A worker's durable report on the reports queue. */
export const WorkerReport = z.discriminatedUnion("type", [
  z.object({ type: z.literal("started"), promptId: z.string(), worker: z.string(), device: z.string() }),
  /** An output node finished: its files travel with it, so a browser can fetch them when it hears. */
  z.object({ type: z.literal("output"), promptId: z.string(), nodeId: z.string(), outputs: NodeResult, ms: z.number(), files: Files }),
  z.object({
    type: z.literal("waiting"), promptId: z.string(), nodeId: z.string(), kind: z.enum(["latent", "image"]),
    /** The gate's picture, JPEG as base64. */
    preview: z.string(), checkpoint: z.string(),
    timeoutSeconds: z.number(), onTimeout: z.enum(["continue", "cancel"]),
    /** What the run did before the gate. */
    result: z.object({ outputs: z.record(z.string(), NodeResult), executed: z.array(z.string()), cached: z.array(z.string()), timings: z.record(z.string(), z.number()) }),
  }),
  z.object({
    type: z.literal("result"), promptId: z.string(), worker: z.string(),
    status: z.enum(["done", "failed", "cancelled"]),
    result: z.object({ outputs: z.record(z.string(), NodeResult), executed: z.array(z.string()), cached: z.array(z.string()), timings: z.record(z.string(), z.number()) }),
    error: ExecutionError.optional(), cancelledAt: z.string().optional(), modelMs: z.number().optional(),
    files: Files,
  }),
]);
export type WorkerReport = z.infer<typeof WorkerReport>;

/** A live event (progress, preview, a node's start): binary-safe, so previews go as bytes. */
export interface LiveEvent {
  name: string;
  payload: Record<string, unknown> & { promptId: string };
}

export const ControlMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("cancel") }),
  z.object({ type: z.literal("finish"), nodeId: z.string() }),
]);
export type ControlMessage = z.infer<typeof ControlMessage>;

/** Values in Redis (live events, checkpoints) are V8-serialized: typed arrays and buffers survive. */
export { decodeValue, encodeValue } from "./checkpoint-codec.ts";

/** The packs a plan loads: the `pack` input of its nodes, defaults filled in. */
export function packsOf(workflow: Workflow, registry: ReadonlyMap<string, NodeDef>): string[] {
  const packs = new Set<string>();
  for (const node of workflow.nodes) {
    const def = registry.get(node.type);
    if (!def?.inputs.some((i) => i.name === "pack" && i.type === "COMBO")) continue;
    const pack = literalInputs(def, node).pack;
    if (typeof pack === "string") packs.add(pack);
  }
  return [...packs];
}
