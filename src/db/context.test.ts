/**
 * assertFencedTo answers from the record the driver keeps when it fences a
 * transaction. That record equals the database's setting only while nothing
 * else sets `app.tenant_id`: these tests hold both halves, the record against
 * the live setting on both drivers, and the source tree against a second
 * writer of the setting.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { assertFencedTo } from "./context.ts";
import type { Tx } from "./types.ts";

// The tenant the transaction's setting proves to the policies.
const setting = async (tx: Tx) =>
  (await tx.query<{ t: string | null }>("select zm_fence_tenant() as t")).rows[0]?.t;

for (const kind of DRIVERS) {
  describe(`the tenant fence record (${kind})`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
    });
    after(() => t?.close());

    test("a tenant transaction passes for its own tenant and fails for another, as its setting says", async () => {
      await t.db.withTenant("tnt_fence_a", async (tx) => {
        assert.equal(await setting(tx), "tnt_fence_a");
        await assertFencedTo(tx, "tnt_fence_a", "x");
        await assert.rejects(assertFencedTo(tx, "tnt_fence_b", "x"), /outside its tenant's transaction/);
      });
    });

    test("a global or user transaction is fenced to no tenant", async () => {
      await t.db.withGlobal(async (tx) => {
        assert.equal(await setting(tx), null);
        await assert.rejects(assertFencedTo(tx, "tnt_fence_a", "x"), /outside its tenant's transaction/);
      });
      await t.db.withUser("usr_fence", async (tx) => {
        await assert.rejects(assertFencedTo(tx, "tnt_fence_a", "x"), /outside its tenant's transaction/);
      });
    });

    test("a handle the driver did not fence is asked for its setting", async () => {
      await t.db.withTenant("tnt_fence_a", async (tx) => {
        // A wrapper object is not the driver's transaction: the check falls back to the database.
        const wrapped: Tx = { query: (sql, params) => tx.query(sql, params) };
        await assertFencedTo(wrapped, "tnt_fence_a", "x");
        await assert.rejects(assertFencedTo(wrapped, "tnt_fence_b", "x"), /outside its tenant's transaction/);
      });
    });
  });
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|sql)$/.test(name) && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

test("only the driver's context code sets the tenant setting", () => {
  const root = join(import.meta.dirname, "..");
  const writers = sourceFiles(root)
    .filter((f) =>
      /set_config\s*\(\s*'app\.tenant_id'|set\s+(local\s+)?app\.tenant_id/i.test(readFileSync(f, "utf8")),
    )
    .map((f) => relative(root, f));
  assert.deepEqual(writers, ["db/context.ts"]);
});
