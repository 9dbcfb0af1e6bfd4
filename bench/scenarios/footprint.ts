/**
 * Footprint: resident memory of every process of `zenmesh up` (supervisor,
 * backend, ingester, egress, bff) at idle and under load, and the time
 * `zenmesh up` takes to start on an existing data dir. Soak: long at half
 * the max rate, sampling memory to see whether any role grows.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onCleanup, trackDir, untrackDir } from "../lib/cleanup.ts";
import { CONNECTIONS, type Context, maxRequests } from "../lib/context.ts";
import { type LoadResult, round, runLoad } from "../lib/load.ts";
import { idleRss, type RoleMib, type RssSample, rssDetail, sampleRss } from "../lib/rss.ts";
import { slope } from "../lib/stats.ts";
import { githubRequests, KiB } from "../lib/webhooks.ts";
import { createSource, createTenantCli, ROLES, startZenmesh, warmSource } from "../lib/zenmesh.ts";
import { maxRun, warnings } from "./ingest.ts";

export interface FootprintResult {
  first_start_ms: number;
  stop_ms: number;
  /** Spawn to the `ready in` line, on the existing data dir. */
  start_ms: number;
  start_reported_ms: number;
  idle_mib: RoleMib;
  /** The idle RSS of each process split: anonymous memory (heaps, WASM) vs file-backed (code). */
  idle_detail_mib: ReturnType<typeof rssDetail>;
  idle_pss_total_mib: number;
  under_load_peak_mib: RoleMib;
  load: LoadResult;
  role_exits: string[];
  warnings: { count: number; samples: string[] };
}

export async function footprint(ctx: Context): Promise<FootprintResult> {
  const dir = mkdtempSync(join(tmpdir(), "zm-bench-foot-"));
  trackDir(dir);
  const forget = onCleanup(`data dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  try {
    ctx.log("footprint: first start (creates the data dir)");
    const first = await startZenmesh({ ...ctx.zenmeshOptions, dir });
    ctx.notePids("footprint first start", first.pids());
    const t = createTenantCli(first, "acme");
    const s = await createSource(first, t);
    await warmSource(first, s);
    const { stopMs } = await first.stop();
    ctx.log(`footprint: stopped (SIGINT) in ${stopMs} ms; second start, timed`);
    const z = await startZenmesh({ ...ctx.zenmeshOptions, dir });
    try {
      ctx.notePids("footprint", z.pids());
      ctx.log(`footprint: ready in ${z.spawnToReadyMs} ms from spawn; idle ${ctx.d.idleMs / 1000} s`);
      await new Promise((r) => setTimeout(r, ctx.d.idleMs));
      const idle = await idleRss(z, ctx.quick ? 3 : 5, ctx.quick ? 500 : 1000);
      const detail = rssDetail(z);
      ctx.log(`footprint: idle total ${idle.total} MiB`);
      await warmSource(z, s);
      const rss = sampleRss(z, 500);
      const load = await maxRun(ctx, z, [s], KiB, ctx.d.footLoadMs, "footprint under load");
      const peak = rss.stop().peak;
      return {
        first_start_ms: first.spawnToReadyMs,
        stop_ms: stopMs,
        start_ms: z.spawnToReadyMs,
        start_reported_ms: z.reportedReadyMs,
        idle_mib: idle,
        idle_detail_mib: detail,
        idle_pss_total_mib: round(
          Object.values(detail).reduce((a, x) => a + (Number.isFinite(x.pss) ? x.pss : 0), 0),
          1,
        ),
        under_load_peak_mib: peak,
        load,
        role_exits: [...first.exits(), ...z.exits()],
        warnings: warnings(z),
      };
    } finally {
      ctx.notePids("footprint", z.pids());
      await z.stop();
    }
  } finally {
    forget();
    rmSync(dir, { recursive: true, force: true });
    untrackDir(dir);
  }
}

export interface SoakResult {
  max: LoadResult;
  soak: LoadResult;
  errors: number;
  /** 2xx answers per second in each minute of the soak: whether zenmesh keeps up, or falls behind. */
  ok_per_s_by_minute: number[];
  samples: RssSample[];
  slope_mib_per_min: Record<string, number>;
  slope_second_half_mib_per_min: Record<string, number>;
  role_exits: string[];
  warnings: { count: number; samples: string[] };
}

export async function soak(ctx: Context): Promise<SoakResult> {
  // Measured here and again at the end of the run: whether the machine, not zenmesh, slowed down.
  await ctx.ceiling.max(KiB);
  const z = await startZenmesh(ctx.zenmeshOptions);
  try {
    ctx.notePids("soak", z.pids());
    const t = createTenantCli(z, "acme");
    const s = await createSource(z, t);
    await warmSource(z, s);
    const max = await maxRun(ctx, z, [s], KiB, ctx.d.maxMs, "soak: max");
    const rate = Math.max(1, max.rps / 2);
    ctx.log(
      `soak: ${ctx.d.soakMs / 60_000} min at ${Math.round(rate)} req/s, memory every ${ctx.d.soakSampleMs / 1000} s`,
    );
    const progress = { ok: 0, errors: 0 };
    const rss = sampleRss(z, ctx.d.soakSampleMs, () => ({ ...progress }));
    const run = await runLoad({
      origin: z.ingest,
      connections: CONNECTIONS,
      durationMs: ctx.d.soakMs,
      maxRequests: maxRequests(ctx.d.soakMs),
      rate,
      make: githubRequests([s], KiB),
      progress,
    });
    const { samples } = rss.stop();
    const byMinute: number[] = [];
    // Whole minutes of the soak only: a last partial bucket divides a few seconds' answers by their length.
    for (let m = 1; m <= Math.floor(Math.min(samples.at(-1)!.t_s, ctx.d.soakMs / 1000) / 60); m++) {
      const okAt = (t: number) => {
        const before = samples.filter((x) => x.t_s <= t);
        return before.at(-1) ?? samples[0]!;
      };
      const a = okAt((m - 1) * 60);
      const b = okAt(m * 60);
      const dt = b.t_s - a.t_s;
      if (dt > 0) byMinute.push(round(((b.extra?.ok ?? 0) - (a.extra?.ok ?? 0)) / dt, 0));
    }
    const slopesOf = (xs: typeof samples) => {
      const out: Record<string, number> = {};
      for (const k of [...ROLES, "total"] as const) {
        out[k] = round(
          slope(
            xs.map((x) => x.t_s / 60),
            xs.map((x) => x.mib[k]),
          ),
          2,
        );
      }
      return out;
    };
    const slopes = slopesOf(samples);
    // The first half includes the heaps growing to their working size; a leak shows in the second too.
    const late = slopesOf(samples.slice(Math.floor(samples.length / 2)));
    return {
      max,
      soak: run,
      errors: run.non_2xx + run.socket_errors + run.dropped + run.abandoned,
      ok_per_s_by_minute: byMinute,
      samples,
      slope_mib_per_min: slopes,
      slope_second_half_mib_per_min: late,
      role_exits: z.exits(),
      warnings: warnings(z),
    };
  } finally {
    ctx.notePids("soak", z.pids());
    await z.stop();
  }
}
