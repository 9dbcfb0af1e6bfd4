/**
 * The production login role on PostgreSQL: NOSUPERUSER NOBYPASSRLS, owns no
 * table, and cannot climb out of the fence from inside a runtime transaction.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freshDatabase, skipReason, TEST_FENCE, type TestDatabase } from "../../test/support/db.ts";
import { PG_APP_ROLE, PG_OWNER_ROLE } from "../../test/support/env.ts";
import { sqlState } from "./errors.ts";
import { openDatabase } from "./index.ts";

const A = "tnt_role_a";

function refused(pattern: RegExp) {
  return (err: unknown) => {
    assert.equal(sqlState(err), "42501", String(err));
    assert.match((err as Error).message, pattern);
    return true;
  };
}

describe("the runtime login role on postgres", { skip: skipReason("postgres") }, () => {
  let t: TestDatabase;
  before(async () => {
    t = await freshDatabase("postgres");
    await t.admin("insert into tenants (id, name) values ($1, 'A'), ('tnt_role_b', 'B')", [A]);
    await t.admin(
      "insert into projects (id, tenant_id, name) values ('prj_role_a', $1, 'a'), ('prj_role_b', 'tnt_role_b', 'b')",
      [A],
    );
  });
  after(async () => {
    await t?.close();
  });

  test("cannot switch to the table owner", async () => {
    await assert.rejects(
      t.db.withTenant(A, (tx) => tx.query(`set role ${PG_OWNER_ROLE}`)),
      refused(/permission denied to set role/),
    );
  });

  test("cannot switch to the superuser", async () => {
    await assert.rejects(
      t.db.withGlobal((tx) => tx.query("set role postgres")),
      refused(/permission denied to set role/),
    );
  });

  test("cannot disable or unforce row level security", async () => {
    for (const sql of [
      "alter table projects disable row level security",
      "alter table projects no force row level security",
      "drop policy projects_fence on projects",
    ]) {
      await assert.rejects(
        t.db.withTenant(A, (tx) => tx.query(sql)),
        refused(/must be owner/),
        sql,
      );
    }
  });

  test("turning row_security off makes a fenced read fail instead of bypassing the fence", async () => {
    await assert.rejects(
      t.db.withTenant(A, async (tx) => {
        await tx.query("set row_security = off");
        return tx.query("select * from projects");
      }),
      refused(/query would be affected by row-level security policy/),
    );
  });

  test("resetting the role inside a transaction keeps the fence", async () => {
    const rows = await t.db.withTenant(A, async (tx) => {
      await tx.query("reset role");
      return (await tx.query<{ u: string; id: string }>("select current_user as u, id from projects")).rows;
    });
    assert.deepEqual(rows, [{ u: PG_APP_ROLE, id: "prj_role_a" }]);
  });

  test("cannot create tables in the public schema", async () => {
    await assert.rejects(
      t.db.withGlobal((tx) => tx.query("create table public.zm_role_probe (x int)")),
      refused(/permission denied for schema public/),
    );
  });

  test("inspection reports a login role that is not superuser, not bypassrls and owns nothing", async () => {
    assert.deepEqual(await t.db.inspectRuntimeRole(), {
      sessionUser: PG_APP_ROLE,
      superuser: false,
      bypassRls: false,
      ownedTables: [],
    });
  });

  test("inspection lists the owned tables when the runtime logs in as the owner", async () => {
    const urls = t.urls;
    assert.ok(urls);
    const asOwner = await openDatabase({ kind: "postgres", url: urls.owner, poolSize: 1, fence: TEST_FENCE });
    try {
      const report = await asOwner.inspectRuntimeRole();
      assert.equal(report.sessionUser, PG_OWNER_ROLE);
      assert.equal(report.superuser, false);
      assert.deepEqual([...report.ownedTables].sort(), [
        "api_key_lookup",
        "api_keys",
        "audit_heads",
        "audit_log",
        "deliveries",
        "delivery_attempts",
        "delivery_queue",
        "destination_gates",
        "destination_secrets",
        "destinations",
        "events",
        "hop_nonces",
        "ingest_replays",
        "join_tokens",
        "memberships",
        "project_quotas",
        "projects",
        "replay_job_directory",
        "replay_jobs",
        "schema_migrations",
        "sessions",
        "source_directory",
        "source_secrets",
        "sources",
        "subscriptions",
        "tenant_keys",
        "tenants",
        "users",
        "zm_fence_keys",
      ]);
    } finally {
      await asOwner.close();
    }
  });
});
