/**
 * PostgreSQL driver over `pg`. The runtime pool connects as the login role from
 * the database URL (NOSUPERUSER NOBYPASSRLS, not the table owner, a member of
 * the runtime group role); the owner connection is used only for migrations.
 */
import pg from "pg";
import { applyContext } from "./context.ts";
import { mapDriverError } from "./errors.ts";
import type { TenantFence } from "./fence.ts";
import type { DbContext, Driver, OwnerTx, QueryResult, Row, Tx } from "./types.ts";

export interface PostgresOptions {
  url: string;
  /** Owner connection for migrations; defaults to `url` (dev only). */
  ownerUrl?: string | undefined;
  poolSize?: number;
  /** Extra TLS options (CA bundle) merged with what the URL says. */
  ssl?: pg.ConnectionConfig["ssl"];
  applicationName?: string;
  /** Signs the runtime context (see fence.ts). */
  fence: TenantFence;
}

function wrap(client: pg.PoolClient | pg.Client): OwnerTx {
  return {
    async script(sql: string): Promise<void> {
      await client.query(sql);
    },
    async query<T = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await client.query(sql, params ? [...params] : undefined);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
  };
}

async function inTransaction<T>(
  client: pg.PoolClient | pg.Client,
  fn: (tx: OwnerTx) => Promise<T>,
  ctx?: { ctx: DbContext; fence: TenantFence },
) {
  await client.query("begin");
  try {
    const tx = wrap(client);
    if (ctx) await applyContext(tx, ctx.ctx, ctx.fence);
    const out = await fn(tx);
    await client.query("commit");
    return out;
  } catch (err) {
    try {
      await client.query("rollback");
    } catch {
      // the connection is already broken; the caller sees the original error
    }
    throw err;
  }
}

export async function openPostgres(opts: PostgresOptions): Promise<Driver> {
  const base = { application_name: opts.applicationName ?? "zenmesh" };
  const pool = new pg.Pool({
    ...base,
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    ...(opts.ssl === undefined ? {} : { ssl: opts.ssl }),
  });
  // An idle client that loses its server must not crash the process.
  pool.on("error", () => {});

  async function pooled<T>(fn: (tx: Tx) => Promise<T>, ctx: DbContext | undefined): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw mapDriverError(err);
    }
    let broken: Error | undefined;
    // The pool drops its own error listener while a client is checked out: a server that goes away
    // mid-transaction would otherwise raise an unhandled 'error' and take the process down. The
    // transaction's query fails on its own; the client is then released as broken.
    const onError = (err: Error) => {
      broken ??= err;
    };
    client.on("error", onError);
    try {
      return await inTransaction(client, fn, ctx && { ctx, fence: opts.fence });
    } catch (err) {
      const mapped = mapDriverError(err);
      if (mapped !== err) broken ??= err as Error;
      throw mapped;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }

  return {
    kind: "postgres",
    fence: opts.fence,
    runtime<T>(ctx: DbContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
      return pooled(fn, ctx);
    },
    session<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return pooled(fn, undefined);
    },
    async owner<T>(fn: (tx: OwnerTx) => Promise<T>): Promise<T> {
      const client = new pg.Client({
        ...base,
        connectionString: opts.ownerUrl ?? opts.url,
        connectionTimeoutMillis: 5_000,
        ...(opts.ssl === undefined ? {} : { ssl: opts.ssl }),
      });
      client.on("error", () => {});
      try {
        await client.connect();
      } catch (err) {
        throw mapDriverError(err);
      }
      try {
        return await inTransaction(client, fn);
      } finally {
        await client.end().catch(() => {});
      }
    },
    async close() {
      await pool.end();
    },
  };
}
