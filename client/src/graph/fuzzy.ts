// Fuzzy search over the catalog: subsequence matching with bonuses for word starts and
// contiguous runs; the name counts more than the category, the category more than the description.
import type { NodeSpec } from "../../../nodes/schema.ts";

export function fuzzyScore(query: string, text: string): number {
  const q = query.toLowerCase();
  const t = text.toLowerCase();
  if (!q) return 1;
  const idx = t.indexOf(q);
  if (idx >= 0) return 100 + (idx === 0 ? 50 : 0) + (/[\s_\-/]/.test(t[idx - 1] ?? " ") ? 20 : 0) - t.length * 0.1;
  let score = 0;
  let ti = 0;
  let run = 0;
  for (const ch of q) {
    if (ch === " ") continue;
    const found = t.indexOf(ch, ti);
    if (found < 0) return 0;
    run = found === ti ? run + 1 : 0;
    const wordStart = found === 0 || /[\s_\-/]/.test(t[found - 1]!) || (text[found] !== t[found] && text[found - 1] === t[found - 1]);
    score += 1 + run * 2 + (wordStart ? 5 : 0);
    ti = found + 1;
  }
  return score;
}

export function searchNodes(specs: NodeSpec[], query: string): NodeSpec[] {
  const words = query.trim().split(/\s+/).filter(Boolean);
  if (!words.length) return [...specs].sort((a, b) => a.category.localeCompare(b.category) || a.displayName.localeCompare(b.displayName));
  const scored: { spec: NodeSpec; score: number }[] = [];
  for (const spec of specs) {
    let total = 0;
    let ok = true;
    for (const w of words) {
      const s = Math.max(
        fuzzyScore(w, spec.displayName) * 3,
        fuzzyScore(w, spec.type) * 3,
        fuzzyScore(w, spec.category) * 2,
        spec.description.toLowerCase().includes(w.toLowerCase()) ? 40 : 0,
      );
      if (s <= 0) { ok = false; break; }
      total += s;
    }
    if (ok) scored.push({ spec, score: total });
  }
  return scored.sort((a, b) => b.score - a.score || a.spec.displayName.localeCompare(b.spec.displayName)).map((s) => s.spec);
}
