/** What `zenmesh up`'s banner says of the database: which one, never its password. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../config/index.ts";
import { databaseInUse } from "./up.ts";

test("names the embedded database and where it lives", () => {
  const cfg = loadConfig({ env: { ZENMESH_DATA_DIR: "/var/lib/zm-test" }, argv: [] });
  assert.equal(databaseInUse(cfg), `embedded PostgreSQL server in ${join("/var/lib/zm-test", "pg")}`);
});

test("names an external database by its URL, without the password", () => {
  const cfg = loadConfig({
    env: {
      ZENMESH_DATA_DIR: "/var/lib/zm-test",
      ZENMESH_DATABASE_URL: "postgres://app:s3cretpw@db.internal:5432/zen",
    },
    argv: [],
  });
  const line = databaseInUse(cfg);
  assert.match(line, /^external PostgreSQL at postgres:\/\/app:\*\*\*@db\.internal:5432\/zen$/);
  assert.ok(!line.includes("s3cretpw"));
});
