import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isZenError } from "../core/index.ts";
import { envWithoutOwner, envWithoutSecrets, migrateInChild } from "./supervisor.ts";

describe("the supervisor keeps the owner connection to the migration step", () => {
  test("the backend's environment loses the owner URL and keeps the runtime one; the workers lose both", () => {
    const env = {
      ZENMESH_DATABASE_URL: "postgres://app@db/zen",
      ZENMESH_DATABASE_OWNER_URL: "postgres://owner@db/zen",
      ZENMESH_MASTER_KEY_FILE: "/run/kek",
      PATH: "/usr/bin",
    };
    assert.deepEqual(envWithoutOwner(env), {
      ZENMESH_DATABASE_URL: "postgres://app@db/zen",
      ZENMESH_MASTER_KEY_FILE: "/run/kek",
      PATH: "/usr/bin",
    });
    assert.deepEqual(envWithoutSecrets(env), { PATH: "/usr/bin" });
  });

  test("a migration that fails stops the start with MIGRATION_FAILED", async () => {
    await assert.rejects(
      migrateInChild(["--database-url", "postgres://nobody@127.0.0.1:1/none"], "dev"),
      (err: unknown) => isZenError(err) && err.code === "MIGRATION_FAILED" && /exit code/.test(err.message),
    );
  });
});
