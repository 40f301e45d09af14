// A model load in words, as the node, the Queue panel and the tab title show it:
// "loading prior/model.onnx · 4.1 GB · about 45% · 12 s", "converting decoder/model.onnx to float32 · 3.1 GB · 45%".
import type { LoadingState } from "./run.ts";

function size(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e7) return `${Math.round(bytes / 1e6)} MB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * The conversion's fraction is exact. While ONNX Runtime builds the session the server says
 * nothing until it is done, so the share is the seconds since the load began against the time the
 * server expects (never 100% before it ends), and the seconds are shown beside it.
 */
export function loadingText(l: LoadingState, now: number): string {
  if (l.phase === "converting") return `converting ${l.label} to float32 · ${size(l.bytes)} · ${Math.round(l.fraction * 100)}%`;
  const ms = Math.max(0, now - l.since);
  const share = l.expectedMs ? ` · about ${Math.min(99, Math.round((100 * ms) / Math.max(1, l.expectedMs)))}%` : "";
  return `loading ${l.label} · ${size(l.bytes)}${share} · ${Math.round(ms / 1000)} s`;
}
