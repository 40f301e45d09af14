// The output cache: node outputs keyed by the signature of the node and all its ancestors,
// bounded by an estimate of their bytes, least recently used evicted first.

export interface CacheEntry {
  outputs: Record<string, unknown>;
  bytes: number;
}

export class OutputCache {
  private entries = new Map<string, CacheEntry>();
  private total = 0;

  constructor(private readonly budgetBytes: number) {}

  get(key: string): Record<string, unknown> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.outputs;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, outputs: Record<string, unknown>): void {
    if (this.budgetBytes <= 0) return; // caching off: nothing is weighed or kept
    const bytes = estimateBytes(outputs);
    this.delete(key);
    if (bytes > this.budgetBytes) return; // larger than the whole budget: never cached
    this.entries.set(key, { outputs, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.budgetBytes) break;
      this.entries.delete(oldest);
      this.total -= entry.bytes;
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
