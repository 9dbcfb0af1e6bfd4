/**
 * Migrations: idempotent, refuse drift (a changed applied file, or a database
 * newer than this build), refuse to run a runtime against a missing or stale
 * schema, and serialize concurrent migrators with an advisory lock.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, before, beforeEach, describe, test } from "node:test";
import pg from "pg";
import {
  DRIVERS,
  freshDatabase,
  skipReason,
  TEST_FENCE,
  TEST_MASTER_KEYS,
  type TestDatabase,
} from "../../test/support/db.ts";
import { PG_ADMIN_URL, PG_APP_ROLE, PG_OWNER_ROLE, PGLITE_TEMPLATE, pgUrl } from "../../test/support/env.ts";
import { isZenError } from "../core/index.ts";
import { generateMasterKey, parseMasterKeyRing } from "../zenlock/index.ts";
import { type OpenedDatabase, openDatabase, type TenantFence, tenantFence, wrapDriver } from "./index.ts";
import { loadMigrations } from "./migrate.ts";
import { openPglite } from "./pglite.ts";
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
    { kind: "postgres", url: t.urls.runtime, ownerUrl: t.urls.owner, poolSize: 1, fence: TEST_FENCE },
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

/** The test ring's versions plus a new version 3, active: a master key rotation. */
function rotated(): TenantFence {
  const keys = new Map(TEST_MASTER_KEYS.keys);
  keys.set(3, randomBytes(32));
  return tenantFence({ active: 3, keys });
}

/** A database fenced with the test ring, reopened with other rings (one handle at a time on PGlite). */
interface Reopenable {
  open(fence: TenantFence, migrate: boolean): Promise<OpenedDatabase>;
  admin<T>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

async function reopenable(kind: (typeof DRIVERS)[number]): Promise<Reopenable> {
  if (kind === "pglite") {
    const dir = mkdtempSync(join(tmpdir(), "zm-fence-"));
    if (PGLITE_TEMPLATE) cpSync(PGLITE_TEMPLATE, dir, { recursive: true });
    const open = (fence: TenantFence, migrate: boolean) =>
      openDatabase({ kind: "pglite", dataDir: dir, fence }, { migrate });
    await (await open(TEST_FENCE, true)).close();
    return {
      open,
      async admin<T>(sql: string) {
        const driver = await openPglite(dir, TEST_FENCE);
        try {
          return await driver.owner(async (tx) => (await tx.query<T>(sql)).rows);
        } finally {
          await driver.close();
        }
      },
      close: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const t = await freshDatabase(kind);
  const urls = t.urls;
  assert.ok(urls);
  return {
    open: (fence, migrate) =>
      openDatabase(
        { kind: "postgres", url: urls.runtime, ownerUrl: urls.owner, poolSize: 1, fence },
        { migrate },
      ),
    admin: <T>(sql: string) => t.admin<T>(sql),
    close: () => t.close(),
  };
}

for (const kind of DRIVERS) {
  describe(`the tenant fence's keys on ${kind}`, { skip: skipReason(kind) }, () => {
    test("migrating stores the fence key of every master key version, which the runtime role cannot read", async () => {
      const t = await freshDatabase(kind);
      try {
        const rows = await t.admin<{ version: number; ipad: Buffer; opad: Buffer }>(
          "select version, ipad, opad from zm_fence_keys order by version",
        );
        assert.deepEqual(
          rows.map((r) => ({ version: r.version, ipad: Buffer.from(r.ipad), opad: Buffer.from(r.opad) })),
          TEST_FENCE.rows(),
        );
        assert.deepEqual(
          rows.map((r) => r.version),
          [1, 2],
        );
        const privileges = await t.admin<{ p: string }>(
          `select p from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE']) as p
            where has_table_privilege('zenmesh_app', 'public.zm_fence_keys', p)`,
        );
        assert.deepEqual(privileges, []);
        await assert.rejects(
          t.db.withTenant("tnt_fence_keys", (tx) => tx.query("select * from zm_fence_keys")),
          /permission denied/,
        );
        await assert.rejects(
          t.db.withTenant("tnt_fence_keys", (tx) =>
            tx.query("insert into zm_fence_keys (version, ipad, opad) values (7, $1, $1)", [
              Buffer.alloc(64),
            ]),
          ),
          /permission denied/,
        );
      } finally {
        await t.close();
      }
    });

    test("reopening with another master key refuses with CONFIG_INVALID, migrating or not", async () => {
      const place = await reopenable(kind);
      try {
        const other = tenantFence(parseMasterKeyRing(`v2:${generateMasterKey()}`, "other"));
        for (const migrate of [false, true]) {
          await assert.rejects(place.open(other, migrate), configInvalid(/another master key.*version 2/));
        }
        // Version 2 as stored but another key under version 1: refused too, when migrating checks it.
        const v1 = parseMasterKeyRing(
          `v1:${generateMasterKey()},v2:${TEST_MASTER_KEYS.keys.get(2)?.toString("base64")}`,
          "mixed",
        );
        await assert.rejects(
          place.open(tenantFence(v1), true),
          configInvalid(/another master key.*version 1/),
        );
        // Nothing was replaced: the database still opens with its own ring.
        await (await place.open(TEST_FENCE, false)).close();
        const versions = await place.admin<{ version: number }>(
          "select version from zm_fence_keys order by 1",
        );
        assert.deepEqual(
          versions.map((r) => r.version),
          [1, 2],
        );
      } finally {
        await place.close();
      }
    });

    test("a new master key version: a runtime says to migrate; migrating adds its key and both versions open", async () => {
      const place = await reopenable(kind);
      try {
        const next = rotated();
        await assert.rejects(
          place.open(next, false),
          configInvalid(/no tenant fence key for master key version 3: run `zenmesh migrate`/),
        );
        await (await place.open(next, true)).close();
        const versions = await place.admin<{ version: number }>(
          "select version from zm_fence_keys order by 1",
        );
        assert.deepEqual(
          versions.map((r) => r.version),
          [1, 2, 3],
        );
        // A process still on the old ring keeps working during the rollout.
        for (const fence of [next, TEST_FENCE]) {
          const db = await place.open(fence, false);
          try {
            await db.withTenant("tnt_fence_rotated", (tx) =>
              tx.query("insert into tenants (id, name) values ($1, 'r') on conflict do nothing", [
                "tnt_fence_rotated",
              ]),
            );
            const seen = await db.withTenant("tnt_fence_rotated", (tx) => tx.query("select id from tenants"));
            assert.deepEqual(seen.rows, [{ id: "tnt_fence_rotated" }]);
          } finally {
            await db.close();
          }
        }
      } finally {
        await place.close();
      }
    });
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
      openDatabase(
        { kind: "postgres", url: runtimeUrl(), poolSize: 1, fence: TEST_FENCE },
        { migrate: false },
      ),
      configInvalid(/no zenmesh schema: run `zenmesh migrate`/),
    );
  });

  test("concurrent migrations all succeed and apply each migration once", async () => {
    const open = async () =>
      wrapDriver(
        await openPostgres({ url: runtimeUrl(), ownerUrl: ownerUrl(), poolSize: 1, fence: TEST_FENCE }),
      );
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
      { kind: "postgres", url: runtimeUrl(), poolSize: 1, fence: TEST_FENCE },
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
