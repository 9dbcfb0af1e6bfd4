import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isZenError } from "../core/index.ts";
import { loadConfig } from "./load.ts";
import { assertProductionSafe, checkRuntimeRole } from "./production.ts";

const CANARY = "CANARY-SECRET-123";
const SAFE = {
  ZENMESH_PROFILE: "production",
  ZENMESH_MASTER_KEY_FILE: "/run/secrets/kek",
  ZENMESH_DATABASE_URL: `postgres://app:${CANARY}@db.internal/zen?sslmode=verify-full`,
  ZENMESH_DATABASE_OWNER_URL: `postgres://owner:${CANARY}@db.internal/zen?sslmode=verify-full`,
  ZENMESH_REDIS_URL: `rediss://:${CANARY}@cache.internal:6380`,
};

function insecure(env: Record<string, string | undefined>): string {
  const config = loadConfig({ env: { ...SAFE, ...env } });
  try {
    assertProductionSafe(config);
  } catch (err) {
    assert.ok(isZenError(err));
    assert.equal(err.code, "CONFIG_INSECURE");
    assert.ok(!err.message.includes(CANARY), err.message);
    return err.message;
  }
  assert.fail("expected CONFIG_INSECURE");
}

describe("assertProductionSafe", () => {
  test("accepts a production configuration with verified TLS everywhere", () => {
    assertProductionSafe(loadConfig({ env: SAFE }));
    assertProductionSafe(
      loadConfig({ env: { ...SAFE, ZENMESH_MASTER_KEY_FILE: undefined, ZENMESH_MASTER_KEY: CANARY } }),
    );
    assertProductionSafe(loadConfig({ env: { ...SAFE, ZENMESH_REDIS_URL: undefined } }));
  });

  test("does nothing in the dev profile", () => {
    assertProductionSafe(loadConfig({ env: {} }));
    assertProductionSafe(loadConfig({ env: { ZENMESH_REDIS_URL: "redis://localhost" } }));
  });

  test("refuses production without a master key", () => {
    const m = insecure({ ZENMESH_MASTER_KEY_FILE: undefined });
    assert.match(m, /ZENMESH_MASTER_KEY \(masterKey\)/);
    assert.match(m, /ZENMESH_MASTER_KEY_FILE/);
  });

  test("refuses the embedded database in production", () => {
    const m = insecure({ ZENMESH_DATABASE_URL: undefined, ZENMESH_DATABASE_OWNER_URL: undefined });
    assert.match(m, /ZENMESH_DATABASE_URL \(database\.url\).*PGlite/);
  });

  for (const query of ["", "?sslmode=require", "?sslmode=verify-ca", "?sslmode=prefer", "?sslmode=disable"]) {
    test(`refuses a database URL with ${query === "" ? "no sslmode" : query.slice(1)}`, () => {
      const m = insecure({ ZENMESH_DATABASE_URL: `postgres://app:${CANARY}@db.internal/zen${query}` });
      assert.match(m, /ZENMESH_DATABASE_URL \(database\.url\): must set sslmode=verify-full/);
    });
  }

  test("refuses a database URL that repeats sslmode", () => {
    const m = insecure({
      ZENMESH_DATABASE_URL: `postgres://app:${CANARY}@db/zen?sslmode=verify-full&sslmode=disable`,
    });
    assert.match(m, /ZENMESH_DATABASE_URL/);
  });

  test("refuses an owner URL with weaker TLS", () => {
    const m = insecure({ ZENMESH_DATABASE_OWNER_URL: `postgres://owner:${CANARY}@db/zen?sslmode=require` });
    assert.match(m, /ZENMESH_DATABASE_OWNER_URL \(database\.ownerUrl\): must set sslmode=verify-full/);
    assert.doesNotMatch(m, /ZENMESH_DATABASE_URL \(/);
  });

  test("refuses Redis without TLS", () => {
    const m = insecure({ ZENMESH_REDIS_URL: `redis://:${CANARY}@cache.internal:6379` });
    assert.match(m, /ZENMESH_REDIS_URL \(redis\.url\): must use TLS/);
  });

  test("reports every problem in one message", () => {
    const m = insecure({
      ZENMESH_MASTER_KEY_FILE: undefined,
      ZENMESH_DATABASE_URL: `postgres://app:${CANARY}@db/zen`,
      ZENMESH_DATABASE_OWNER_URL: `postgres://owner:${CANARY}@db/zen?sslmode=prefer`,
      ZENMESH_REDIS_URL: "redis://cache",
    });
    for (const name of [
      "ZENMESH_MASTER_KEY",
      "ZENMESH_DATABASE_URL",
      "ZENMESH_DATABASE_OWNER_URL",
      "ZENMESH_REDIS_URL",
    ]) {
      assert.match(m, new RegExp(`${name} \\(`));
    }
  });
});

describe("checkRuntimeRole", () => {
  const clean = { sessionUser: "zen_app", superuser: false, bypassRls: false, ownedTables: [] };

  test("accepts a role that RLS binds", () => {
    assert.deepEqual(checkRuntimeRole(clean, "production"), { ok: true });
  });

  test("refuses a superuser, a BYPASSRLS role and a table owner, naming the role", () => {
    const v = checkRuntimeRole(
      { sessionUser: "postgres", superuser: true, bypassRls: true, ownedTables: ["tenants", "events"] },
      "production",
    );
    assert.equal(v.ok, false);
    if (v.ok) return;
    assert.equal(v.problems.length, 3);
    for (const p of v.problems) {
      assert.match(p, /ZENMESH_DATABASE_URL/);
      assert.match(p, /"postgres"/);
    }
    assert.match(v.problems.join("\n"), /superuser/);
    assert.match(v.problems.join("\n"), /BYPASSRLS/);
    assert.match(v.problems.join("\n"), /events, tenants/);
  });

  test("refuses each problem on its own", () => {
    for (const bad of [{ superuser: true }, { bypassRls: true }, { ownedTables: ["tenants"] }]) {
      const v = checkRuntimeRole({ ...clean, ...bad }, "production");
      assert.equal(v.ok, false);
    }
  });

  test("allows anything in the dev profile", () => {
    assert.deepEqual(
      checkRuntimeRole(
        { sessionUser: "postgres", superuser: true, bypassRls: true, ownedTables: ["t"] },
        "dev",
      ),
      { ok: true },
    );
  });
});
