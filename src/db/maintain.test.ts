/**
 * The embedded database has no autovacuum, so the backend runs maintain():
 * the churning tables get vacuumed (dead rows become reusable space) and
 * analyzed (the planner gets statistics). On PostgreSQL, autovacuum does it
 * and maintain() does nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { CHURN_TABLES } from "./index.ts";

const reltuples = async (t: TestDatabase, table: string) =>
  Number(
    (await t.admin<{ n: number }>("select reltuples as n from pg_class where relname = $1", [table]))[0]?.n,
  );

describe("embedded maintenance (pglite)", () => {
  let t: TestDatabase;
  before(async () => {
    t = await freshDatabase("pglite");
  });
  after(() => t?.close());

  test("every churning table exists, so a maintenance run cannot fail on a name", async () => {
    const rows = await t.admin<{ relname: string }>(
      "select relname from pg_class where relkind = 'r' and relname = any($1::text[])",
      [[...CHURN_TABLES]],
    );
    assert.deepEqual(rows.map((r) => r.relname).sort(), [...CHURN_TABLES].sort());
  });

  test("vacuums and analyzes the churning tables: statistics appear and dead rows are reclaimed", async () => {
    await t.admin(
      `insert into hop_nonces (signer, nonce, expires_at)
         select 'maint', 'n' || g, now() + interval '1 hour' from generate_series(1, 2000) g`,
    );
    await t.admin("delete from hop_nonces where signer = 'maint' and nonce like 'n1%'");
    // Never analyzed: PostgreSQL marks that with -1.
    assert.equal(await reltuples(t, "hop_nonces"), -1);
    const report = await t.db.maintain();
    assert.equal(report.ran, true);
    assert.ok(report.ms >= 0);
    assert.deepEqual(Object.keys(report.tables).sort(), [...CHURN_TABLES].sort());
    const live = Number(
      (await t.admin<{ n: string }>("select count(*) as n from hop_nonces where signer = 'maint'"))[0]?.n,
    );
    assert.equal(await reltuples(t, "hop_nonces"), live);
    // The freed space is reused: inserting as many rows again does not grow the table past its size.
    const pages = async () =>
      Number((await t.admin<{ n: number }>("select pg_relation_size('hop_nonces') / 8192 as n"))[0]?.n);
    const before = await pages();
    await t.admin(
      `insert into hop_nonces (signer, nonce, expires_at)
         select 'maint', 'm' || g, now() + interval '1 hour' from generate_series(1, 2000 - ${live}) g`,
    );
    assert.ok((await pages()) <= before + 1, "the vacuumed space was reused");
  });
});

describe("maintenance on postgres", { skip: skipReason("postgres") }, () => {
  let t: TestDatabase;
  before(async () => {
    t = await freshDatabase("postgres");
  });
  after(() => t?.close());

  test("is left to autovacuum", async () => {
    assert.deepEqual(await t.db.maintain(), { ran: false, ms: 0, tables: {} });
  });
});
