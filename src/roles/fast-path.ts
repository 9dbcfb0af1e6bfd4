/**
 * The ingester's fast path (ARCHITECTURE.md section 3, step 5): the first
 * attempts of freshly committed events go straight to egress over mTLS
 * instead of waiting for the scheduler's next poll. The backend leased them
 * to this hand-off; if egress cannot take them, the leases are given back at
 * once so the scheduler delivers them, and if even that fails, the leases
 * simply run out. Either way nothing committed is lost.
 */
import type { DispatchBatch } from "../deliver/index.ts";
import type { IdentitySource } from "../identity/types.ts";
import type { Logger } from "../log/index.ts";
import { createInternalClient, type InternalClient } from "../mesh/index.ts";
import type { PeerUrl } from "./peer-url.ts";

export interface FastPath {
  send(batch: DispatchBatch): void;
  close(): Promise<void>;
}

export function createFastPath(opts: {
  backend: InternalClient;
  egressUrl: PeerUrl | undefined;
  identity: IdentitySource;
  trustDomain: string;
  logger: Logger;
}): FastPath {
  let egress: InternalClient | undefined;
  opts.egressUrl?.onChange((url) => {
    const previous = egress;
    egress = createInternalClient({
      identity: opts.identity,
      trustDomain: opts.trustDomain,
      baseUrl: url,
      expectServer: `spiffe://${opts.trustDomain}/egress`,
      timeoutMs: 10_000,
    });
    previous?.close().catch(() => {});
  });
  const inFlight = new Set<Promise<void>>();
  let warned = false;

  const giveBack = async (batch: DispatchBatch) => {
    const leases = batch.jobs.map((j) => ({ deliveryId: j.deliveryId, leaseToken: j.leaseToken }));
    try {
      const r = await opts.backend.request("POST", "/internal/deliveries/release", { leases });
      if (r.status !== 200) throw new Error(`the backend answered ${r.status}`);
    } catch (err) {
      opts.logger.warn(
        { err, jobs: leases.length },
        "could not give fast-path leases back; they run out instead",
      );
    }
  };

  const hand = async (batch: DispatchBatch) => {
    try {
      if (!egress) throw new Error("egress is not known yet");
      const r = await egress.request("POST", "/internal/dispatch", batch);
      if (r.status !== 202) throw new Error(`egress answered ${r.status}`);
      warned = false;
    } catch (err) {
      if (!warned) opts.logger.warn({ err }, "fast path to egress failed; the scheduler delivers instead");
      warned = true;
      await giveBack(batch);
    }
  };

  return {
    send(batch) {
      if (batch.jobs.length === 0) return;
      const p = hand(batch).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async close() {
      await Promise.allSettled([...inFlight]);
      await egress?.close();
    },
  };
}
