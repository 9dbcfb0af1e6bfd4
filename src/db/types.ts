import type { TenantFence } from "./fence.ts";

export type Row = Record<string, unknown>;

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

/** A transaction handle. Every statement runs inside one transaction. */
export interface Tx {
  query<T = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
}

/** The owner's transaction can also run a multi-statement script (migrations). */
export interface OwnerTx extends Tx {
  script(sql: string): Promise<void>;
}

/** What the runtime transaction is fenced to. Both empty means "no tenant": RLS shows nothing. */
export interface DbContext {
  tenantId?: string | null;
  userId?: string | null;
}

export type DriverKind = "pglite" | "postgres";

/** Internal driver contract; only src/db sees drivers. */
export interface Driver {
  readonly kind: DriverKind;
  /** Signs the runtime context; `migrate` stores its keys. */
  readonly fence: TenantFence;
  /** A transaction as the runtime role with the RLS context set (transaction-local). */
  runtime<T>(ctx: DbContext, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** A transaction as the login role itself, no role switch: inspecting the login role only. */
  session<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** A transaction as the schema owner: migrations and operator maintenance only. */
  owner<T>(fn: (tx: OwnerTx) => Promise<T>): Promise<T>;
  /**
   * VACUUM (ANALYZE) of one table, outside any transaction, where the
   * database does not do it by itself (PGlite has no autovacuum). Absent on
   * PostgreSQL, whose autovacuum does it.
   */
  vacuum?(table: string): Promise<void>;
  close(): Promise<void>;
}

/** The only database surface the rest of the codebase receives. */
export interface Database {
  readonly kind: DriverKind;
  /** Run `fn` in one transaction fenced to `tenantId` by Row Level Security. */
  withTenant<T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Run `fn` in one transaction that can see a user's own memberships across tenants. */
  withUser<T>(userId: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Run `fn` with no tenant context: only identity tables without tenant data
   * (users, sessions, api key lookup) are usable; every tenant table reads empty.
   */
  withGlobal<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Liveness probe for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
