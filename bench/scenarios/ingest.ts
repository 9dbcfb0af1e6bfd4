/**
 * Ingest: GitHub-signed 1 KiB webhooks into `zenmesh up`, a github source
 * with allow_plain_http; 202 means durably stored. The max rate at fixed
 * connections, then latency at half that rate. Embedded (the PostgreSQL server `zenmesh up` runs) and on
 * PostgreSQL + Redis (dev profile: plain connection to the database, the
 * internal hops still mTLS).
 */
import { CONNECTIONS, type Context, maxRequests } from "../lib/context.ts";
import { type LoadResult, runLoad } from "../lib/load.ts";
import { createBenchDatabase, postgresReachable, REDIS_URL } from "../lib/postgres.ts";
import { type RoleMib, sampleRss } from "../lib/rss.ts";
import { githubRequests, KiB } from "../lib/webhooks.ts";
import {
  createSource,
  createTenantCli,
  type Source,
  type StartOptions,
  startZenmesh,
  warmSource,
  type Zenmesh,
} from "../lib/zenmesh.ts";

export interface IngestResult {
  max: LoadResult;
  half: LoadResult;
  rss_peak_under_load_mib: RoleMib;
  role_exits: string[];
  warnings: { count: number; samples: string[] };
  note?: string;
}

/** Warm-up (discarded), then the max-rate run, returning it. */
export async function maxRun(
  ctx: Context,
  z: Zenmesh,
  sources: Source[],
  size: number,
  ms: number,
  label: string,
): Promise<LoadResult> {
  const make = githubRequests(sources, size);
  await runLoad({
    origin: z.ingest,
    connections: CONNECTIONS,
    durationMs: ctx.d.warmMs,
    maxRequests: 1e6,
    make,
  });
  ctx.log(`${label}: max rate, ${size / KiB} KiB, ${ms / 1000} s`);
  const r = await runLoad({
    origin: z.ingest,
    connections: CONNECTIONS,
    durationMs: ms,
    maxRequests: maxRequests(ms),
    make,
  });
  ctx.log(`${label}: ${r.rps} req/s, p99 ${r.latency_ms.p99} ms, errors ${r.non_2xx + r.socket_errors}`);
  return r;
}

export async function halfRun(
  ctx: Context,
  z: Zenmesh,
  sources: Source[],
  max: LoadResult,
  label: string,
): Promise<LoadResult> {
  const rate = Math.max(1, max.rps / 2);
  ctx.log(`${label}: half rate (${Math.round(rate)} req/s), ${ctx.d.rateMs / 1000} s`);
  const r = await runLoad({
    origin: z.ingest,
    connections: CONNECTIONS,
    durationMs: ctx.d.rateMs,
    maxRequests: maxRequests(ctx.d.rateMs),
    rate,
    make: githubRequests(sources, KiB),
  });
  ctx.log(`${label}: p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms at ${r.rps} req/s`);
  return r;
}

export function warnings(z: Zenmesh): { count: number; samples: string[] } {
  const lines = z.problems();
  const seen = new Map<string, number>();
  for (const l of lines) {
    let key = l.slice(0, 300);
    try {
      const j = JSON.parse(l) as { msg?: string; name?: string; err?: { message?: string } };
      key = `${j.name ?? "?"}: ${j.msg ?? ""}${j.err?.message ? ` (${j.err.message})` : ""}`.slice(0, 300);
    } catch {}
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return { count: lines.length, samples: [...seen].slice(0, 8).map(([k, n]) => `${n}× ${k}`) };
}

async function ingestOn(ctx: Context, scenario: string, opts: StartOptions, cliEnv: Record<string, string>) {
  await ctx.ceiling.max(KiB);
  await ctx.ceiling.half();
  const z = await startZenmesh({
    ...ctx.zenmeshOptions,
    ...opts,
    env: { ...ctx.zenmeshOptions.env, ...opts.env },
  });
  try {
    ctx.notePids(scenario, z.pids());
    const t = createTenantCli(z, "acme", cliEnv);
    const s = await createSource(z, t);
    await warmSource(z, s);
    const rss = sampleRss(z, 1000);
    const max = await maxRun(ctx, z, [s], KiB, ctx.d.maxMs, scenario);
    const peak = rss.stop().peak;
    const half = await halfRun(ctx, z, [s], max, scenario);
    return { max, half, rss_peak_under_load_mib: peak, role_exits: z.exits(), warnings: warnings(z) };
  } finally {
    ctx.notePids(scenario, z.pids());
    await z.stop();
  }
}

export function ingestEmbedded(ctx: Context): Promise<IngestResult> {
  return ingestOn(ctx, "ingest", {}, {});
}

export async function ingestPostgres(ctx: Context): Promise<IngestResult> {
  const why = await postgresReachable();
  if (why) throw Object.assign(new Error(why), { name: "Skip" });
  const db = await createBenchDatabase();
  try {
    const r = await ingestOn(
      ctx,
      "postgres",
      { args: ["--database-url", db.url], env: { ZENMESH_REDIS_URL: REDIS_URL } },
      { ZENMESH_DATABASE_URL: db.url },
    );
    return {
      ...r,
      note:
        `fresh database ${db.name} as user postgres, trust auth, no TLS (the dev profile); internal hops mTLS as always. ` +
        "Production's verify-full TLS to the database is not set up on this machine.",
    };
  } finally {
    await db.drop();
  }
}
