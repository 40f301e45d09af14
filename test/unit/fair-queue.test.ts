// The scheduler's choice of the next prompt: round robin between clients, FIFO within one.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pickNext, type PendingEntry } from "../../server/store/fair-queue.ts";

const entry = (promptId: string, client: string, seq: number, front?: boolean): PendingEntry => ({ promptId, client, seq, ...(front ? { front } : {}) });

/** Starts prompts one after another as a queue would, returning the order they ran in. */
function drain(pending: PendingEntry[]): string[] {
  const left = [...pending];
  const served = new Map<string, number>();
  const order: string[] = [];
  for (let n = 0; left.length > 0; n++) {
    const next = pickNext(left, served)!;
    order.push(next.promptId);
    served.set(next.client, n);
    left.splice(left.indexOf(next), 1);
  }
  return order;
}

describe("fair queue", () => {
  it("is empty-handed on an empty queue", () => {
    assert.equal(pickNext([], new Map()), undefined);
  });

  it("keeps one client's prompts in the order they were queued", () => {
    assert.deepEqual(drain([entry("a1", "A", 1), entry("a2", "A", 2), entry("a3", "A", 3)]), ["a1", "a2", "a3"]);
  });

  it("gives a client with one prompt the next turn after another client's first of twenty", () => {
    const many = Array.from({ length: 20 }, (_, i) => entry(`a${i + 1}`, "A", i + 1));
    const order = drain([...many, entry("b1", "B", 21)]);
    assert.deepEqual(order.slice(0, 3), ["a1", "b1", "a2"]);
    assert.equal(order.length, 21);
  });

  it("alternates between clients in round robin, each in its own order", () => {
    const order = drain([entry("a1", "A", 1), entry("a2", "A", 2), entry("b1", "B", 3), entry("c1", "C", 4), entry("b2", "B", 5)]);
    assert.deepEqual(order, ["a1", "b1", "c1", "a2", "b2"]);
  });

  it("serves first the client that waited longest since its last start", () => {
    const served = new Map([["A", 5], ["B", 2]]);
    assert.equal(pickNext([entry("a9", "A", 9), entry("b10", "B", 10)], served)!.promptId, "b10");
  });

  it("runs a prompt queued to the front before everything else", () => {
    assert.equal(pickNext([entry("a1", "A", 1), entry("b2", "B", 2, true)], new Map())!.promptId, "b2");
  });
});
