import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isZenError, type ZenError } from "../core/index.ts";
import { loadConfig } from "./load.ts";

const CANARY = "CANARY-SECRET-123";
const dir = mkdtempSync(join(tmpdir(), "zenmesh-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function configFile(content: unknown): string {
  const path = join(dir, `config-${files++}.json`);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function invalid(fn: () => unknown): ZenError {
  try {
    fn();
  } catch (err) {
    assert.ok(isZenError(err), `expected a ZenError, got ${String(err)}`);
    assert.equal(err.code, "CONFIG_INVALID");
    return err;
  }
  assert.fail("expected CONFIG_INVALID");
}

describe("loadConfig", () => {
  test("applies the documented defaults when nothing is set", () => {
    const c = loadConfig({ env: {}, cwd: "/srv/zen" });
    assert.equal(c.profile, "dev");
    assert.equal(c.dataDir, "/srv/zen/.zenmesh");
    assert.deepEqual(c.api, {
      host: "127.0.0.1",
      port: 7700,
      trustProxy: "",
      headersTimeoutSeconds: 10,
      requestTimeoutSeconds: 30,
      maxConnections: 1024,
    });
    assert.equal(c.database.url, undefined);
    assert.equal(c.database.poolSize, 10);
    assert.equal(c.redis.url, undefined);
    assert.equal(c.masterKey, undefined);
    assert.equal(c.log.level, "info");
    assert.equal(c.apiKeys.environment, "test");
    assert.deepEqual(c.sessions, { idleTimeoutSeconds: 1800, absoluteTimeoutSeconds: 43_200 });
    assert.deepEqual(c.auth, { failureLimit: 10, failureWindowSeconds: 60 });
    assert.deepEqual(c.metrics, {
      enabled: true,
      host: "127.0.0.1",
      port: 7709,
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
      tlsClientCaFile: undefined,
    });
  });

  test("defaults API keys to the live environment in production", () => {
    const c = loadConfig({ env: { ZENMESH_PROFILE: "production" } });
    assert.equal(c.apiKeys.environment, "live");
    const t = loadConfig({ env: { ZENMESH_PROFILE: "production", ZENMESH_API_KEY_ENV: "test" } });
    assert.equal(t.apiKeys.environment, "test");
  });

  test("layers the config file under the environment under flags", () => {
    const file = configFile({
      api: { host: "127.0.0.9", port: 1000 },
      log: { level: "warn" },
      dataDir: "/d/file",
    });
    const env = { ZENMESH_API_PORT: "2000", ZENMESH_LOG_LEVEL: "debug" };
    const c = loadConfig({ file, env, argv: ["--api-port", "3000"] });
    assert.equal(c.api.host, "127.0.0.9");
    assert.equal(c.api.port, 3000);
    assert.equal(c.log.level, "debug");
    assert.equal(c.dataDir, "/d/file");
    assert.equal(loadConfig({ file, env }).api.port, 2000);
    assert.equal(loadConfig({ file, env: {} }).api.port, 1000);
  });

  test("finds the config file from --config, then ZENMESH_CONFIG, then the input", () => {
    const a = configFile({ api: { port: 1 } });
    const b = configFile({ api: { port: 2 } });
    const c = configFile({ api: { port: 3 } });
    assert.equal(loadConfig({ file: c, env: { ZENMESH_CONFIG: b }, argv: [`--config=${a}`] }).api.port, 1);
    assert.equal(loadConfig({ file: c, env: { ZENMESH_CONFIG: b } }).api.port, 2);
    assert.equal(loadConfig({ file: c, env: {} }).api.port, 3);
  });

  test("accepts both --flag value and --flag=value", () => {
    const c = loadConfig({ env: {}, argv: ["--log-level=trace", "--api-host", "::1", "--profile", "dev"] });
    assert.equal(c.log.level, "trace");
    assert.equal(c.api.host, "::1");
  });

  test("coerces environment booleans and integers", () => {
    const c = loadConfig({
      env: {
        ZENMESH_METRICS_ENABLED: "0",
        ZENMESH_DATABASE_POOL_SIZE: "25",
      },
    });
    assert.equal(c.metrics.enabled, false);
    assert.equal(c.database.poolSize, 25);
  });

  test("quotas and the egress tenant share: production defaults, settable from the environment, zero refused", () => {
    const d = loadConfig({ env: {} }).quotas;
    assert.deepEqual(d, {
      sourcesPerProject: 100,
      destinationsPerProject: 100,
      subscriptionsPerProject: 500,
      apiKeysPerProject: 100,
      rotationsPerDay: 24,
    });
    const c = loadConfig({
      env: { ZENMESH_QUOTA_SOURCES_PER_PROJECT: "7", ZENMESH_QUOTA_ROTATIONS_PER_DAY: "3" },
    }).quotas;
    assert.equal(c.sourcesPerProject, 7);
    assert.equal(c.rotationsPerDay, 3);
    assert.equal(loadConfig({ env: {} }).deliver.egressTenantSharePercent, 25);
    assert.equal(
      loadConfig({ env: { ZENMESH_EGRESS_TENANT_SHARE_PERCENT: "60" } }).deliver.egressTenantSharePercent,
      60,
    );
    assert.throws(
      () => loadConfig({ env: { ZENMESH_QUOTA_DESTINATIONS_PER_PROJECT: "0" } }),
      (err: unknown) => isZenError(err) && err.code === "CONFIG_INVALID",
    );
  });

  test("treats an empty environment variable as unset", () => {
    assert.equal(loadConfig({ env: { ZENMESH_API_PORT: "" } }).api.port, 7700);
  });

  test("ingest limits: defaults, and a per-client cap above its global one is refused", () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.ingest.maxSecretVersions, 3);
    assert.equal(c.ingest.maxConnections, 4096);
    assert.equal(c.ingest.maxConnectionsPerClient, 128);
    assert.equal(c.ingest.maxInflightBytes, 256 * 1024 * 1024);
    assert.equal(c.ingest.maxInflightBytesPerClient, 48 * 1024 * 1024);
    assert.match(
      invalid(() =>
        loadConfig({
          env: { ZENMESH_INGEST_MAX_CONNECTIONS: "10", ZENMESH_INGEST_MAX_CONNECTIONS_PER_CLIENT: "11" },
        }),
      ).message,
      /must not exceed ingest\.maxConnections/,
    );
    assert.match(
      invalid(() => loadConfig({ env: { ZENMESH_INGEST_MAX_INFLIGHT_BYTES: String(32 * 1024 * 1024) } }))
        .message,
      /must not exceed ingest\.maxInflightBytes/,
    );
    for (const v of ["0", "9"]) {
      assert.match(
        invalid(() => loadConfig({ env: { ZENMESH_INGEST_MAX_SECRET_VERSIONS: v } })).message,
        /ZENMESH_INGEST_MAX_SECRET_VERSIONS/,
      );
    }
  });

  test("allows port 0 so the OS picks a free port", () => {
    assert.equal(loadConfig({ env: { ZENMESH_API_PORT: "0" } }).api.port, 0);
  });

  test("rejects an out-of-range or non-numeric port, naming the variable", () => {
    for (const port of ["65536", "-1", "80x", "7.5"]) {
      const err = invalid(() => loadConfig({ env: { ZENMESH_API_PORT: port } }));
      assert.match(err.message, /ZENMESH_API_PORT \(api\.port\)/);
    }
    const fromFile = invalid(() => loadConfig({ env: {}, file: configFile({ api: { port: 70000 } }) }));
    assert.match(fromFile.message, /ZENMESH_API_PORT \(api\.port\) in config file/);
  });

  test("rejects an unknown flag, naming it but not its value", () => {
    const err = invalid(() => loadConfig({ env: {}, argv: ["--master-key", CANARY] }));
    assert.match(err.message, /unknown flag --master-key/);
    assert.ok(!err.message.includes(CANARY));
    const eq = invalid(() => loadConfig({ env: {}, argv: [`--master-key=${CANARY}`] }));
    assert.ok(!eq.message.includes(CANARY));
  });

  test("rejects stray arguments, repeated flags and flags without values", () => {
    assert.match(invalid(() => loadConfig({ env: {}, argv: [CANARY] })).message, /position 1/);
    assert.match(
      invalid(() => loadConfig({ env: {}, argv: ["--api-port", "1", "--api-port", "2"] })).message,
      /more than once/,
    );
    assert.match(invalid(() => loadConfig({ env: {}, argv: ["--api-port"] })).message, /needs a value/);
    assert.match(
      invalid(() => loadConfig({ env: {}, argv: ["--api-port", "--log-level", "info"] })).message,
      /--api-port needs a value/,
    );
  });

  test("reports every invalid setting at once", () => {
    const err = invalid(() =>
      loadConfig({
        env: { ZENMESH_PROFILE: "staging", ZENMESH_LOG_LEVEL: "loud", ZENMESH_AUTH_FAILURE_LIMIT: "0" },
      }),
    );
    assert.match(err.message, /ZENMESH_PROFILE \(profile\) set in the environment/);
    assert.match(err.message, /ZENMESH_LOG_LEVEL \(log\.level\)/);
    assert.match(err.message, /ZENMESH_AUTH_FAILURE_LIMIT \(auth\.failureLimit\)/);
  });

  test("requires the idle session timeout not to exceed the absolute one", () => {
    const err = invalid(() =>
      loadConfig({ env: { ZENMESH_SESSION_IDLE_SECONDS: "7200", ZENMESH_SESSION_ABSOLUTE_SECONDS: "3600" } }),
    );
    assert.match(err.message, /ZENMESH_SESSION_IDLE_SECONDS \(sessions\.idleTimeoutSeconds\)/);
  });

  test("rejects unknown keys in the config file", () => {
    const err = invalid(() => loadConfig({ env: {}, file: configFile({ api: { prot: 1 }, colour: "red" }) }));
    assert.match(err.message, /api\.prot: not a known setting/);
    assert.match(err.message, /colour: not a known setting/);
  });

  test("rejects a config file that is missing, not JSON or pollutes prototypes", () => {
    assert.match(invalid(() => loadConfig({ env: {}, file: join(dir, "absent.json") })).message, /ENOENT/);
    const broken = invalid(() => loadConfig({ env: {}, file: configFile(`{"masterKey": ${CANARY}}`) }));
    assert.match(broken.message, /not valid JSON/);
    assert.ok(!broken.message.includes(CANARY));
    invalid(() => loadConfig({ env: {}, file: configFile('{"__proto__": {"profile": "production"}}') }));
    invalid(() => loadConfig({ env: {}, file: configFile("[1]") }));
  });

  test("never echoes a secret in a bad database, owner or Redis URL", () => {
    const err = invalid(() =>
      loadConfig({
        env: {
          ZENMESH_DATABASE_URL: `mysql://app:${CANARY}@db/zen`,
          ZENMESH_DATABASE_OWNER_URL: `not a url ${CANARY}`,
          ZENMESH_REDIS_URL: `http://:${CANARY}@cache`,
        },
      }),
    );
    assert.ok(!err.message.includes(CANARY), err.message);
    assert.match(err.message, /ZENMESH_DATABASE_URL \(database\.url\)/);
    assert.match(err.message, /ZENMESH_DATABASE_OWNER_URL \(database\.ownerUrl\)/);
    assert.match(err.message, /ZENMESH_REDIS_URL \(redis\.url\)/);
    assert.ok(!JSON.stringify(err.details).includes(CANARY));
  });

  test("takes a Redis CA file only beside a rediss:// URL, resolved against the working directory", () => {
    const c = loadConfig({
      env: { ZENMESH_REDIS_URL: "rediss://cache:6380", ZENMESH_REDIS_CA_FILE: "certs/redis-ca.pem" },
      cwd: "/srv/zen",
    });
    assert.equal(c.redis.caFile, "/srv/zen/certs/redis-ca.pem");
    for (const env of [
      { ZENMESH_REDIS_CA_FILE: "/etc/zenmesh/redis-ca.pem" },
      { ZENMESH_REDIS_URL: "redis://cache:6379", ZENMESH_REDIS_CA_FILE: "/etc/zenmesh/redis-ca.pem" },
    ]) {
      const err = invalid(() => loadConfig({ env }));
      assert.match(err.message, /ZENMESH_REDIS_CA_FILE \(redis\.caFile\).*rediss:\/\//, err.message);
    }
  });

  test("never echoes a master key in an error", () => {
    const err = invalid(() =>
      loadConfig({ env: { ZENMESH_MASTER_KEY: CANARY, ZENMESH_MASTER_KEY_FILE: "/run/secrets/kek" } }),
    );
    assert.match(err.message, /masterKey/);
    assert.ok(!err.message.includes(CANARY));
  });

  test("refuses a database owner URL or CA file without a database URL", () => {
    const err = invalid(() =>
      loadConfig({
        env: { ZENMESH_DATABASE_OWNER_URL: "postgres://o@db/zen", ZENMESH_DATABASE_CA_FILE: "ca.pem" },
      }),
    );
    assert.match(err.message, /ZENMESH_DATABASE_OWNER_URL/);
    assert.match(err.message, /ZENMESH_DATABASE_CA_FILE/);
  });

  test("refuses ZENMESH_API_TRUST_PROXY=true, which believed any X-Forwarded-For, naming the forms to use", () => {
    for (const env of [{ ZENMESH_API_TRUST_PROXY: "true" }, { ZENMESH_API_TRUST_PROXY: "TRUE" }]) {
      const err = invalid(() => loadConfig({ env }));
      assert.match(err.message, /ZENMESH_API_TRUST_PROXY/);
      assert.match(err.message, /CIDRs/);
      assert.match(err.message, /number of proxies/);
    }
  });

  test("reads ZENMESH_API_TRUST_PROXY as proxy CIDRs or a hop count; false or empty trusts none", () => {
    const at = (v: string) => loadConfig({ env: { ZENMESH_API_TRUST_PROXY: v } }).api.trustProxy;
    assert.equal(at("10.0.0.0/8, fd00::/8"), "10.0.0.0/8, fd00::/8");
    assert.equal(at("2"), "2");
    assert.equal(at("false"), "");
    assert.match(invalid(() => at("10.0.0.1/8")).message, /host bits/);
    assert.match(invalid(() => at("0")).message, /hop count/);
    // A config file may hold a boolean or a number: true is refused there too.
    assert.equal(loadConfig({ file: configFile({ api: { trustProxy: 1 } }), env: {} }).api.trustProxy, "1");
    assert.equal(
      loadConfig({ file: configFile({ api: { trustProxy: false } }), env: {} }).api.trustProxy,
      "",
    );
    const err = invalid(() => loadConfig({ file: configFile({ api: { trustProxy: true } }), env: {} }));
    assert.match(err.message, /api\.trustProxy/);
  });

  test("reads the API's slow-client timeouts and refuses a header timeout over the request timeout", () => {
    const c = loadConfig({
      env: { ZENMESH_API_HEADERS_TIMEOUT_SECONDS: "5", ZENMESH_API_REQUEST_TIMEOUT_SECONDS: "20" },
    });
    assert.equal(c.api.headersTimeoutSeconds, 5);
    assert.equal(c.api.requestTimeoutSeconds, 20);
    const err = invalid(() =>
      loadConfig({
        env: { ZENMESH_API_HEADERS_TIMEOUT_SECONDS: "40", ZENMESH_API_REQUEST_TIMEOUT_SECONDS: "20" },
      }),
    );
    assert.match(err.message, /ZENMESH_API_HEADERS_TIMEOUT_SECONDS/);
  });

  test("resolves paths against the working directory", () => {
    const c = loadConfig({
      cwd: "/srv/zen",
      env: {
        ZENMESH_DATA_DIR: "data",
        ZENMESH_MASTER_KEY_FILE: "keys/kek",
        ZENMESH_DATABASE_URL: "postgres://app@db/zen?sslmode=verify-full",
        ZENMESH_DATABASE_CA_FILE: "ca.pem",
      },
    });
    assert.equal(c.dataDir, "/srv/zen/data");
    assert.equal(c.masterKeyFile, "/srv/zen/keys/kek");
    assert.equal(c.database.caFile, "/srv/zen/ca.pem");
  });

  test("returns a frozen configuration", () => {
    const c = loadConfig({ env: {} });
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.api));
  });
});

describe("the dev profile stays on loopback", () => {
  test("refuses to bind the API or the mesh off the machine", () => {
    for (const env of [
      { ZENMESH_API_HOST: "0.0.0.0" },
      { ZENMESH_MESH_HOST: "10.1.2.3" },
      { ZENMESH_API_HOST: "::" },
      { ZENMESH_METRICS_HOST: "0.0.0.0" },
    ]) {
      assert.throws(() => loadConfig({ env, argv: [] }), /binds loopback only/);
    }
  });

  test("accepts 127.0.0.0/8, ::1 and localhost", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) {
      assert.equal(loadConfig({ env: { ZENMESH_API_HOST: host }, argv: [] }).api.host, host);
    }
  });

  test("lets the production profile bind where it is told", () => {
    const c = loadConfig({ env: { ZENMESH_PROFILE: "production", ZENMESH_API_HOST: "0.0.0.0" }, argv: [] });
    assert.equal(c.api.host, "0.0.0.0");
  });
});

test("keeps a unix: Workload API address as given and resolves a bare socket path", () => {
  const uri = loadConfig({
    env: { ZENMESH_SPIRE_SOCKET: "unix:///run/spire/agent.sock" },
    argv: [],
    cwd: "/srv",
  });
  assert.equal(uri.mesh.spireSocket, "unix:///run/spire/agent.sock");
  const bare = loadConfig({ env: { ZENMESH_SPIRE_SOCKET: "run/agent.sock" }, argv: [], cwd: "/srv" });
  assert.equal(bare.mesh.spireSocket, "/srv/run/agent.sock");
});
