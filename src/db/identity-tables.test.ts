/**
 * Tables outside the tenant fence are read before any tenant is known, so they
 * must hold nothing secret: only hashes and routing ids. Their exact columns are
 * pinned here, so adding e.g. a plaintext token column fails this suite.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { sqlState } from "./errors.ts";

const COLUMNS: Record<string, string[]> = {
  users: [
    "id text",
    "email text",
    "password_hash text",
    "disabled_at timestamp with time zone",
    "created_at timestamp with time zone",
  ],
  sessions: [
    "id text",
    "token_hash bytea",
    "user_id text",
    "created_at timestamp with time zone",
    "last_seen_at timestamp with time zone",
    "idle_expires_at timestamp with time zone",
    "absolute_expires_at timestamp with time zone",
    "revoked_at timestamp with time zone",
  ],
  api_key_lookup: ["lookup text", "tenant_id text", "key_id text"],
  join_tokens: [
    "id text",
    "token_hash bytea",
    "workload text",
    "created_by text",
    "created_at timestamp with time zone",
    "expires_at timestamp with time zone",
    "used_at timestamp with time zone",
    "used_by text",
  ],
  hop_nonces: ["signer text", "nonce text", "expires_at timestamp with time zone"],
  source_directory: ["source_id text", "tenant_id text", "revision bigint", "deleted boolean"],
  // Under the fence, but the one table that stores credentials: hash and salt only.
  api_keys: [
    "id text",
    "tenant_id text",
    "project_id text",
    "name text",
    "prefix text",
    "salt bytea",
    "key_hash bytea",
    "permissions ARRAY",
    "created_by text",
    "created_at timestamp with time zone",
    "expires_at timestamp with time zone",
    "revoked_at timestamp with time zone",
    "last_used_at timestamp with time zone",
  ],
};

for (const kind of DRIVERS) {
  describe(`identity tables on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
    });
    after(async () => {
      await t?.close();
    });

    for (const [table, expected] of Object.entries(COLUMNS)) {
      test(`${table} has exactly its known, secret-free columns`, async () => {
        const rows = await t.admin<{ c: string }>(
          `select column_name || ' ' || data_type as c from information_schema.columns
            where table_schema = 'public' and table_name = $1 order by ordinal_position`,
          [table],
        );
        assert.deepEqual(
          rows.map((r) => r.c),
          expected,
        );
      });
    }

    test("a session stores a 32-byte token hash and refuses anything else", async () => {
      await t.db.withGlobal((tx) =>
        tx.query("insert into users (id, email, password_hash) values ('usr_id_1', 'id@example.test', 'h')"),
      );
      const insert = (id: string, tokenHash: Buffer) =>
        t.db.withGlobal((tx) =>
          tx.query(
            `insert into sessions (id, token_hash, user_id, idle_expires_at, absolute_expires_at)
             values ($1, $2, 'usr_id_1', now() + interval '1 hour', now() + interval '1 day')`,
            [id, tokenHash],
          ),
        );
      for (const bad of [randomBytes(31), randomBytes(33), randomBytes(0)]) {
        await assert.rejects(insert(`ses_bad_${bad.length}`, bad), (err) => sqlState(err) === "23514");
      }
      await insert("ses_ok", randomBytes(32));
      const [row] = await t.admin<{ n: number }>(
        "select length(token_hash) as n from sessions where id = 'ses_ok'",
      );
      assert.equal(row?.n, 32);
    });
  });
}
