// The output cache: node outputs keyed by the signature of the node and all its ancestors,
// bounded by an estimate of their bytes. Eviction weighs what an entry would cost to make again
// (GreedyDual-Size): an entry's priority is the clock plus its compute time per byte, refreshed on
// every hit; the lowest priority goes first and sets the clock. So a result that took long to
// compute outlives a cheap one of the same size, and an entry nobody reads ages out as the clock
// passes it.

export interface CacheEntry {
  outputs: Record<string, unknown>;
  bytes: number;
  /** Milliseconds it took to compute. */
  ms: number;
  priority: number;
  /** When it was last set or read: of equal priorities the least recently used goes first. */
  used: number;
}

/** Cost per byte of an entry; a floor keeps instant results comparable by recency. */
function costPerByte(ms: number, bytes: number): number {
  return Math.max(ms, 1e-3) / Math.max(bytes, 1);
}

export class OutputCache {
  private entries = new Map<string, CacheEntry>();
  private total = 0;
  /** The priority of the last entry evicted: new and refreshed entries start above it. */
  private clock = 0;
  private uses = 0;

  constructor(private readonly budgetBytes: number) {}

  get(key: string): Record<string, unknown> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    entry.priority = this.clock + costPerByte(entry.ms, entry.bytes);
    entry.used = ++this.uses;
    return entry.outputs;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Keeps `outputs` under `key`; `ms` is what computing them took (0 when unknown). */
  set(key: string, outputs: Record<string, unknown>, ms = 0): void {
    if (this.budgetBytes <= 0) return; // caching off: nothing is weighed or kept
    const bytes = estimateBytes(outputs);
    this.delete(key);
    if (bytes > this.budgetBytes) return; // larger than the whole budget: never cached
    const entry: CacheEntry = { outputs, bytes, ms, priority: this.clock + costPerByte(ms, bytes), used: ++this.uses };
    this.entries.set(key, entry);
    this.total += bytes;
    while (this.total > this.budgetBytes) {
      // The cache holds a node's outputs per key, tens of entries: a scan is cheaper than a heap.
      let victimKey: string | undefined;
      let victim: CacheEntry | undefined;
      for (const [k, e] of this.entries) {
        if (k === key) continue;
        if (!victim || e.priority < victim.priority || (e.priority === victim.priority && e.used < victim.used)) { victim = e; victimKey = k; }
      }
      if (!victim || victimKey === undefined) break;
      this.clock = victim.priority;
      this.entries.delete(victimKey);
      this.total -= victim.bytes;
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
    this.clock = 0;
  }

  get size(): number { return this.entries.size; }
  get bytes(): number { return this.total; }
}

/** Rough size of a value: typed arrays by their bytes, everything else by a small constant. */
export function estimateBytes(value: unknown, seen = new Set<object>()): number {
  if (value === null || value === undefined) return 8;
  if (typeof value === "string") return 16 + value.length * 2;
  if (typeof value !== "object") return 8;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (seen.has(value)) return 0;
  // Handles to shared resources (model packs) say what they cost instead of being walked.
  const declared = (value as { cacheBytes?: unknown }).cacheBytes;
  if (typeof declared === "number") return declared;
  seen.add(value);
  let bytes = 32;
  for (const v of Array.isArray(value) ? value : Object.values(value)) bytes += estimateBytes(v, seen);
  return bytes;
}
