/**
 * Storage. The rest of the codebase receives a `Database` and can only run
 * transactions fenced by Row Level Security (`withTenant`, `withUser`,
 * `withGlobal`); the pool, the drivers and the owner connection stay here.
 */
import { mkdirSync } from "node:fs";
import { ZenError } from "../core/index.ts";
import type { TenantFence } from "./fence.ts";
import { assertSchemaCurrent, migrate } from "./migrate.ts";
import { openPglite } from "./pglite.ts";
import { openPostgres } from "./postgres.ts";
import type { Database, Driver } from "./types.ts";

export { assertFencedTo, RUNTIME_ROLE } from "./context.ts";
export { isUniqueViolation, sqlState } from "./errors.ts";
export { type FenceKeySource, type TenantFence, tenantFence } from "./fence.ts";
export { schemaFingerprint } from "./migrate.ts";
export type { Database, DbContext, DriverKind, QueryResult, Row, Tx } from "./types.ts";

export type DatabaseOptions = (
  | { kind: "pglite"; dataDir: string | undefined }
  | {
      kind: "postgres";
      url: string;
      ownerUrl?: string | undefined;
      poolSize?: number;
      ssl?: import("pg").ConnectionConfig["ssl"];
    }
) & {
  /** Signs the tenant context the policies accept: `tenantFence(masterKeyRing)`. */
  fence: TenantFence;
};

export interface OpenOptions {
  /** Apply pending migrations as the owner before returning (default true). */
  migrate?: boolean;
  /**
   * With `migrate`: store the fence's keys and check the database accepts its context
   * (default true). False only to build a schema template that is copied before first use,
   * so that each copy takes the keys of whoever opens it first.
   */
  fenceKeys?: boolean;
}

export interface RuntimeRoleReport {
  sessionUser: string;
  superuser: boolean;
  bypassRls: boolean;
  /** Tables in the public schema owned by, or reachable by SET ROLE from, the login role. */
  ownedTables: string[];
}

export interface OpenedDatabase extends Database {
  /** Facts about the login role, for the production profile's refusal checks. */
  inspectRuntimeRole(): Promise<RuntimeRoleReport>;
  /** Apply pending migrations as the owner; returns the versions applied. */
  migrate(): Promise<number[]>;
  /**
   * Vacuums and analyzes the tables that churn, where nothing else does (the
   * embedded database has no autovacuum): without it their dead rows are
   * never reused, the files only grow, and the planner has no statistics.
   * Returns whether it ran, how long it took and how long each table took
   * (each table is one pause of the database); on PostgreSQL it does
   * nothing, as autovacuum does this.
   */
  maintain(): Promise<{ ran: boolean; ms: number; tables: Record<string, number> }>;
}

/**
 * Rows of these tables are updated or deleted all the time (queues, windows,
 * heads, gates); the others are append-mostly. Analyzed with them: the
 * tables their queries join.
 */
export const CHURN_TABLES = [
  "delivery_queue",
  "destination_gates",
  "ingest_replays",
  "hop_nonces",
  "audit_heads",
  "deliveries",
  "events",
  "source_directory",
] as const;

async function openDriver(opts: DatabaseOptions): Promise<Driver> {
  if (opts.kind === "pglite") {
    if (opts.dataDir !== undefined) mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    return openPglite(opts.dataDir, opts.fence);
  }
  return openPostgres(opts);
}

export function wrapDriver(driver: Driver): OpenedDatabase {
  return {
    kind: driver.kind,
    async withTenant(tenantId, fn) {
      if (typeof tenantId !== "string" || tenantId.length === 0) {
        throw new ZenError("INTERNAL", { message: "withTenant needs a tenant id" });
      }
      return driver.runtime({ tenantId }, fn);
    },
    async withUser(userId, fn) {
      if (typeof userId !== "string" || userId.length === 0) {
        throw new ZenError("INTERNAL", { message: "withUser needs a user id" });
      }
      return driver.runtime({ userId }, fn);
    },
    withGlobal(fn) {
      return driver.runtime({}, fn);
    },
    async ping() {
      await driver.runtime({}, (tx) => tx.query("select 1"));
    },
    close: () => driver.close(),
    migrate: () => migrate(driver),
    async maintain() {
      if (driver.vacuum === undefined) return { ran: false, ms: 0, tables: {} };
      const t0 = performance.now();
      const tables: Record<string, number> = {};
      // One table at a time: transactions waiting for the database run between them, so the
      // longest pause is one table's, not the sum.
      for (const table of CHURN_TABLES) {
        const t = performance.now();
        await driver.vacuum(table);
        tables[table] = Math.round(performance.now() - t);
      }
      return { ran: true, ms: Math.round(performance.now() - t0), tables };
    },
    async inspectRuntimeRole() {
      // As the login role itself: an owner login cannot switch to the runtime role.
      return driver.session(async (tx) => {
        const role = await tx.query<{ u: string; s: boolean; b: boolean }>(
          "select session_user as u, rolsuper as s, rolbypassrls as b from pg_roles where rolname = session_user",
        );
        const owned = await tx.query<{ t: string }>(
          `select tablename as t from pg_tables where schemaname = 'public'
             and (tableowner = session_user or pg_has_role(session_user, tableowner, 'MEMBER'))`,
        );
        const r = role.rows[0];
        return {
          sessionUser: r?.u ?? "",
          superuser: r?.s ?? true,
          bypassRls: r?.b ?? true,
          ownedTables: owned.rows.map((x) => x.t),
        };
      });
    },
  };
}

export async function openDatabase(opts: DatabaseOptions, open: OpenOptions = {}): Promise<OpenedDatabase> {
  const driver = await openDriver(opts);
  const db = wrapDriver(driver);
  try {
    if (open.migrate ?? true) await migrate(driver, { fenceKeys: open.fenceKeys ?? true });
    else await assertSchemaCurrent(driver);
  } catch (err) {
    await driver.close().catch(() => {});
    throw err;
  }
  return db;
}
