// Connections to Redis that retry with backoff and say so, for the server and the workers alike.
import { Redis } from "ioredis";

export type Log = (level: "info" | "warn" | "error", message: string) => void;

/** Delay before the n-th reconnection attempt: doubling from 200 ms, at most 5 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(5000, 200 * 2 ** Math.min(10, attempt - 1));
}

/**
 * A connection that retries forever (BullMQ's blocking calls need maxRetriesPerRequest: null).
 * With `log`, it says when Redis cannot be reached, how long until the next try, and when it is
 * back; without, it stays quiet (several connections share one voice).
 */
export function connectRedis(url: string, log?: Log, name = "redis"): Redis {
  let lastError = "";
  let down = false;
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy(attempt) {
      const delay = reconnectDelay(attempt);
      log?.("warn", `${name}: cannot reach Redis at ${url}${lastError ? ` (${lastError})` : ""}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt})`);
      down = true;
      return delay;
    },
  });
  redis.on("error", (err: Error & { code?: string }) => { lastError = err.code ?? err.message; });
  redis.on("ready", () => {
    if (down) log?.("info", `${name}: Redis at ${url} is reachable again`);
    down = false;
  });
  return redis;
}
