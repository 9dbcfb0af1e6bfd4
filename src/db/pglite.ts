/**
 * Embedded driver: PostgreSQL compiled to WASM, in-process, data under the
 * data dir. PGlite has one session whose user is a superuser, so every runtime
 * transaction switches to the NOSUPERUSER NOBYPASSRLS runtime role first: here
 * Row Level Security guards against our own bugs (against an attacker, use
 * real PostgreSQL with a non-owner login role).
 */
import { PGlite } from "@electric-sql/pglite";
import { applyContext } from "./context.ts";
import type { TenantFence } from "./fence.ts";
import type { DbContext, Driver, OwnerTx, QueryResult, Row, Tx } from "./types.ts";

type PgliteTx = {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
};

function wrap(tx: PgliteTx): OwnerTx {
  return {
    async script(sql: string): Promise<void> {
      await tx.exec(sql);
    },
    async query<T = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await tx.query<T>(sql, params ? [...params] : undefined);
      // PGlite reports affectedRows 0 for a SELECT; pg counts the rows returned.
      return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
    },
  };
}

const SHARED_BUFFERS = "32MB";
const MAINTENANCE_WORK_MEM = "8MB";
// ANALYZE samples 300 rows per unit of target: 7,500 instead of 30,000. A maintenance run holds the
// database, and sampling the events table at the default took about 350 ms whatever had changed.
const STATISTICS_TARGET = 25;

export async function openPglite(dataDir: string | undefined, fence: TenantFence): Promise<Driver> {
  // PGlite's default shared_buffers (128 MB) lives in the WebAssembly heap, which never shrinks;
  // the embedded default serves one installation, and the OS page cache still holds the files.
  // Likewise VACUUM's working memory (default 64 MB), which the backend's maintenance runs would leave grown.
  const db = await PGlite.create(dataDir, {
    postgresqlconf: [
      `shared_buffers=${SHARED_BUFFERS}`,
      `maintenance_work_mem=${MAINTENANCE_WORK_MEM}`,
      `default_statistics_target=${STATISTICS_TARGET}`,
    ],
  });
  return {
    kind: "pglite",
    fence,
    runtime<T>(ctx: DbContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
      return db.transaction(async (raw) => {
        const tx = wrap(raw as unknown as PgliteTx);
        await applyContext(tx, ctx, fence);
        return fn(tx);
      });
    },
    session<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return db.transaction((raw) => fn(wrap(raw as unknown as PgliteTx)));
    },
    owner<T>(fn: (tx: OwnerTx) => Promise<T>): Promise<T> {
      return db.transaction((raw) => fn(wrap(raw as unknown as PgliteTx)));
    },
    async vacuum(table) {
      // The name comes from the caller's fixed list, never from input; it is checked to be a plain identifier.
      if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`not a table name: ${table}`);
      await db.exec(`VACUUM (ANALYZE) ${table}`);
    },
    async close() {
      await db.close();
    },
  };
}
