/**
 * Migrations: idempotent, refuse drift (a changed applied file, or a database
 * newer than this build), refuse to run a runtime against a missing or stale
 * schema, and serialize concurrent migrators with an advisory lock.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, before, beforeEach, describe, test } from "node:test";
import pg from "pg";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { PG_ADMIN_URL, PG_APP_ROLE, PG_OWNER_ROLE, pgUrl } from "../../test/support/env.ts";
import { isZenError } from "../core/index.ts";
import { type OpenedDatabase, openDatabase, wrapDriver } from "./index.ts";
import { loadMigrations } from "./migrate.ts";
import { openPostgres } from "./postgres.ts";

const VERSIONS = loadMigrations().map((m) => m.version);

function configInvalid(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isZenError(err), String(err));
    assert.equal(err.code, "CONFIG_INVALID");
    assert.match(err.message, pattern);
    return true;
  };
}

async function adminQuery<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

/** Opens the test database again as a runtime that may not migrate (PostgreSQL only). */
function openRuntime(t: TestDatabase): Promise<OpenedDatabase> {
  assert.ok(t.urls);
  return openDatabase(
    { kind: "postgres", url: t.urls.runtime, ownerUrl: t.urls.owner, poolSize: 1 },
    { migrate: false },
  );
}

for (const kind of DRIVERS) {
  describe(`migrations on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    beforeEach(async () => {
      t = await freshDatabase(kind);
    });
    afterEach(async () => {
      await t?.close();
    });

    test("migrating an already-migrated database applies nothing", async () => {
      assert.deepEqual(await t.db.migrate(), []);
      const rows = await t.admin<{ version: number }>(
        "select version from schema_migrations order by version",
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        VERSIONS,
      );
    });

    test("refuses a migration that changed after it was applied", async () => {
      await t.admin("update schema_migrations set checksum = 'tampered' where version = $1", [VERSIONS[0]]);
      await assert.rejects(t.db.migrate(), configInvalid(/changed after it was applied/));
      if (kind === "postgres")
        await assert.rejects(openRuntime(t), configInvalid(/changed after it was applied/));
    });

    test("refuses a database with a migration this build does not know", async () => {
      await t.admin(
        "insert into schema_migrations (version, name, checksum) values (9999, 'from_the_future', 'x')",
      );
      await assert.rejects(t.db.migrate(), configInvalid(/9999.*newer than this build/));
      if (kind === "postgres")
        await assert.rejects(openRuntime(t), configInvalid(/9999.*newer than this build/));
    });

    if (kind === "postgres") {
      test("a runtime opens an up-to-date database without migrating", async () => {
        const db = await openRuntime(t);
        try {
          await db.ping();
        } finally {
          await db.close();
        }
      });

      test("a runtime refuses a database that is behind and says to run zenmesh migrate", async () => {
        await t.admin("delete from schema_migrations where version = $1", [VERSIONS.at(-1)]);
        await assert.rejects(openRuntime(t), configInvalid(/behind.*`zenmesh migrate`/));
      });
    }
  });
}

describe("a fresh postgres database", { skip: skipReason("postgres") }, () => {
  let name: string;
  before(() => {
    name = `zm_t_mig_${randomBytes(6).toString("hex")}`;
  });
  beforeEach(async () => {
    await adminQuery(`create database ${name} owner ${PG_OWNER_ROLE}`);
  });
  afterEach(async () => {
    await adminQuery(`drop database if exists ${name} with (force)`);
  });
  const runtimeUrl = () => pgUrl(PG_APP_ROLE, name);
  const ownerUrl = () => pgUrl(PG_OWNER_ROLE, name);

  test("a runtime refuses an empty database and tells the operator to run zenmesh migrate", async () => {
    await assert.rejects(
      openDatabase({ kind: "postgres", url: runtimeUrl(), poolSize: 1 }, { migrate: false }),
      configInvalid(/no zenmesh schema: run `zenmesh migrate`/),
    );
  });

  test("concurrent migrations all succeed and apply each migration once", async () => {
    const open = async () =>
      wrapDriver(await openPostgres({ url: runtimeUrl(), ownerUrl: ownerUrl(), poolSize: 1 }));
    const migrators = await Promise.all([open(), open(), open()]);
    try {
      const applied = await Promise.all(migrators.map((db) => db.migrate()));
      assert.deepEqual(
        applied.flat().sort((x, y) => x - y),
        VERSIONS,
      );
    } finally {
      await Promise.all(migrators.map((db) => db.close()));
    }
    const runtime = await openDatabase(
      { kind: "postgres", url: runtimeUrl(), poolSize: 1 },
      { migrate: false },
    );
    try {
      const ledger = await runtime.withGlobal((tx) =>
        tx.query<{ version: number }>("select version from schema_migrations order by version"),
      );
      assert.deepEqual(
        ledger.rows.map((r) => r.version),
        VERSIONS,
      );
    } finally {
      await runtime.close();
    }
  });
});
