/**
 * Counts authentication failures per client address in a sliding window and
 * refuses further attempts from an address over the limit, so keys and
 * passwords cannot be brute-forced. Memory is bounded: the oldest addresses
 * are evicted first. One process's view; replicas each enforce their own.
 */
export interface FailureLimiter {
  /** Seconds to wait when `key` is over the limit, else 0. */
  blockedFor(key: string, now: number): number;
  fail(key: string, now: number): void;
}

export function createFailureLimiter(opts: {
  limit: number;
  windowSeconds: number;
  maxKeys?: number;
}): FailureLimiter {
  const windowMs = opts.windowSeconds * 1000;
  const maxKeys = opts.maxKeys ?? 100_000;
  const hits = new Map<string, number[]>();
  const recent = (key: string, now: number) => {
    const list = hits.get(key);
    if (!list) return [];
    const kept = list.filter((t) => now - t < windowMs);
    if (kept.length === 0) hits.delete(key);
    else hits.set(key, kept);
    return kept;
  };
  return {
    blockedFor(key, now) {
      const list = recent(key, now);
      if (list.length < opts.limit) return 0;
      return Math.max(1, Math.ceil((list[0]! + windowMs - now) / 1000));
    },
    fail(key, now) {
      const list = recent(key, now);
      // Keep at most `limit` timestamps: that is all the decision needs.
      list.push(now);
      if (list.length > opts.limit) list.shift();
      hits.delete(key);
      hits.set(key, list);
      while (hits.size > maxKeys) {
        const oldest = hits.keys().next().value;
        if (oldest === undefined) break;
        hits.delete(oldest);
      }
    },
  };
}
