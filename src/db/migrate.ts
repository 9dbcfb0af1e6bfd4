/**
 * Numbered SQL migrations (src/db/migrations/NNNN_name.sql), applied in order
 * as the schema owner, each in its own transaction. An applied migration whose
 * file changed is drift, and refuses to continue.
 */
import { createHash } from "node:crypto";
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

/** Applies pending migrations; returns the versions applied. */
export async function migrate(driver: Driver): Promise<number[]> {
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
  return appliedNow;
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
}
