import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";

for (const kind of DRIVERS) {
  describe(`smoke on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
    });
    after(async () => {
      await t?.close();
    });
    test("a tenant sees its own row", async () => {
      await t.db.withTenant("tnt_a", (tx) =>
        tx.query("insert into tenants (id, name) values ('tnt_a', 'A')"),
      );
      const rows = await t.db.withTenant(
        "tnt_a",
        async (tx) => (await tx.query("select id from tenants")).rows,
      );
      assert.deepEqual(rows, [{ id: "tnt_a" }]);
      const none = await t.db.withTenant(
        "tnt_b",
        async (tx) => (await tx.query("select id from tenants")).rows,
      );
      assert.deepEqual(none, []);
    });
  });
}
