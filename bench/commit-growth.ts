/**
 * The backend's ingest commit, in process, as its tables grow: batches of
 * stored events (one tenant, one source, 1 KiB bodies) committed back to back,
 * with the time of every statement. Shows whether a batch costs the same at
 * 50,000 events as at the first: a statement whose time grows round by round
 * is a scan of a growing table. Ends with a maintenance run (VACUUM ANALYZE
 * of the churning tables) on the grown database.
 *
 *   node bench/commit-growth.ts                 # PGlite, 6 rounds of 250 batches of 32
 *   node bench/commit-growth.ts --postgres      # the local PostgreSQL (a database of its own, dropped after)
 *   node bench/commit-growth.ts --rounds 3 --batch 16
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newId, systemClock } from "../src/core/index.ts";
import { tenantFence, wrapDriver } from "../src/db/index.ts";
import { openPglite } from "../src/db/pglite.ts";
import { openPostgres } from "../src/db/postgres.ts";
import type { DbContext, Driver, Tx } from "../src/db/types.ts";
import { persistBatch } from "../src/ingest/store/persist.ts";
import { createTestTenant, testIngestDeps, testItem } from "../src/ingest/store/testing.ts";
import { generateMasterKey, parseMasterKeyRing } from "../src/zenlock/index.ts";
import { runCleanups } from "./lib/cleanup.ts";
import { createBenchDatabase } from "./lib/postgres.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const postgres = args.includes("--postgres");
const ROUNDS = flag("--rounds", 6);
const BATCH = flag("--batch", 32);
const BATCHES_PER_ROUND = 250;

const times = new Map<string, { n: number; ms: number }>();
// Timed in place: the driver's own transaction object stays the one it fenced, as in production.
const timed = (tx: Tx): Tx => {
  const query = tx.query.bind(tx);
  tx.query = (async (sql: string, params?: readonly unknown[]) => {
    const t0 = performance.now();
    try {
      return await query(sql, params);
    } finally {
      const key = sql.replace(/\s+/g, " ").trim().slice(0, 64);
      const e = times.get(key) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += performance.now() - t0;
      times.set(key, e);
    }
  }) as Tx["query"];
  return tx;
};

let dir: string | undefined;
let driver: Driver;
const fence = tenantFence(parseMasterKeyRing(generateMasterKey(), "bench"));
if (postgres) {
  const bench = await createBenchDatabase();
  driver = await openPostgres({ url: bench.url, poolSize: 4, fence });
} else {
  dir = mkdtempSync(join(tmpdir(), "zm-growth-"));
  driver = await openPglite(dir, fence);
}
const timedDriver: Driver = {
  ...driver,
  runtime: <T>(ctx: DbContext, fn: (tx: Tx) => Promise<T>) => driver.runtime(ctx, (tx) => fn(timed(tx))),
};
const db = wrapDriver(timedDriver);
try {
  await db.migrate();
  const deps = testIngestDeps(db);
  const source = (await createTestTenant(deps, "growth")).sourceId;
  console.log(
    `${postgres ? "PostgreSQL" : "PGlite"}: ${ROUNDS} rounds of ${BATCHES_PER_ROUND} batches of ${BATCH}`,
  );
  for (let round = 0; round < ROUNDS; round++) {
    times.clear();
    const t0 = performance.now();
    for (let i = 0; i < BATCHES_PER_ROUND; i++) {
      const items = Array.from({ length: BATCH }, () =>
        testItem(source, systemClock.now(), {
          text: JSON.stringify({ n: newId("event"), pad: "x".repeat(960) }),
        }),
      );
      await persistBatch(deps, items);
    }
    const ms = performance.now() - t0;
    const stored = (round + 1) * BATCHES_PER_ROUND * BATCH;
    console.log(
      `round ${round} (${stored} events stored): ${Math.round(((BATCHES_PER_ROUND * BATCH) / ms) * 1000)} events/s, ${(ms / BATCHES_PER_ROUND).toFixed(1)} ms per batch`,
    );
    for (const [sql, v] of [...times].sort((a, b) => b[1].ms - a[1].ms).slice(0, 5)) {
      console.log(`   ${(v.ms / BATCHES_PER_ROUND).toFixed(2)} ms/batch  ×${v.n}  ${sql}`);
    }
  }
  const m = await db.maintain();
  console.log(
    m.ran
      ? `maintenance (VACUUM ANALYZE of the churning tables): ${m.ms} ms; per table ${JSON.stringify(m.tables)}`
      : "maintenance: left to autovacuum",
  );
} finally {
  await db.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await runCleanups();
}
