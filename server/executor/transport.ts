// What the API asks of whatever runs prompts: the local supervised executor, or BullMQ workers
// on Redis. Both keep SQLite (the store) as the record of queue and history, send events to the
// same sink, and take cancel, finish-now and gate answers for the prompts they run.
import type { GateAnswer } from "../../nodes/schema.ts";
import type { EventSink, Submission } from "./dispatcher.ts";

export type { EventSink, Submission };

export interface ExecutorTransport {
  /** Where prompts run ("cpu", "cuda", "workers"), and how that came about. */
  readonly device: string;
  readonly deviceNote: string;
  /** The local executor process's id and how often it was restarted (absent with workers). */
  readonly executorPid?: number;
  readonly restarts?: number;
  ready(): Promise<{ device: string; deviceNote: string }>;
  /** Queues a compiled prompt; returns its id. */
  submit(input: Submission): string;
  /** Starts what can start; called after every change to the queue. */
  tick(): void;
  /** Cancels a pending, running or waiting prompt; false when it is none of those. */
  cancel(promptId: string): boolean;
  /** Interrupts the running prompt (or the one named). */
  interrupt(promptId?: string): boolean;
  /** Asks a running sampler to finish now; false when the prompt is not running. */
  finishNow(promptId: string, nodeId: string): boolean;
  /** Answers a gate; false when the prompt is not waiting there. */
  answerGate(promptId: string, nodeId: string, answer: GateAnswer): boolean;
  clearCache(): void;
  close(): Promise<void>;
}
