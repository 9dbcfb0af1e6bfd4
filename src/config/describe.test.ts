import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeConfig } from "./describe.ts";
import { loadConfig } from "./load.ts";
import { redactUrl } from "./urls.ts";

const CANARY = "CANARY-SECRET-123";

describe("describeConfig", () => {
  test("hides URL passwords and the master key", () => {
    const config = loadConfig({
      env: {
        ZENMESH_MASTER_KEY: CANARY,
        ZENMESH_DATABASE_URL: `postgres://app:${CANARY}@db/zen?sslmode=verify-full`,
        ZENMESH_DATABASE_OWNER_URL: `postgres://owner@db/zen?sslmode=verify-full&password=${CANARY}`,
        ZENMESH_REDIS_URL: `rediss://:${CANARY}@cache:6380`,
      },
    });
    const shown = describeConfig(config);
    const text = JSON.stringify(shown);
    assert.ok(!text.includes(CANARY), text);
    assert.equal(shown.masterKey, "set");
    assert.deepEqual(shown.database, {
      url: "postgres://app:***@db/zen?sslmode=verify-full",
      ownerUrl: "postgres://owner@db/zen?sslmode=verify-full&password=***",
      poolSize: 10,
      caFile: undefined,
    });
    assert.deepEqual(shown.redis, { url: "rediss://:***@cache:6380" });
  });

  test("says when the master key is unset and the database is embedded", () => {
    const shown = describeConfig(loadConfig({ env: {} }));
    assert.equal(shown.masterKey, "unset");
    assert.deepEqual(shown.database, {
      url: "(embedded PGlite)",
      ownerUrl: undefined,
      poolSize: 10,
      caFile: undefined,
    });
  });

  test("redactUrl never returns an unparsable input", () => {
    assert.equal(redactUrl(`not a url ${CANARY}`), "[unparsable URL]");
    assert.equal(redactUrl("postgres://app@db/zen"), "postgres://app@db/zen");
  });
});
