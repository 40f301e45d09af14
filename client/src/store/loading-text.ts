// A model load in words, as the node, the Queue panel and the tab title show it:
// "loading prior/model.onnx · 4.1 GB · 12 s", "converting decoder/model.onnx to float32 · 3.1 GB · 45%".
import type { LoadingState } from "./run.ts";

function size(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e7) return `${Math.round(bytes / 1e6)} MB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * The conversion's fraction is exact; while ONNX Runtime builds the session there is none (the
 * server's is a guess from the last load's rate), so the seconds since the load began are shown.
 */
export function loadingText(l: LoadingState, now: number): string {
  const verb = l.phase === "converting" ? `converting ${l.label} to float32` : `loading ${l.label}`;
  const seconds = Math.max(0, Math.round((now - l.since) / 1000));
  const tail = l.phase === "converting" ? `${Math.round(l.fraction * 100)}%` : `${seconds} s`;
  return `${verb} · ${size(l.bytes)} · ${tail}`;
}
