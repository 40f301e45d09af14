// The model a node (or the running prompt) waits on while it loads, with the seconds counted here:
// while ONNX Runtime builds a session the server has nothing new to say for tens of seconds.
import { useEffect, useState } from "react";
import { loadingText } from "../store/loading-text.ts";
import type { LoadingState } from "../store/run.ts";

/** Date.now(), re-rendering every second while `active`. */
export function useNowWhile(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function LoadingLine({ loading, testId, className }: { loading: LoadingState; testId: string; className: string }) {
  const now = useNowWhile(true);
  const text = loadingText(loading, now);
  return (
    <div className={className} data-testid={testId} data-phase={loading.phase} title={text}>
      {loading.phase === "converting" && <div className="loading-fill" style={{ width: `${Math.round(loading.fraction * 100)}%` }} />}
      <span>{text}</span>
    </div>
  );
}
