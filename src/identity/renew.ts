/**
 * Keeps a workload's SVID fresh: renews at half of the remaining lifetime
 * (± jitter, so a fleet started together does not renew together), retries
 * with capped exponential backoff on failure, and hands every new SVID to the
 * listeners that hot-swap TLS contexts (ARCHITECTURE.md section 4). Timers are
 * unref'd so an identity never keeps a process alive on its own.
 */
import { type Clock, systemClock, ZenError } from "../core/index.ts";
import type { IdentitySource, Svid } from "./types.ts";

export interface RenewingIdentityOptions {
  issue: () => Promise<Svid>;
  clock?: Clock;
  /** Fraction of the delay to randomise by, 0..0.5; default 0.1. */
  jitter?: number;
  onError?: (err: unknown) => void;
  /** Floor for every scheduled delay and the first retry; default 1000 ms. */
  minDelayMs?: number;
  /** Ceiling for the retry backoff; default 30 s. */
  maxRetryDelayMs?: number;
}

export type RenewingIdentity = IdentitySource & { renewNow(): Promise<Svid> };

// setTimeout's limit; a longer delay would fire immediately.
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkSvid(svid: Svid): Svid {
  if (
    typeof svid?.spiffeId !== "string" ||
    !(svid.notAfter instanceof Date) ||
    !(svid.notBefore instanceof Date) ||
    !(svid.notAfter.getTime() > svid.notBefore.getTime())
  ) {
    throw new ZenError("INTERNAL", { message: "the identity issuer returned an invalid SVID" });
  }
  return svid;
}

export async function createRenewingIdentity(opts: RenewingIdentityOptions): Promise<RenewingIdentity> {
  const clock = opts.clock ?? systemClock;
  const jitter = opts.jitter ?? 0.1;
  const minDelay = opts.minDelayMs ?? 1000;
  const maxRetry = opts.maxRetryDelayMs ?? 30_000;
  if (!(jitter >= 0 && jitter <= 0.5)) throw new RangeError("jitter must be between 0 and 0.5");
  if (!(minDelay >= 0) || !(maxRetry >= minDelay)) throw new RangeError("invalid renewal delays");

  let current = checkSvid(await opts.issue());
  const listeners = new Set<(svid: Svid) => void>();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<Svid> | undefined;
  let failures = 0;
  let closed = false;

  const report = (err: unknown) => {
    try {
      opts.onError?.(err);
    } catch {
      // An error reporter that throws must not stop renewal.
    }
  };

  const remainingMs = () => current.notAfter.getTime() - clock.now().getTime();

  const schedule = (delayMs: number) => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(
      () => {
        timer = undefined;
        renew().catch(() => {});
      },
      Math.min(Math.max(delayMs, minDelay), MAX_TIMER_MS),
    );
    timer.unref();
  };

  const scheduleRenewal = () => {
    const half = remainingMs() / 2;
    schedule(half * (1 + jitter * (2 * Math.random() - 1)));
  };

  const scheduleRetry = () => {
    const backoff = Math.min(maxRetry, minDelay * 2 ** Math.min(failures - 1, 30));
    const remaining = remainingMs();
    // While the SVID still holds, retry often enough to get several attempts in before it expires.
    schedule(remaining > 0 ? Math.min(backoff, remaining / 4) : backoff);
  };

  const renew = (): Promise<Svid> => {
    if (closed) return Promise.reject(new ZenError("UNAVAILABLE", { message: "the identity is closed" }));
    if (inFlight) return inFlight;
    inFlight = (async () => {
      try {
        const next = checkSvid(await opts.issue());
        if (closed) return next;
        current = next;
        failures = 0;
        for (const listener of [...listeners]) {
          try {
            listener(next);
          } catch (err) {
            report(err);
          }
        }
        scheduleRenewal();
        return next;
      } catch (err) {
        failures++;
        report(err);
        scheduleRetry();
        throw err;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };

  scheduleRenewal();

  return {
    current: () => current,
    onUpdate(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    renewNow: renew,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      listeners.clear();
      await inFlight?.catch(() => {});
    },
  };
}
