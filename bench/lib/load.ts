/**
 * The load generator: undici on a fixed pool of keep-alive connections to
 * 127.0.0.1, the same for the ceiling and for zenmesh. Two modes:
 *
 * - max: closed loop, every connection sends its next request as soon as
 *   the previous answer is read;
 * - rate: open loop at a fixed request rate, spread evenly in time; each
 *   latency counts from the moment the request was due, so a stalled server
 *   is not hidden by the generator waiting for it (no coordinated omission).
 *
 * Every request is built by `make` when it is sent (a fresh body, delivery
 * id and signature). Every run stops by itself: at its duration or its
 * request cap, whichever comes first, and no request outlives its timeout.
 */
import { Pool } from "undici";
import { stopping } from "./cleanup.ts";
import { type LatencySummary, summarize } from "./stats.ts";

export interface LoadRequest {
  path: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

export interface LoadOptions {
  /** Must be a loopback origin. */
  origin: string;
  connections: number;
  durationMs: number;
  maxRequests: number;
  /** Requests per second (open loop); unset = as fast as the connections go. */
  rate?: number;
  make(n: number): LoadRequest;
  /** Called for every answer; `sentAt` is wall-clock ms (performance.timeOrigin based). */
  onResponse?(n: number, status: number, body: string, sentAt: number): void;
  timeoutMs?: number;
  /** Rate mode: requests waiting beyond this are not sent and count as dropped. */
  maxOutstanding?: number;
  /** Updated live, for a caller sampling progress during a long run. */
  progress?: { ok: number; errors: number };
}

export interface LoadResult {
  mode: "max" | "rate";
  connections: number;
  target_rate?: number;
  duration_s: number;
  sent: number;
  ok: number;
  non_2xx: number;
  socket_errors: number;
  dropped: number;
  /** Rate mode: still waiting a timeout after the run ended, so cut off. */
  abandoned: number;
  statuses: Record<string, number>;
  error_samples: string[];
  /** 2xx answers per second over the run. */
  rps: number;
  latency_ms: LatencySummary;
}

const wallNow = () => performance.timeOrigin + performance.now();

/**
 * When load ran, in microseconds of the monotonic clock (the clock V8's CPU
 * profiles are stamped with), so profiles can be cut to the loaded part.
 */
export const loadWindows: { startUs: number; endUs: number }[] = [];
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

export function assertLoopback(origin: string): void {
  const host = new URL(origin).hostname;
  if (host !== "127.0.0.1") throw new Error(`the bench sends only to 127.0.0.1, not ${host}`);
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  assertLoopback(opts.origin);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pool = new Pool(opts.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: 10_000,
  });
  const latencies = new Float64Array(Math.max(1, opts.maxRequests));
  let nLat = 0;
  let sent = 0;
  let ok = 0;
  let non2xx = 0;
  let socketErrors = 0;
  let dropped = 0;
  let abandoned = 0;
  let abandoning = false;
  let outstanding = 0;
  const statuses: Record<string, number> = {};
  const samples = new Map<string, number>();
  const sample = (what: string) => {
    if (samples.size < 8 || samples.has(what)) samples.set(what, (samples.get(what) ?? 0) + 1);
  };

  const fire = async (n: number, dueAt: number) => {
    const r = opts.make(n);
    const sentAt = performance.timeOrigin + dueAt;
    outstanding++;
    try {
      const res = await pool.request({
        path: r.path,
        method: "POST",
        headers: r.headers,
        body: r.body,
      });
      const text = await res.body.text();
      latencies[nLat++] = performance.now() - dueAt;
      const s = res.statusCode;
      statuses[s] = (statuses[s] ?? 0) + 1;
      if (s >= 200 && s < 300) {
        ok++;
        if (opts.progress) opts.progress.ok++;
      } else {
        non2xx++;
        if (opts.progress) opts.progress.errors++;
        sample(`${s} ${text.slice(0, 160)}`);
      }
      opts.onResponse?.(n, s, text, sentAt);
    } catch (err) {
      if (opts.progress) opts.progress.errors++;
      if (abandoning) {
        abandoned++;
        return;
      }
      socketErrors++;
      const e = err as { code?: string; message?: string };
      sample(`socket ${e.code ?? ""} ${e.message ?? String(err)}`.slice(0, 160));
    } finally {
      outstanding--;
    }
  };

  const windowStart = monoUs();
  const start = performance.now();
  const end = start + opts.durationMs;
  let last = start;
  if (opts.rate === undefined) {
    const worker = async () => {
      while (performance.now() < end && sent < opts.maxRequests && !stopping()) {
        const n = sent++;
        await fire(n, performance.now());
      }
    };
    await Promise.all(Array.from({ length: opts.connections }, worker));
    last = performance.now();
  } else {
    const interval = 1000 / opts.rate;
    const cap = Math.min(opts.maxRequests, Math.ceil((opts.durationMs / 1000) * opts.rate));
    const maxOutstanding = opts.maxOutstanding ?? opts.connections * 64;
    const inFlight = new Set<Promise<void>>();
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        const due = Math.min(cap, Math.floor((now - start) / interval) + 1);
        while (sent < due) {
          const n = sent++;
          if (outstanding >= maxOutstanding) {
            dropped++;
            if (opts.progress) opts.progress.errors++;
            continue;
          }
          const p = fire(n, start + n * interval);
          inFlight.add(p);
          p.finally(() => inFlight.delete(p));
        }
        if (sent >= cap || now >= end || stopping()) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    // What is still queued one timeout after the end is cut off: the run ends by itself.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(inFlight),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (inFlight.size > 0) {
      abandoning = true;
      await pool.destroy().catch(() => {});
      await Promise.all(inFlight);
    }
    last = performance.now();
  }
  loadWindows.push({ startUs: windowStart, endUs: monoUs() });
  await pool.close().catch(() => pool.destroy());
  const durationS = (last - start) / 1000;
  return {
    mode: opts.rate === undefined ? "max" : "rate",
    connections: opts.connections,
    ...(opts.rate === undefined ? {} : { target_rate: Math.round(opts.rate) }),
    duration_s: round(durationS, 2),
    sent: sent - dropped,
    ok,
    non_2xx: non2xx,
    socket_errors: socketErrors,
    dropped,
    abandoned,
    statuses,
    error_samples: [...samples].map(([what, count]) => `${count}× ${what}`),
    rps: round(ok / durationS, 0),
    latency_ms: summarize(latencies.subarray(0, nLat)),
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export { wallNow };
