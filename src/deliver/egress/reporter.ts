/**
 * Egress's reports to the backend (`POST /internal/delivery-results`),
 * coalesced: whatever finished while the previous call was in flight goes in
 * the next one. A report the backend has not taken is kept and sent again
 * with backoff; if egress dies first, the delivery's lease runs out and the
 * scheduler sends it again — at least once, never lost.
 */
import type { Logger } from "../../log/index.ts";
import type { InternalClient } from "../../mesh/index.ts";
import type { AttemptReport } from "../types.ts";

export interface Reporter {
  report(r: AttemptReport): void;
  pending(): number;
  /** Tries to send what is left, for up to `ms`. */
  close(ms?: number): Promise<void>;
}

const MAX_BATCH = 500;
const MAX_HELD = 100_000;

export function createReporter(opts: {
  backend: () => InternalClient;
  logger: Logger;
  lingerMs?: number;
}): Reporter {
  const linger = opts.lingerMs ?? 20;
  let buffer: AttemptReport[] = [];
  let sending: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoff = 0;
  let warned = false;
  let closed = false;

  const send = async () => {
    const batch = buffer.slice(0, MAX_BATCH);
    try {
      const r = await opts.backend().request("POST", "/internal/delivery-results", { reports: batch });
      if (r.status !== 200) throw new Error(`the backend answered ${r.status}`);
      buffer = buffer.slice(batch.length);
      backoff = 0;
      if (warned) opts.logger.info("delivery results reach the backend again");
      warned = false;
    } catch (err) {
      backoff = Math.min(Math.max(backoff * 2, 500), 10_000);
      if (!warned)
        opts.logger.warn({ err, held: buffer.length }, "could not report delivery results; retrying");
      warned = true;
    }
  };

  const schedule = (ms: number) => {
    if (timer || sending || buffer.length === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      sending = send().finally(() => {
        sending = undefined;
        if (!closed) schedule(backoff || (buffer.length >= MAX_BATCH ? 0 : linger));
      });
    }, ms);
    timer.unref();
  };

  return {
    report(r) {
      if (buffer.length >= MAX_HELD) {
        // The lease will bring this delivery back; holding without bound would not.
        opts.logger.error({ delivery_id: r.deliveryId }, "too many unreported results; dropping one");
        return;
      }
      buffer.push(r);
      schedule(backoff || linger);
    },
    pending: () => buffer.length,
    async close(ms = 5000) {
      const end = Date.now() + ms;
      clearTimeout(timer);
      timer = undefined;
      await sending;
      while (buffer.length > 0 && Date.now() < end) {
        const before = buffer.length;
        await send();
        if (buffer.length === before) await new Promise((r) => setTimeout(r, 200));
      }
      closed = true;
    },
  };
}
