/**
 * Nonce store on Redis: `SET <prefix><signer>:<nonce> 1 NX PX <ttl>` is atomic
 * and expires by itself. The client should be created with
 * `enableOfflineQueue: false` and a bounded `maxRetriesPerRequest`, so a Redis
 * outage surfaces as an error (the verifier then fails closed) instead of a
 * queue that waits.
 */
import type { Redis } from "ioredis";
import type { NonceStore } from "./nonce-store.ts";

export function createRedisNonceStore(redis: Redis, prefix: string): NonceStore {
  return {
    async claim(signer, nonce, ttlMs) {
      if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new Error("nonce ttl must be a positive integer");
      // The signer is encoded so it can never contain the separator; nonces are base64url.
      const key = `${prefix}${encodeURIComponent(signer)}:${nonce}`;
      const reply = await redis.set(key, "1", "PX", ttlMs, "NX");
      return reply === "OK";
    },
  };
}
