/**
 * The ceiling of this run: the bare node:http + HMAC server in its own
 * process, under the same generator and connection count as zenmesh. Each
 * body size is measured once, when a scenario first asks for it.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { startHelper } from "./children.ts";
import { type Ceiling, CONNECTIONS, type Durations, maxRequests } from "./context.ts";
import { type LoadResult, runLoad } from "./load.ts";
import { githubRequests, KiB } from "./webhooks.ts";

export interface RunCeiling extends Ceiling {
  /** The 1 KiB max rate again, at the end of the run: how far the machine drifted. */
  recheck(): Promise<LoadResult | undefined>;
  results(): Promise<Record<string, LoadResult>>;
  stop(): Promise<void>;
}

export function createCeiling(d: Durations, log: (l: string) => void): RunCeiling {
  let recheckRun: LoadResult | undefined;
  const secret = randomBytes(24).toString("base64url");
  let server: ReturnType<typeof startHelper> | undefined;
  const maxBySize = new Map<number, Promise<LoadResult>>();
  let halfRun: Promise<LoadResult> | undefined;
  const origin = async () => {
    server ??= startHelper(join(import.meta.dirname, "baseline-server.ts"), { BENCH_SECRET: secret });
    return `http://127.0.0.1:${(await server).port}`;
  };
  const make = (size: number) => githubRequests([{ path: "/e/ceiling", secret }], size);
  const measureMax = async (size: number) => {
    const o = await origin();
    const ms = size === KiB ? d.maxMs : d.sizeMs;
    await runLoad({
      origin: o,
      connections: CONNECTIONS,
      durationMs: d.warmMs,
      maxRequests: 1e6,
      make: make(size),
    });
    log(`ceiling: max rate, ${size / KiB} KiB, ${ms / 1000} s`);
    const r = await runLoad({
      origin: o,
      connections: CONNECTIONS,
      durationMs: ms,
      maxRequests: maxRequests(ms),
      make: make(size),
    });
    log(`ceiling: ${r.rps} req/s, p99 ${r.latency_ms.p99} ms`);
    return r;
  };
  const c: RunCeiling = {
    max(size: number) {
      let p = maxBySize.get(size);
      if (!p) {
        p = measureMax(size);
        maxBySize.set(size, p);
      }
      return p;
    },
    half() {
      halfRun ??= (async () => {
        const m = await c.max(KiB);
        log(`ceiling: half rate (${Math.round(m.rps / 2)} req/s), ${d.rateMs / 1000} s`);
        return runLoad({
          origin: await origin(),
          connections: CONNECTIONS,
          durationMs: d.rateMs,
          maxRequests: maxRequests(d.rateMs),
          rate: m.rps / 2,
          make: make(KiB),
        });
      })();
      return halfRun;
    },
    async recheck() {
      if (!maxBySize.has(KiB)) return undefined;
      log("ceiling: 1 KiB max rate again (drift check)");
      recheckRun = await measureMax(KiB);
      return recheckRun;
    },
    async results() {
      const out: Record<string, LoadResult> = {};
      for (const [size, p] of maxBySize) out[`${size / KiB}KiB_max`] = await p;
      if (halfRun) out["1KiB_half"] = await halfRun;
      if (recheckRun) out["1KiB_max_end"] = recheckRun;
      return out;
    },
    async stop() {
      if (server) await (await server).stop();
    },
  };
  return c;
}
