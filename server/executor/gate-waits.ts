// Prompts waiting at gates, for every transport: each waits as a checkpoint in a store (SQLite
// locally, Redis with workers), holding no executor; how many may wait, and when a gate with a
// timeout answers itself.
import type { GateAnswer } from "../../nodes/schema.ts";
import type { Store } from "../store/store.ts";

/** Prompts that may wait at gates at once, unless configured. */
export const DEFAULT_MAX_WAITING = 64;

/** How often waiting gates are checked for a timeout that has passed. */
export const GATE_SWEEP_MS = 1000;

/** The error of a prompt that reached a gate while `limit` prompts already waited. */
export function waitingLimitError(limit: number, nodeId: string): { node: string; message: string } {
  return { node: nodeId, message: `${limit} prompts already wait at gates (the limit, --max-waiting); answer or cancel one, then queue this again` };
}

/** When a gate that waits `timeoutSeconds` (0: for ever) answers itself. */
export function gateDeadline(timeoutSeconds: number, onTimeout: "continue" | "cancel", from = Date.now()): { deadline?: string; onTimeout?: "continue" | "cancel" } {
  return timeoutSeconds > 0 ? { deadline: new Date(from + timeoutSeconds * 1000).toISOString(), onTimeout } : {};
}

/** Gates whose timeout has passed, with the answer their node asked for. */
export function expiredGates(store: Store, now = new Date().toISOString()): { promptId: string; nodeId: string; answer: GateAnswer }[] {
  const expired = [];
  for (const prompt of store.withStatus("waiting")) {
    const gate = prompt.gate;
    if (!gate?.deadline || gate.deadline > now) continue;
    expired.push({ promptId: prompt.promptId, nodeId: gate.nodeId, answer: { action: gate.onTimeout === "cancel" ? "cancel" : "continue" } as GateAnswer });
  }
  return expired;
}
