/**
 * Fresh databases for tests, on both drivers. Each test gets its own database
 * copied from a template that `scripts/test.ts` migrated once per schema
 * version: PGlite's data dir is copied (reopening costs ~0.5 s, a fresh init
 * ~3.5 s); PostgreSQL's is `CREATE DATABASE … TEMPLATE`.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import {
  type DriverKind,
  type OpenedDatabase,
  openDatabase,
  type TenantFence,
  tenantFence,
  wrapDriver,
} from "../../src/db/index.ts";
import { openPglite } from "../../src/db/pglite.ts";
import { generateMasterKey, parseMasterKeyRing } from "../../src/zenlock/index.ts";
import {
  PG_ADMIN_URL,
  PG_APP_ROLE,
  PG_OWNER_ROLE,
  PG_TEMPLATE,
  PGLITE_TEMPLATE,
  pgUrl,
  postgresSkipReason,
} from "./env.ts";

export interface TestDatabase {
  kind: DriverKind;
  db: OpenedDatabase;
  /** Runs SQL with full privileges (superuser), for tampering and inspection in tests. */
  admin<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** For PostgreSQL: connection URLs of the runtime and owner roles. */
  urls?: { runtime: string; owner: string; admin: string };
  close(): Promise<void>;
}

export const DRIVERS: DriverKind[] = ["pglite", "postgres"];

/** The master key ring every test database of this process is fenced with (versions 1 and 2, 2 active). */
export const TEST_MASTER_KEYS = parseMasterKeyRing(
  `v1:${generateMasterKey()},v2:${generateMasterKey()},active=2`,
  "test",
);
/** Signs the tenant context of every test database (a second handle on one must use it too). */
export const TEST_FENCE: TenantFence = tenantFence(TEST_MASTER_KEYS);

export function skipReason(kind: DriverKind): string | undefined {
  return kind === "postgres" ? postgresSkipReason() : undefined;
}

async function freshPglite(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "zm-pglite-"));
  if (PGLITE_TEMPLATE) cpSync(PGLITE_TEMPLATE, dir, { recursive: true });
  // Tests may reach under the fence: PGlite's one session is a superuser.
  const driver = await openPglite(dir, TEST_FENCE);
  const db = wrapDriver(driver);
  await db.migrate();
  const admin = async <T>(sql: string, params?: unknown[]) =>
    driver.owner(async (tx) => (await tx.query<T>(sql, params)).rows);
  return {
    kind: "pglite",
    db,
    admin,
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function adminQuery<T>(url: string, sql: string, params?: unknown[]): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

async function freshPostgres(): Promise<TestDatabase> {
  const name = `zm_t_${randomBytes(6).toString("hex")}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(
        PG_ADMIN_URL,
        `create database ${name} template ${PG_TEMPLATE} owner ${PG_OWNER_ROLE}`,
      );
      break;
    } catch (err) {
      // Two copies of one template at the same instant collide; try again.
      if (attempt >= 20 || !/being accessed by other users/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  const urls = {
    runtime: pgUrl(PG_APP_ROLE, name),
    owner: pgUrl(PG_OWNER_ROLE, name),
    admin: pgUrl(new URL(PG_ADMIN_URL).username || "postgres", name),
  };
  const db = await openDatabase({
    kind: "postgres",
    url: urls.runtime,
    ownerUrl: urls.owner,
    poolSize: 4,
    fence: TEST_FENCE,
  });
  return {
    kind: "postgres",
    db,
    urls,
    admin: (sql, params) => adminQuery(urls.admin, sql, params),
    async close() {
      await db.close();
      await adminQuery(PG_ADMIN_URL, `drop database if exists ${name} with (force)`);
    },
  };
}

export function freshDatabase(kind: DriverKind): Promise<TestDatabase> {
  return kind === "pglite" ? freshPglite() : freshPostgres();
}
