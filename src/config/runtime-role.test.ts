/**
 * The database login, judged by profile: the production profile refuses a
 * login that Row Level Security does not bind (superuser, BYPASSRLS, table
 * owner); the dev profile starts on one but warns, naming the login and what
 * it is. Judged from what real PostgreSQL logins report of themselves.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freshDatabase, skipReason, TEST_FENCE, type TestDatabase } from "../../test/support/db.ts";
import { PG_APP_ROLE, PG_OWNER_ROLE } from "../../test/support/env.ts";
import { openDatabase } from "../db/index.ts";
import { checkRuntimeRole, runtimeRoleWarnings } from "./production.ts";

describe("the dev profile on an external PostgreSQL", { skip: skipReason("postgres") }, () => {
  let t: TestDatabase;
  before(async () => {
    t = await freshDatabase("postgres");
  });
  after(async () => {
    await t?.close();
  });

  // The owner's open runs the (already applied) migrations; the others only check the schema.
  const reportAs = async (url: string, migrate = false) => {
    const db = await openDatabase({ kind: "postgres", url, poolSize: 1, fence: TEST_FENCE }, { migrate });
    try {
      return await db.inspectRuntimeRole();
    } finally {
      await db.close();
    }
  };

  test("warns when the login is a superuser, and production refuses it", async () => {
    const report = await reportAs(t.urls!.admin);
    assert.equal(report.superuser, true);
    const warnings = runtimeRoleWarnings(report, "dev");
    assert.ok(
      warnings.some(
        (w) => /login role "postgres" is a superuser/.test(w) && /Row Level Security does not bind/.test(w),
      ),
      warnings.join("\n"),
    );
    assert.equal(checkRuntimeRole(report, "dev").ok, true, "dev still starts");
    assert.equal(checkRuntimeRole(report, "production").ok, false);
  });

  test("warns when the login owns the tables", async () => {
    const report = await reportAs(t.urls!.owner, true);
    const warnings = runtimeRoleWarnings(report, "dev");
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0]!,
      new RegExp(
        `login role "${PG_OWNER_ROLE}" owns, or can SET ROLE to the owner of, tables \\(.*audit_log`,
      ),
    );
  });

  test("says nothing for a runtime login that owns nothing and is bound by RLS", async () => {
    const report = await reportAs(t.urls!.runtime);
    assert.equal(report.sessionUser, PG_APP_ROLE);
    assert.deepEqual(runtimeRoleWarnings(report, "dev"), []);
  });

  test("production leaves the verdict to the refusal, not to a warning", async () => {
    assert.deepEqual(runtimeRoleWarnings(await reportAs(t.urls!.admin), "production"), []);
  });
});
