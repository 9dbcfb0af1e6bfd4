/**
 * Scaling: payload size (1 / 16 / 256 KiB, the ceiling at the same size) and
 * tenant count (1 vs many tenants, each with its own github source, the load
 * spread evenly across their sources).
 */
import type { Context } from "../lib/context.ts";
import { type LoadResult, round } from "../lib/load.ts";
import { KiB } from "../lib/webhooks.ts";
import {
  createSource,
  createTenantCli,
  createTenantsBulk,
  type Source,
  startZenmesh,
  warmSource,
} from "../lib/zenmesh.ts";
import { maxRun, warnings } from "./ingest.ts";

export const SIZES = [KiB, 16 * KiB, 256 * KiB];

export interface PayloadResult {
  sizes: Record<string, { zenmesh: LoadResult; ceiling: LoadResult; ratio: number }>;
  role_exits: string[];
  warnings: { count: number; samples: string[] };
}

export async function payload(ctx: Context): Promise<PayloadResult> {
  // The ceiling first, while nothing else runs.
  for (const size of SIZES) await ctx.ceiling.max(size);
  const z = await startZenmesh(ctx.zenmeshOptions);
  try {
    ctx.notePids("payload", z.pids());
    const t = createTenantCli(z, "acme");
    const s = await createSource(z, t);
    await warmSource(z, s);
    const sizes: PayloadResult["sizes"] = {};
    for (const size of SIZES) {
      const zen = await maxRun(ctx, z, [s], size, ctx.d.sizeMs, `payload ${size / KiB} KiB`);
      const ceiling = await ctx.ceiling.max(size);
      sizes[`${size / KiB}KiB`] = { zenmesh: zen, ceiling, ratio: round(zen.rps / ceiling.rps, 4) };
    }
    return { sizes, role_exits: z.exits(), warnings: warnings(z) };
  } finally {
    ctx.notePids("payload", z.pids());
    await z.stop();
  }
}

export interface TenantsResult {
  tenants: number;
  create_tenants_s: number;
  create_sources_s: number;
  one: LoadResult;
  many: LoadResult;
  role_exits: string[];
  warnings: { count: number; samples: string[] };
}

async function pooled<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

export async function tenants(ctx: Context): Promise<TenantsResult> {
  await ctx.ceiling.max(KiB);
  const z = await startZenmesh(ctx.zenmeshOptions);
  try {
    ctx.notePids("tenants", z.pids());
    const n = ctx.d.tenants;
    ctx.log(`tenants: creating ${n} tenants, each with a source`);
    const t0 = performance.now();
    // The first through the CLI itself; the rest through its operator client, in-process.
    const first = createTenantCli(z, "bench tenant cli");
    const rest = await createTenantsBulk(z, n - 1, 8);
    const all = [first, ...rest];
    const t1 = performance.now();
    const sources: Source[] = await pooled(all.length, 8, (i) => createSource(z, all[i]!));
    await pooled(sources.length, 8, (i) => warmSource(z, sources[i]!));
    const t2 = performance.now();
    ctx.log(
      `tenants: ${n} created in ${round((t1 - t0) / 1000, 1)} s, sources in ${round((t2 - t1) / 1000, 1)} s`,
    );
    const one = await maxRun(ctx, z, [sources[0]!], KiB, ctx.d.sizeMs, "tenants: 1 tenant");
    const many = await maxRun(ctx, z, sources, KiB, ctx.d.sizeMs, `tenants: ${n} tenants`);
    return {
      tenants: n,
      create_tenants_s: round((t1 - t0) / 1000, 1),
      create_sources_s: round((t2 - t1) / 1000, 1),
      one,
      many,
      role_exits: z.exits(),
      warnings: warnings(z),
    };
  } finally {
    ctx.notePids("tenants", z.pids());
    await z.stop();
  }
}
