/**
 * `zenmesh audit verify` as an operator action: it verifies a tenant's chain
 * only in a database that holds the tenant, so a typo in the id or the wrong
 * database fails the check instead of passing it on an empty chain.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freshDatabase, type TestDatabase } from "../../test/support/db.ts";
import { newId } from "../core/index.ts";
import { createTestTenant, testIngestDeps } from "../ingest/store/testing.ts";
import { verifyAudit } from "./operations.ts";

const code = (expected: string) => (err: unknown) => {
  assert.equal((err as { code?: string }).code, expected, String(err));
  return true;
};

describe("audit verify", () => {
  let home: TestDatabase;
  let elsewhere: TestDatabase;
  let tenantId: string;
  before(async () => {
    home = await freshDatabase("pglite");
    elsewhere = await freshDatabase("pglite");
    ({ tenantId } = await createTestTenant(testIngestDeps(home.db), "audited"));
  });
  after(async () => {
    await home?.close();
    await elsewhere?.close();
  });

  test("verifies a tenant's chain in the database that holds it", async () => {
    const r = await verifyAudit(home.db, { tenantId });
    assert.equal(r.ok, true);
    assert.ok(r.ok && r.count >= 1);
  });

  test("refuses a tenant id no tenant has, naming the id and what to check", async () => {
    const missing = newId("tenant");
    await assert.rejects(verifyAudit(home.db, { tenantId: missing }), (err: Error) => {
      code("AUDIT_TENANT_UNKNOWN")(err);
      assert.match(err.message, new RegExp(`no tenant ${missing} in this database`));
      assert.match(err.message, /--database-url or --data-dir/);
      return true;
    });
  });

  test("refuses a real tenant's id on the wrong database", async () => {
    await assert.rejects(verifyAudit(elsewhere.db, { tenantId }), code("AUDIT_TENANT_UNKNOWN"));
  });

  test("refuses a known tenant whose chain is empty: its entries were removed", async () => {
    const { tenantId: emptied } = await createTestTenant(testIngestDeps(home.db), "emptied");
    // The runtime role cannot delete audit rows, and a trigger keeps the log append-only; someone with
    // the superuser's rights could still switch triggers off and remove them.
    await home.admin("set session_replication_role = replica");
    try {
      await home.admin("delete from audit_heads where tenant_id = $1", [emptied]);
      await home.admin("delete from audit_log where tenant_id = $1", [emptied]);
    } finally {
      await home.admin("reset session_replication_role");
    }
    await assert.rejects(verifyAudit(home.db, { tenantId: emptied }), code("AUDIT_CHAIN_BROKEN"));
  });

  test("refuses what is not a tenant id before touching the database", async () => {
    await assert.rejects(verifyAudit(home.db, { tenantId: "acme" }), code("VALIDATION_FAILED"));
  });
});
