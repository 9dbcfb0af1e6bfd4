/**
 * Numbered SQL migrations (src/db/migrations/NNNN_name.sql), applied in order
 * as the schema owner, each in its own transaction. An applied migration whose
 * file changed is drift, and refuses to continue. Then the tenant fence's keys
 * (one per master key version, see fence.ts) are stored, or checked against
 * what is stored: a database fenced with another master key refuses to open.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isZenError, ZenError } from "../core/index.ts";
import type { Driver, Tx } from "./types.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

const DIR = fileURLToPath(new URL("./migrations/", import.meta.url));

let cached: Migration[] | undefined;

export function loadMigrations(): Migration[] {
  if (cached) return cached;
  const files = readdirSync(DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  cached = files.map((file) => {
    const sql = readFileSync(DIR + file, "utf8");
    return {
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
    };
  });
  return cached;
}

/** A digest of every migration: names a test template that matches this schema. */
export function schemaFingerprint(): string {
  const h = createHash("sha256");
  for (const m of loadMigrations()) h.update(`${m.version}:${m.checksum}\n`);
  return h.digest("hex").slice(0, 16);
}

const ENSURE_TABLE = `create table if not exists schema_migrations (
  version integer primary key, name text not null, checksum text not null,
  applied_at timestamptz not null default now())`;

async function applied(tx: Tx): Promise<Map<number, string>> {
  const r = await tx.query<{ version: number; checksum: string }>(
    "select version, checksum from schema_migrations order by version",
  );
  return new Map(r.rows.map((row) => [Number(row.version), row.checksum]));
}

function checkDrift(done: Map<number, string>, all: Migration[]): void {
  for (const m of all) {
    const sum = done.get(m.version);
    if (sum !== undefined && sum !== m.checksum) {
      throw new ZenError("CONFIG_INVALID", {
        message: `migration ${m.version}_${m.name} was changed after it was applied`,
      });
    }
  }
  const known = new Set(all.map((m) => m.version));
  for (const v of done.keys()) {
    if (!known.has(v)) {
      throw new ZenError("CONFIG_INVALID", {
        message: `the database has migration ${v}, which this build does not know: it is newer than this build`,
      });
    }
  }
}

/** Applies pending migrations and stores the fence's keys; returns the versions applied. */
export async function migrate(driver: Driver, opts: { fenceKeys?: boolean } = {}): Promise<number[]> {
  const all = loadMigrations();
  const appliedNow: number[] = [];
  await driver.owner(async (tx) => {
    if (driver.kind === "postgres") await tx.query("select pg_advisory_xact_lock(7243001)");
    await tx.query(ENSURE_TABLE);
  });
  for (const m of all) {
    await driver.owner(async (tx) => {
      if (driver.kind === "postgres") await tx.query("select pg_advisory_xact_lock(7243001)");
      const done = await applied(tx);
      checkDrift(done, all);
      if (done.has(m.version)) return;
      await tx.script(m.sql);
      await tx.query("insert into schema_migrations (version, name, checksum) values ($1, $2, $3)", [
        m.version,
        m.name,
        m.checksum,
      ]);
      appliedNow.push(m.version);
    });
  }
  // The first migration creates the runtime role; grant it read of the ledger.
  // Under the lock too: concurrent GRANTs on one object fail with "tuple concurrently updated".
  await driver.owner(async (tx) => {
    if (driver.kind === "postgres") await tx.query("select pg_advisory_xact_lock(7243001)");
    await tx.query("grant select on schema_migrations to zenmesh_app");
  });
  // The owner compares what is stored with what this ring derives: equal keys mean the
  // policies accept this process's context (a runtime probe would also need the owner login
  // to be a member of the runtime role).
  if (opts.fenceKeys ?? true) await storeFenceKeys(driver);
  return appliedNow;
}

const FENCE_MISMATCH =
  "this database's tenant fence was set up with another master key: open it with the master key it was migrated with";

/**
 * Stores the key of each master key version the database does not have yet, and refuses if
 * one it has differs (another master key under the same version number). Keys are never
 * replaced: the contexts every running process signs must stay valid.
 */
async function storeFenceKeys(driver: Driver): Promise<void> {
  const rows = driver.fence.rows();
  await driver.owner(async (tx) => {
    if (driver.kind === "postgres") await tx.query("select pg_advisory_xact_lock(7243001)");
    for (const row of rows) {
      await tx.query(
        "insert into zm_fence_keys (version, ipad, opad) values ($1, $2, $3) on conflict (version) do nothing",
        [row.version, row.ipad, row.opad],
      );
    }
    const stored = await tx.query<{ version: number; ipad: Uint8Array; opad: Uint8Array }>(
      "select version, ipad, opad from zm_fence_keys where version = any($1::integer[])",
      [rows.map((r) => r.version)],
    );
    for (const have of stored.rows) {
      const want = rows.find((r) => r.version === Number(have.version));
      const same =
        want !== undefined &&
        have.ipad.length === want.ipad.length &&
        have.opad.length === want.opad.length &&
        timingSafeEqual(have.ipad, want.ipad) &&
        timingSafeEqual(have.opad, want.opad);
      if (!same) {
        throw new ZenError("CONFIG_INVALID", {
          message: `${FENCE_MISMATCH} (master key version ${Number(have.version)} differs)`,
        });
      }
    }
  });
}

const FENCE_PROBE = "zm_fence_probe";

/**
 * As the runtime role: the context this process signs must be one the policies accept.
 * Refuses a database that lacks the active version's key (not migrated with this master
 * key ring) or holds another key under it.
 */
async function assertFenceOpens(driver: Driver): Promise<void> {
  const seen = await driver.runtime({ tenantId: FENCE_PROBE }, async (tx) => {
    const r = await tx.query<{ t: string | null; versions: number[] }>(
      "select zm_fence_tenant() as t, zm_fence_versions() as versions",
    );
    return r.rows[0];
  });
  if (seen?.t === FENCE_PROBE) return;
  const active = driver.fence.active;
  if (!(seen?.versions ?? []).map(Number).includes(active)) {
    throw new ZenError("CONFIG_INVALID", {
      message: `the database has no tenant fence key for master key version ${active}: run \`zenmesh migrate\` with this master key`,
    });
  }
  throw new ZenError("CONFIG_INVALID", {
    message: `${FENCE_MISMATCH} (master key version ${active} differs)`,
  });
}

/** For a runtime that may not migrate: refuse to run against an out-of-date schema. */
export async function assertSchemaCurrent(driver: Driver): Promise<void> {
  const all = loadMigrations();
  const done = await driver
    .runtime({}, (tx) => applied(tx))
    .catch((err: unknown) => {
      // An unreachable database stays DATABASE_UNAVAILABLE (retryable), not a schema problem.
      if (isZenError(err)) throw err;
      throw new ZenError("CONFIG_INVALID", {
        message: "the database has no zenmesh schema: run `zenmesh migrate` with the owner connection",
        cause: err,
      });
    });
  checkDrift(done, all);
  const missing = all.filter((m) => !done.has(m.version));
  if (missing.length > 0) {
    throw new ZenError("CONFIG_INVALID", {
      message: `the database schema is behind (missing ${missing.map((m) => m.version).join(", ")}): run \`zenmesh migrate\``,
    });
  }
  await assertFenceOpens(driver);
}
