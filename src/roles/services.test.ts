import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { withRootCert } from "./services.ts";

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
