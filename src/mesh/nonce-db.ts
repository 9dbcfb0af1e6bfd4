/**
 * Nonce store on the `hop_nonces` table (migration 0002): the primary key
 * (signer, nonce) makes the claim atomic (`INSERT … ON CONFLICT DO NOTHING`).
 * Expired rows are deleted opportunistically, in bounded batches, at most once
 * per sweep interval; a failed sweep never affects a claim's answer.
 */
import { type Clock, systemClock } from "../core/index.ts";
import type { Database } from "../db/index.ts";
import type { NonceStore } from "./nonce-store.ts";

export interface DbNonceStoreOptions {
  clock?: Clock;
  /** Minimum time between sweeps of expired rows. Default 60 s. */
  sweepEveryMs?: number;
  /** Rows deleted per sweep at most. Default 5000. */
  sweepBatch?: number;
}

export function createDbNonceStore(db: Database, opts: DbNonceStoreOptions = {}): NonceStore {
  const clock = opts.clock ?? systemClock;
  const sweepEveryMs = opts.sweepEveryMs ?? 60_000;
  const sweepBatch = opts.sweepBatch ?? 5000;
  let lastSweep = Number.NEGATIVE_INFINITY;
  let sweeping = false;

  const sweep = (now: Date): void => {
    if (sweeping || now.getTime() - lastSweep < sweepEveryMs) return;
    sweeping = true;
    lastSweep = now.getTime();
    db.withGlobal((tx) =>
      tx.query(
        `delete from hop_nonces where (signer, nonce) in
           (select signer, nonce from hop_nonces where expires_at < $1 limit $2)`,
        [now.toISOString(), sweepBatch],
      ),
    )
      .catch(() => {})
      .finally(() => {
        sweeping = false;
      });
  };

  return {
    async claim(signer, nonce, ttlMs) {
      const now = clock.now();
      const expires = new Date(now.getTime() + ttlMs);
      const res = await db.withGlobal((tx) =>
        tx.query(
          `insert into hop_nonces (signer, nonce, expires_at) values ($1, $2, $3)
             on conflict (signer, nonce) do nothing returning 1 as claimed`,
          [signer, nonce, expires.toISOString()],
        ),
      );
      sweep(now);
      return res.rows.length === 1;
    },
  };
}
