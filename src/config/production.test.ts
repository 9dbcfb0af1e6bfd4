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
  ZENMESH_SPIRE_SOCKET: "/run/spire/agent.sock",
  ZENMESH_EGRESS_URL: "https://egress.internal:7711",
  ZENMESH_EGRESS_PUBLIC_KEY: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

/** What a non-backend role gets in production: identity and the backend's address, no data-store secrets. */
const ROLE = {
  ZENMESH_PROFILE: "production",
  ZENMESH_BACKEND_URL: "https://backend.internal:7710",
  ZENMESH_MESH_CERT_FILE: "/run/zenmesh/svid.pem",
  ZENMESH_MESH_KEY_FILE: "/run/zenmesh/svid.key",
  ZENMESH_TRUST_BUNDLE_FILE: "/run/zenmesh/bundle.pem",
  ZENMESH_INGEST_TLS_CERT_FILE: "/run/zenmesh/ingest.pem",
  ZENMESH_INGEST_TLS_KEY_FILE: "/run/zenmesh/ingest.key",
  ZENMESH_EGRESS_KEY_FILE: "/run/zenmesh/egress-box.key",
};

function roleRefusal(role: "ingester" | "egress" | "bff", env: Record<string, string | undefined>): string {
  try {
    assertProductionSafe(loadConfig({ env: { ...ROLE, ...env } }), role);
  } catch (err) {
    assert.ok(isZenError(err));
    assert.equal(err.code, "CONFIG_INSECURE");
    assert.ok(!err.message.includes(CANARY), err.message);
    return err.message;
  }
  assert.fail("expected CONFIG_INSECURE");
}

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

  test("refuses a backend without mTLS material, naming the CA file and the alternatives", () => {
    const m = insecure({ ZENMESH_SPIRE_SOCKET: undefined, ZENMESH_CA_FILE: "/nonexistent/ca.json" });
    assert.match(m, /ZENMESH_CA_FILE \(mesh\.caFile\).*zenmesh ca init/);
    assert.match(m, /ZENMESH_SPIRE_SOCKET/);
  });

  test("refuses a backend without egress's public key or URL, and an egress without its key file", () => {
    assert.match(insecure({ ZENMESH_EGRESS_PUBLIC_KEY: undefined }), /ZENMESH_EGRESS_PUBLIC_KEY/);
    assert.match(insecure({ ZENMESH_EGRESS_URL: undefined }), /ZENMESH_EGRESS_URL/);
    assert.throws(
      () =>
        assertProductionSafe(loadConfig({ env: { ...ROLE, ZENMESH_EGRESS_KEY_FILE: undefined } }), "egress"),
      /ZENMESH_EGRESS_KEY_FILE/,
    );
    assertProductionSafe(loadConfig({ env: { ...ROLE, ZENMESH_EGRESS_KEY_FILE: undefined } }), "ingester");
  });

  test("refuses half a set of certificate files", () => {
    const m = insecure({ ZENMESH_SPIRE_SOCKET: undefined, ZENMESH_MESH_CERT_FILE: "/run/svid.pem" });
    assert.match(m, /ZENMESH_MESH_KEY_FILE/);
  });

  test("accepts the other roles with certificate files, SPIRE, or a join token and bundle", () => {
    for (const role of ["ingester", "egress", "bff"] as const) {
      assertProductionSafe(loadConfig({ env: ROLE }), role);
      assertProductionSafe(
        loadConfig({
          env: {
            ...ROLE,
            ZENMESH_MESH_CERT_FILE: undefined,
            ZENMESH_MESH_KEY_FILE: undefined,
            ZENMESH_JOIN_TOKEN: CANARY,
            ZENMESH_JOIN_URL: "https://backend.internal:7719",
          },
        }),
        role,
      );
    }
  });

  test("refuses another role without mTLS material", () => {
    const m = roleRefusal("ingester", {
      ZENMESH_MESH_CERT_FILE: undefined,
      ZENMESH_MESH_KEY_FILE: undefined,
      ZENMESH_TRUST_BUNDLE_FILE: undefined,
    });
    assert.match(m, /no mTLS material for the ingester role/);
    assert.match(m, /ZENMESH_SPIRE_SOCKET/);
    assert.match(m, /ZENMESH_JOIN_TOKEN/);
  });

  test("refuses a join token without the bundle to check the backend with", () => {
    const m = roleRefusal("egress", {
      ZENMESH_MESH_CERT_FILE: undefined,
      ZENMESH_MESH_KEY_FILE: undefined,
      ZENMESH_TRUST_BUNDLE_FILE: undefined,
      ZENMESH_JOIN_TOKEN: CANARY,
      ZENMESH_JOIN_URL: "https://backend.internal:7719",
    });
    assert.match(m, /ZENMESH_TRUST_BUNDLE_FILE/);
  });

  test("refuses database, Redis or master-key credentials handed to a role that is not the backend", () => {
    const m = roleRefusal("bff", {
      ZENMESH_DATABASE_URL: SAFE.ZENMESH_DATABASE_URL,
      ZENMESH_REDIS_URL: SAFE.ZENMESH_REDIS_URL,
      ZENMESH_MASTER_KEY: CANARY,
    });
    assert.match(m, /ZENMESH_DATABASE_URL.*must not hold/);
    assert.match(m, /ZENMESH_REDIS_URL.*must not hold/);
    assert.match(m, /ZENMESH_MASTER_KEY \(masterKey\).*must not hold/);
  });

  test("refuses a metrics listener off loopback without TLS, and accepts it with TLS or on loopback", () => {
    const m = insecure({ ZENMESH_METRICS_HOST: "10.0.0.5" });
    assert.match(m, /ZENMESH_METRICS_TLS_CERT_FILE.*ZENMESH_METRICS_TLS_KEY_FILE/);
    assertProductionSafe(
      loadConfig({
        env: {
          ...SAFE,
          ZENMESH_METRICS_HOST: "10.0.0.5",
          ZENMESH_METRICS_TLS_CERT_FILE: "/run/zenmesh/metrics.pem",
          ZENMESH_METRICS_TLS_KEY_FILE: "/run/zenmesh/metrics.key",
        },
      }),
    );
    assertProductionSafe(loadConfig({ env: { ...SAFE, ZENMESH_METRICS_HOST: "127.0.0.1" } }));
    assertProductionSafe(
      loadConfig({ env: { ...SAFE, ZENMESH_METRICS_HOST: "10.0.0.5", ZENMESH_METRICS_ENABLED: "false" } }),
    );
  });

  test("refuses half a metrics TLS pair in any profile", () => {
    for (const env of [
      { ZENMESH_METRICS_TLS_CERT_FILE: "/run/zenmesh/metrics.pem" },
      { ZENMESH_METRICS_TLS_KEY_FILE: "/run/zenmesh/metrics.key" },
      { ZENMESH_METRICS_TLS_CLIENT_CA_FILE: "/run/zenmesh/scraper-ca.pem" },
    ]) {
      assert.throws(
        () => loadConfig({ env: { ZENMESH_PROFILE: "dev", ...env } }),
        (err: unknown) =>
          isZenError(err) && err.code === "CONFIG_INVALID" && /metrics\.tls/.test(err.message),
      );
    }
  });

  test("refuses an ingester whose public listener would serve plain HTTP", () => {
    const m = roleRefusal("ingester", { ZENMESH_INGEST_TLS_CERT_FILE: undefined });
    assert.match(m, /ZENMESH_INGEST_TLS_CERT_FILE.*HTTPS in production/);
  });

  test("refuses another role without the backend URL", () => {
    assert.match(roleRefusal("egress", { ZENMESH_BACKEND_URL: undefined }), /ZENMESH_BACKEND_URL/);
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

  test("refuses a serving backend that holds the owner connection: migrations are a step of their own", () => {
    let message = "";
    try {
      assertProductionSafe(loadConfig({ env: SAFE }), "backend", { serving: true });
    } catch (err) {
      assert.ok(isZenError(err));
      assert.equal(err.code, "CONFIG_INSECURE");
      assert.ok(!err.message.includes(CANARY), err.message);
      message = err.message;
    }
    assert.match(message, /ZENMESH_DATABASE_OWNER_URL \(database\.ownerUrl\): .*zenmesh migrate/);
    assertProductionSafe(loadConfig({ env: { ...SAFE, ZENMESH_DATABASE_OWNER_URL: undefined } }), "backend", {
      serving: true,
    });
    // The operator commands that open the database themselves may still be given it.
    assertProductionSafe(loadConfig({ env: SAFE }));
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
