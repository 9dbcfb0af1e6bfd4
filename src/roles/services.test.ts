import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import {
  createTestTlsCa,
  startTlsRedis,
  type TestTlsCa,
  type TlsRedis,
} from "../../test/support/tls-services.ts";
import { loadConfig } from "../config/index.ts";
import { isZenError } from "../core/index.ts";
import { openRedis, withRootCert } from "./services.ts";

test("hands the database CA file to pg, which then verifies the server against it", () => {
  const dir = mkdtempSync(join(tmpdir(), "zm-ca-"));
  try {
    const caFile = join(dir, "db-ca.pem");
    writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n");
    const url = withRootCert("postgres://app:pw@db.internal:5432/zen?sslmode=verify-full", caFile);
    const u = new URL(url);
    assert.equal(u.searchParams.get("sslmode"), "verify-full");
    assert.equal(u.password, "pw");
    const client = new pg.Client({ connectionString: url });
    const ssl = (
      client as unknown as { connectionParameters: { ssl: { ca?: string; rejectUnauthorized?: boolean } } }
    ).connectionParameters.ssl;
    assert.match(ssl.ca ?? "", /TEST/);
    assert.notEqual(ssl.rejectUnauthorized, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("leaves the URL alone without a CA file", () => {
  const url = "postgres://app@db/zen?sslmode=verify-full";
  assert.equal(withRootCert(url, undefined), url);
});

describe("the backend's Redis over TLS with a private CA", () => {
  let dir: string;
  let ca: TestTlsCa;
  let redis: TlsRedis;
  const config = (env: Record<string, string>) =>
    loadConfig({ env: { ZENMESH_DATA_DIR: dir, ZENMESH_REDIS_URL: redis.url, ...env }, argv: [] });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zm-redis-ca-"));
    ca = await createTestTlsCa(dir);
    redis = await startTlsRedis(ca);
  });
  after(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("verifies the server against ZENMESH_REDIS_CA_FILE and talks to it", async () => {
    const client = await openRedis(config({ ZENMESH_REDIS_CA_FILE: ca.file }));
    assert.ok(client);
    try {
      assert.equal(await client.ping(), "PONG");
      assert.equal(await client.set("zm-ca-test", "1", "PX", 5000), "OK");
    } finally {
      client.disconnect();
    }
  });

  test("without the CA file, refuses a server certificate the default roots do not vouch for", async () => {
    await assert.rejects(
      () => openRedis(config({})),
      (err) => isZenError(err) && err.code === "UNAVAILABLE",
    );
  });

  test("a CA that did not issue the server's certificate is refused as well", async () => {
    const other = await createTestTlsCa(mkdtempSync(join(dir, "other-")));
    await assert.rejects(
      () => openRedis(config({ ZENMESH_REDIS_CA_FILE: other.file })),
      (err) => isZenError(err) && err.code === "UNAVAILABLE",
    );
  });

  test("an unreadable CA file stops the start, naming the setting", async () => {
    await assert.rejects(
      () => openRedis(config({ ZENMESH_REDIS_CA_FILE: join(dir, "missing.pem") })),
      (err) => isZenError(err) && err.code === "CONFIG_INVALID" && /ZENMESH_REDIS_CA_FILE/.test(err.message),
    );
  });
});
