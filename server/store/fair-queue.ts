// Which pending prompt runs next: round robin between clients, first in first out within one.
// A client that queues a hundred prompts takes turns with a client that queues one.

/** A pending prompt as the scheduler sees it. */
export interface PendingEntry {
  promptId: string;
  /** Who queued it; prompts queued without a client id (CLI, curl) share one turn. */
  client: string;
  /** Queue order (ascending). */
  seq: number;
  /** Queued to the front: runs before every other pending prompt, whoever queued them. */
  front?: boolean;
}

/**
 * The prompt to start next. `lastServed` maps a client to the serial number of its most recent
 * start (higher = more recent); the client served longest ago (or never) goes first, ties broken
 * by the age of its oldest pending prompt. A prompt queued to the front goes before all others
 * (the one first in queue order among several).
 */
export function pickNext(pending: readonly PendingEntry[], lastServed: ReadonlyMap<string, number>): PendingEntry | undefined {
  let best: PendingEntry | undefined;
  let bestFront: PendingEntry | undefined;
  // The oldest pending prompt of each client (front-queued ones count first).
  const head = new Map<string, PendingEntry>();
  for (const entry of pending) {
    if (entry.front && (!bestFront || entry.seq < bestFront.seq)) bestFront = entry;
    const current = head.get(entry.client);
    if (!current || entry.seq < current.seq) head.set(entry.client, entry);
  }
  // Among prompts sent to the front, queue order decides (the store gives the latest sent there
  // the first place).
  if (bestFront) return bestFront;
  for (const entry of head.values()) {
    if (!best) { best = entry; continue; }
    const a = lastServed.get(entry.client) ?? -1;
    const b = lastServed.get(best.client) ?? -1;
    if (a < b || (a === b && entry.seq < best.seq)) best = entry;
  }
  return best;
}
