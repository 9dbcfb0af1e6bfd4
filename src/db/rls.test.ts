/**
 * Acceptance tests for the tenant fence: on both drivers, the runtime role
 * (through withTenant / withUser / withGlobal only) can read and write only the
 * rows of the tenant in its context. The tenant tables are discovered from the
 * catalog, so a new table without RLS, FORCE or a tenant policy fails here.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import {
  DRIVERS,
  freshDatabase,
  skipReason,
  TEST_FENCE,
  TEST_MASTER_KEYS,
  type TestDatabase,
} from "../../test/support/db.ts";
import { generateMasterKey, parseMasterKeyRing } from "../zenlock/index.ts";
import { sqlState } from "./errors.ts";
import { type OpenedDatabase, openDatabase, tenantFence } from "./index.ts";
import type { Tx } from "./types.ts";

const A = "tnt_rls_a";
const B = "tnt_rls_b";

interface Insert {
  sql: string;
  params: unknown[];
}

interface TenantTable {
  /** The column the policy fences on. */
  column: string;
  /** A harmless column for `update … set c = c`. */
  touch: string;
  /** A row of `tenant`; `n` makes it unique within the tenant. */
  insert(tenant: string, n: string): Insert;
}

const hash = (byte: number, length = 32) => Buffer.alloc(length, byte);

/** Every table under Row Level Security, with how to seed it. A new one must be added here. */
const TENANT_TABLES: Record<string, TenantTable> = {
  tenants: {
    column: "id",
    touch: "name",
    insert: (tenant) => ({ sql: "insert into tenants (id, name) values ($1, $1)", params: [tenant] }),
  },
  projects: {
    column: "tenant_id",
    touch: "name",
    insert: (tenant, n) => ({
      sql: "insert into projects (id, tenant_id, name) values ($1, $2, 'p')",
      params: [`prj_${tenant}_${n}`, tenant],
    }),
  },
  memberships: {
    column: "tenant_id",
    touch: "role",
    insert: (tenant, n) => ({
      sql: "insert into memberships (tenant_id, user_id, role) values ($1, $2, 'viewer')",
      params: [tenant, `usr_rls_${n}`],
    }),
  },
  api_keys: {
    column: "tenant_id",
    touch: "name",
    insert: (tenant, n) => ({
      sql: `insert into api_keys (id, tenant_id, project_id, name, prefix, salt, key_hash, permissions, created_by)
            values ($1, $2, $3, 'k', 'zm_test_x', $4, $5, '{}', 'usr_rls_1')`,
      params: [`key_${tenant}_${n}`, tenant, `prj_${tenant}_1`, hash(1, 16), hash(2)],
    }),
  },
  tenant_keys: {
    column: "tenant_id",
    touch: "wrapped",
    insert: (tenant, n) => ({
      sql: "insert into tenant_keys (tenant_id, purpose, version, wrapped) values ($1, 'data', $2, 'w')",
      params: [tenant, n === "x" ? 99 : Number(n)],
    }),
  },
  audit_log: {
    column: "tenant_id",
    touch: "action",
    insert: (tenant, n) => ({
      sql: `insert into audit_log (tenant_id, seq, id, occurred_at, actor_type, action, outcome,
              correlation_id, prev_hash, entry_hash)
            values ($1, $2, $3, now(), 'system', 'test.seed', 'success', 'cor_rls', $4, $5)`,
      params: [tenant, n === "x" ? 99 : Number(n), `aud_${tenant}_${n}`, hash(0), hash(3)],
    }),
  },
  audit_heads: {
    column: "tenant_id",
    touch: "seq",
    insert: (tenant) => ({
      sql: "insert into audit_heads (tenant_id, seq, entry_hash) values ($1, 1, $2)",
      params: [tenant, hash(3)],
    }),
  },
  sources: {
    column: "tenant_id",
    touch: "name",
    insert: (tenant, n) => ({
      sql: "insert into sources (id, tenant_id, project_id, name, scheme) values ($1, $2, $3, 's', 'github')",
      params: [`src_${tenant}_${n}`, tenant, `prj_${tenant}_1`],
    }),
  },
  source_secrets: {
    column: "tenant_id",
    touch: "sealed",
    insert: (tenant, n) => ({
      sql: "insert into source_secrets (tenant_id, source_id, version, sealed) values ($1, $2, $3, 'zl:x')",
      params: [tenant, `src_${tenant}_1`, n === "x" ? 99 : Number(n) + 10],
    }),
  },
  events: {
    column: "tenant_id",
    touch: "type",
    insert: (tenant, n) => ({
      sql: `insert into events (id, tenant_id, project_id, source_id, type, time, ce_source, received_at,
              correlation_id, fingerprint, fingerprint_version, payload_sealed, payload_bytes)
            values ($1, $2, $3, 's', 't', now(), 'zenmesh', now(), 'corr_rls', $4, 1, 'zl:x', 1)`,
      params: [`evt_${tenant}_${n}`, tenant, `prj_${tenant}_1`, hash(4)],
    }),
  },
  ingest_replays: {
    column: "tenant_id",
    touch: "event_id",
    insert: (tenant, n) => ({
      sql: `insert into ingest_replays (tenant_id, source_id, replay_key, event_id, expires_at)
            values ($1, 's', $2, 'evt', now() + interval '1 hour')`,
      params: [tenant, `k${n}`],
    }),
  },
  destinations: {
    column: "tenant_id",
    touch: "name",
    insert: (tenant, n) => ({
      sql: `insert into destinations (id, tenant_id, project_id, name, url, retry_schedule)
            values ($1, $2, $3, 'd', 'https://example.com/hook', '{}')`,
      params: [`dst_${tenant}_${n}`, tenant, `prj_${tenant}_1`],
    }),
  },
  destination_secrets: {
    column: "tenant_id",
    touch: "sealed",
    insert: (tenant, n) => ({
      sql: "insert into destination_secrets (tenant_id, destination_id, version, sealed) values ($1, $2, $3, 'zl:x')",
      params: [tenant, `dst_${tenant}_1`, n === "x" ? 99 : Number(n) + 10],
    }),
  },
  subscriptions: {
    column: "tenant_id",
    touch: "name",
    insert: (tenant, n) => ({
      sql: "insert into subscriptions (id, tenant_id, project_id, destination_id, name) values ($1, $2, $3, $4, 's')",
      params: [`sub_${tenant}_${n}`, tenant, `prj_${tenant}_1`, `dst_${tenant}_1`],
    }),
  },
  deliveries: {
    column: "tenant_id",
    touch: "attempts",
    insert: (tenant, n) => ({
      sql: `insert into deliveries (id, tenant_id, project_id, event_id, destination_id, seq, created_at, updated_at)
            values ($1, $2, $3, $4, $5, nextval('delivery_seq'), now(), now())`,
      params: [`dlv_${tenant}_${n}`, tenant, `prj_${tenant}_1`, `evt_${tenant}_${n}`, `dst_${tenant}_1`],
    }),
  },
  delivery_attempts: {
    column: "tenant_id",
    touch: "latency_ms",
    insert: (tenant, n) => ({
      sql: `insert into delivery_attempts (tenant_id, delivery_id, attempt, started_at, latency_ms, verdict)
            values ($1, $2, $3, now(), 1, 'success')`,
      params: [tenant, `dlv_${tenant}_1`, n === "x" ? 99 : Number(n) + 10],
    }),
  },
  replay_jobs: {
    column: "tenant_id",
    touch: "total",
    insert: (tenant, n) => ({
      sql: `insert into replay_jobs (id, tenant_id, project_id, filter, trigger, created_at)
            values ($1, $2, $3, '{}', 'api', now())`,
      params: [`rpl_${tenant}_${n}`, tenant, `prj_${tenant}_1`],
    }),
  },
  project_quotas: {
    column: "tenant_id",
    touch: "sources",
    insert: (tenant) => ({
      sql: "insert into project_quotas (tenant_id, project_id, sources) values ($1, $2, 5)",
      params: [tenant, `prj_${tenant}_1`],
    }),
  },
};

/** Public tables outside the fence: identity and bookkeeping, no tenant data; the fence keys, owner-only. */
const UNFENCED_TABLES = [
  "api_key_lookup",
  "delivery_queue",
  "destination_gates",
  "hop_nonces",
  "join_tokens",
  "replay_job_directory",
  "schema_migrations",
  "sessions",
  "source_directory",
  "users",
  "zm_fence_keys",
];

const TABLE_NAMES = Object.keys(TENANT_TABLES).sort();

function table(name: string): TenantTable {
  const spec = TENANT_TABLES[name];
  if (!spec) throw new Error(`no seed for ${name}`);
  return spec;
}

/** Seeds tenants A and B (and a second membership for user 2 in A) under the fence, as each tenant. */
async function seed(db: OpenedDatabase, admin: TestDatabase["admin"]): Promise<void> {
  await admin(
    "insert into users (id, email, password_hash) values ('usr_rls_1', 'one@example.test', 'h'), ('usr_rls_2', 'two@example.test', 'h'), ('usr_rls_x', 'x@example.test', 'h')",
  );
  for (const tenant of [A, B]) {
    await db.withTenant(tenant, async (tx) => {
      for (const name of Object.keys(TENANT_TABLES)) {
        const { sql, params } = table(name).insert(tenant, "1");
        await tx.query(sql, params);
      }
    });
  }
  await db.withTenant(A, async (tx) => {
    const { sql, params } = table("memberships").insert(A, "2");
    await tx.query(sql, params);
  });
}

async function countAs(t: TestDatabase, name: string, tenant: string): Promise<number> {
  const spec = table(name);
  const rows = await t.admin<{ n: number }>(
    `select count(*)::int as n from ${name} where ${spec.column} = $1`,
    [tenant],
  );
  return rows[0]?.n ?? -1;
}

function isSqlError(code: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.equal(sqlState(err), code, `expected SQLSTATE ${code}, got ${String(err)}`);
    if (pattern) assert.match((err as Error).message, pattern);
    return true;
  };
}

const RLS_VIOLATION = /row-level security/;

async function deletable(t: TestDatabase, name: string): Promise<boolean> {
  const rows = await t.admin<{ ok: boolean }>(
    "select has_table_privilege('zenmesh_app', $1, 'DELETE') as ok",
    [`public.${name}`],
  );
  return rows[0]?.ok === true;
}

for (const kind of DRIVERS) {
  describe(`the tenant fence on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
      await seed(t.db, t.admin);
    });
    after(async () => {
      await t?.close();
    });

    test("every table under RLS is forced, fenced on the proved tenant (never the raw setting) and seeded by this suite", async () => {
      const rels = await t.admin<{ name: string; rls: boolean; force: boolean }>(
        `select c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname`,
      );
      const fenced = rels.filter((r) => r.rls).map((r) => r.name);
      assert.deepEqual(fenced, TABLE_NAMES, "a table under RLS needs a seed in TENANT_TABLES");
      for (const r of rels.filter((x) => x.rls))
        assert.equal(r.force, true, `${r.name} lacks FORCE ROW LEVEL SECURITY`);
      const unfenced = rels.filter((r) => !r.rls).map((r) => r.name);
      assert.deepEqual(unfenced, UNFENCED_TABLES, "a table outside the fence must be an identity table");

      const policies = await t.admin<{
        table: string;
        name: string;
        cmd: string;
        permissive: string;
        qual: string;
        check: string | null;
      }>(
        `select tablename as table, policyname as name, cmd, permissive, qual, with_check as check
           from pg_policies where schemaname = 'public' order by tablename, policyname`,
      );
      // The policies compare against the verified context, once per statement (an initplan), and
      // never against the raw setting, which the runtime role can set to anything.
      const PROVED = "( SELECT zm_fence_tenant() AS zm_fence_tenant)";
      for (const name of TABLE_NAMES) {
        const fences = policies.filter(
          (p) => p.table === name && p.cmd === "ALL" && p.qual.includes(PROVED) && p.check?.includes(PROVED),
        );
        assert.equal(fences.length, 1, `${name} needs one policy on zm_fence_tenant() for all commands`);
      }
      for (const p of policies) {
        assert.doesNotMatch(`${p.qual} ${p.check ?? ""}`, /current_setting/, `${p.table}.${p.name}`);
      }
      // Permissive policies widen each other: any other one must be a known read-only self view.
      const others = policies
        .filter((p) => !(p.cmd === "ALL" && p.qual.includes(PROVED)))
        .map((p) => `${p.table}.${p.name}:${p.cmd}:${p.permissive}`);
      assert.deepEqual(others, ["memberships.memberships_self:SELECT:PERMISSIVE"]);
      const self = policies.find((p) => p.name === "memberships_self");
      assert.match(self?.qual ?? "", /\( SELECT zm_fence_user\(\) AS zm_fence_user\)/);
    });

    test("the runtime role may not truncate any table, nor rewrite the audit log", async () => {
      const grants = await t.admin<{ table: string; privilege: string }>(
        `select table_name as table, privilege_type as privilege from information_schema.role_table_grants
          where grantee = 'zenmesh_app' and table_schema = 'public' order by 1, 2`,
      );
      assert.deepEqual(
        grants.filter(
          (g) => g.privilege === "TRUNCATE" || g.privilege === "TRIGGER" || g.privilege === "REFERENCES",
        ),
        [],
      );
      assert.deepEqual(
        grants.filter((g) => g.table === "audit_log").map((g) => g.privilege),
        ["INSERT", "SELECT"],
      );
      for (const name of TABLE_NAMES) {
        await assert.rejects(
          t.db.withTenant(A, (tx) => tx.query(`truncate ${name}`)),
          isSqlError("42501"),
          `truncate ${name}`,
        );
      }
    });

    for (const name of TABLE_NAMES) {
      describe(name, () => {
        test("a tenant reads only its own rows", async () => {
          const spec = table(name);
          const rows = await t.db.withTenant(
            A,
            async (tx) => (await tx.query<{ t: string }>(`select ${spec.column} as t from ${name}`)).rows,
          );
          assert.equal(rows.length, await countAs(t, name, A));
          assert.ok(rows.length > 0);
          assert.deepEqual(new Set(rows.map((r) => r.t)), new Set([A]));
          const other = await t.db.withTenant(A, (tx) =>
            tx.query(`select 1 from ${name} where ${spec.column} = $1`, [B]),
          );
          assert.equal(other.rows.length, 0);
        });

        if (name === "audit_log" || name === "delivery_attempts") {
          test("update and delete are refused, even of the tenant's own rows", async () => {
            const spec = table(name);
            for (const tenant of [A, B]) {
              await assert.rejects(
                t.db.withTenant(A, (tx) =>
                  tx.query(`update ${name} set ${spec.touch} = ${spec.touch} where tenant_id = $1`, [tenant]),
                ),
                isSqlError("42501"),
              );
              await assert.rejects(
                t.db.withTenant(A, (tx) => tx.query(`delete from ${name} where tenant_id = $1`, [tenant])),
                isSqlError("42501"),
              );
            }
            assert.equal(await countAs(t, name, A), 1);
            assert.equal(await countAs(t, name, B), 1);
          });
        } else {
          test("an update of another tenant's rows affects none", async () => {
            const spec = table(name);
            const before = await countAs(t, name, B);
            const r = await t.db.withTenant(A, (tx) =>
              tx.query(`update ${name} set ${spec.touch} = ${spec.touch} where ${spec.column} = $1`, [B]),
            );
            assert.equal(r.rowCount, 0);
            const all = await t.db.withTenant(A, (tx) =>
              tx.query(`update ${name} set ${spec.touch} = ${spec.touch}`),
            );
            assert.equal(all.rowCount, await countAs(t, name, A));
            assert.equal(await countAs(t, name, B), before);
          });

          test("an update cannot move a row to another tenant", async () => {
            const spec = table(name);
            await assert.rejects(
              t.db.withTenant(A, (tx) => tx.query(`update ${name} set ${spec.column} = $1`, [B])),
              isSqlError("42501", RLS_VIOLATION),
            );
          });

          test("a delete of another tenant's rows affects none (or is not granted at all)", async () => {
            const spec = table(name);
            const before = await countAs(t, name, B);
            const granted = await deletable(t, name);
            const del = () =>
              t.db.withTenant(A, (tx) => tx.query(`delete from ${name} where ${spec.column} = $1`, [B]));
            if (granted) assert.equal((await del()).rowCount, 0);
            else await assert.rejects(del(), isSqlError("42501", /permission denied/));
            assert.equal(await countAs(t, name, B), before);
          });
        }

        test("an insert of another tenant's row is rejected", async () => {
          const { sql, params } = table(name).insert(B, "x");
          await assert.rejects(
            t.db.withTenant(A, (tx) => tx.query(sql, params)),
            isSqlError("42501", RLS_VIOLATION),
          );
        });
      });
    }

    test("SQL run as the runtime role cannot fence itself to another tenant with set_config", async () => {
      const good = TEST_FENCE.context("tenant", B);
      const [, , mac = ""] = good.split(".");
      const v1 = tenantFence({ active: 1, keys: TEST_MASTER_KEYS.keys }).context("tenant", B);
      const stranger = tenantFence(parseMasterKeyRing(generateMasterKey(), "x")).context("tenant", B);
      const forgeries = [
        B, // the plain id
        `${B}.2.${TEST_FENCE.context("tenant", A).split(".")[2]}`, // A's MAC on B's id
        `${B}.2.${"0".repeat(64)}`, // a made-up MAC
        `${B}.2.${v1.split(".")[2]}`, // version 1's MAC, labelled version 2
        `${B}.9.${mac}`, // a version the database does not have
        good.slice(0, -1), // truncated
        `${B}.2.${mac.slice(0, 32)}`, // half a MAC
        `${B}.2.${mac.toUpperCase()}`,
        `${good}\n`,
        ` ${good}`,
        TEST_FENCE.context("user", B), // a user context's MAC, as a tenant
        stranger, // signed with a master key the database never stored
        `${A}x.2.${mac}`,
        `${B}.${mac}`, // no version
        `.2.${mac}`, // no id
        `${B}.02.${mac}`, // a version written another way
        `${B}.99999999.${mac}`,
        `${B}.-2.${mac}`,
      ];
      for (const forged of forgeries) {
        for (const name of TABLE_NAMES) {
          const seen = await t.db.withTenant(A, async (tx) => {
            await tx.query("select set_config('app.tenant_id', $1, true)", [forged]);
            return (await tx.query(`select * from ${name}`)).rows.length;
          });
          assert.equal(seen, 0, `${name} shows rows to a forged context ${forged.slice(0, 40)}`);
        }
      }
      // The same statement with the context the driver signs (any version the database holds) sees B's rows.
      for (const proof of [good, v1]) {
        for (const name of TABLE_NAMES) {
          const seen = await t.db.withTenant(A, async (tx) => {
            await tx.query("select set_config('app.tenant_id', $1, true)", [proof]);
            const spec = table(name);
            return (await tx.query<{ t: string }>(`select ${spec.column} as t from ${name}`)).rows;
          });
          assert.equal(seen.length, await countAs(t, name, B), name);
          assert.deepEqual(new Set(seen.map((r) => r.t)), new Set([B]), name);
        }
      }
    });

    test("the policy verifies the context once per statement (an initplan), not once per row", async () => {
      interface PlanNode {
        "Node Type": string;
        "Parent Relationship"?: string;
        "Actual Rows": number;
        "Actual Loops": number;
        Plans?: PlanNode[];
      }
      const plan = await t.db.withTenant(A, async (tx) => {
        for (let i = 0; i < 6; i++) {
          const { sql, params } = table("projects").insert(A, `plan${i}`);
          await tx.query(sql, params);
        }
        const r = await tx.query<{ "QUERY PLAN": unknown }>(
          "explain (analyze, costs off, timing off, summary off, format json) select * from projects",
        );
        const raw = r.rows[0]?.["QUERY PLAN"];
        const doc = (typeof raw === "string" ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
        return doc[0]?.Plan;
      });
      assert.ok(plan);
      const nodes: PlanNode[] = [];
      const walk = (n: PlanNode) => {
        nodes.push(n);
        for (const c of n.Plans ?? []) walk(c);
      };
      walk(plan);
      const init = nodes.filter((n) => n["Parent Relationship"] === "InitPlan");
      assert.equal(init.length, 1, JSON.stringify(plan));
      assert.equal(init[0]?.["Actual Loops"], 1);
      assert.ok(plan["Actual Rows"] >= 7, `the scan returned ${plan["Actual Rows"]} rows`);
    });

    test("a forged user context sees no one's memberships", async () => {
      for (const forged of [
        "usr_rls_1",
        `usr_rls_1.2.${"0".repeat(64)}`,
        TEST_FENCE.context("tenant", "usr_rls_1"),
      ]) {
        const seen = await t.db.withGlobal(async (tx) => {
          await tx.query("select set_config('app.user_id', $1, true)", [forged]);
          return (await tx.query("select * from memberships")).rows.length;
        });
        assert.equal(seen, 0, forged);
      }
    });

    if (kind === "postgres") {
      test("a runtime login of its own, setting a tenant id, sees nothing and cannot read the fence keys", async () => {
        assert.ok(t.urls);
        const c = new pg.Client({ connectionString: t.urls.runtime });
        await c.connect();
        try {
          await c.query("begin");
          await c.query("select set_config('app.tenant_id', $1, true)", [B]);
          for (const name of TABLE_NAMES) {
            assert.equal((await c.query(`select * from ${name}`)).rows.length, 0, name);
          }
          await c.query("rollback");
          await assert.rejects(c.query("select * from zm_fence_keys"), isSqlError("42501"));
        } finally {
          await c.end();
        }
      });
    }

    test("with no tenant context every tenant table reads empty and refuses inserts", async () => {
      for (const name of TABLE_NAMES) {
        assert.ok((await countAs(t, name, A)) > 0);
        const r = await t.db.withGlobal((tx) => tx.query(`select * from ${name}`));
        assert.equal(r.rows.length, 0, `${name} leaks rows without a tenant`);
        const { sql, params } = table(name).insert(A, "x");
        await assert.rejects(
          t.db.withGlobal((tx) => tx.query(sql, params)),
          isSqlError("42501", RLS_VIOLATION),
          name,
        );
      }
    });

    test("a tenant with no rows sees nothing", async () => {
      for (const name of TABLE_NAMES) {
        const r = await t.db.withTenant("tnt_rls_nobody", (tx) => tx.query(`select * from ${name}`));
        assert.equal(r.rows.length, 0, name);
      }
    });

    describe("a user's own memberships", () => {
      test("a user sees their memberships across tenants and no one else's", async () => {
        const one = await t.db.withUser(
          "usr_rls_1",
          async (tx) =>
            (await tx.query("select tenant_id, user_id from memberships order by tenant_id")).rows,
        );
        assert.deepEqual(one, [
          { tenant_id: A, user_id: "usr_rls_1" },
          { tenant_id: B, user_id: "usr_rls_1" },
        ]);
        const two = await t.db.withUser(
          "usr_rls_2",
          async (tx) => (await tx.query("select tenant_id, user_id from memberships")).rows,
        );
        assert.deepEqual(two, [{ tenant_id: A, user_id: "usr_rls_2" }]);
        const none = await t.db.withUser("usr_rls_nobody", (tx) => tx.query("select * from memberships"));
        assert.equal(none.rows.length, 0);
      });

      test("a user context sees no other tenant table", async () => {
        for (const name of TABLE_NAMES.filter((n) => n !== "memberships")) {
          const r = await t.db.withUser("usr_rls_1", (tx) => tx.query(`select * from ${name}`));
          assert.equal(r.rows.length, 0, name);
        }
      });

      test("a user cannot insert, update or delete memberships through the self view", async () => {
        await assert.rejects(
          t.db.withUser("usr_rls_2", (tx) =>
            tx.query("insert into memberships (tenant_id, user_id, role) values ($1, 'usr_rls_2', 'owner')", [
              B,
            ]),
          ),
          isSqlError("42501", RLS_VIOLATION),
        );
        const up = await t.db.withUser("usr_rls_1", (tx) =>
          tx.query("update memberships set role = 'owner' where user_id = 'usr_rls_1'"),
        );
        assert.equal(up.rowCount, 0);
        const del = await t.db.withUser("usr_rls_1", (tx) =>
          tx.query("delete from memberships where user_id = 'usr_rls_1'"),
        );
        assert.equal(del.rowCount, 0);
        const rows = await t.admin<{ role: string }>(
          "select role from memberships where user_id = 'usr_rls_1' order by tenant_id",
        );
        assert.deepEqual(
          rows.map((r) => r.role),
          ["viewer", "viewer"],
        );
      });
    });
  });

  describe(`a reused connection on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    /** PostgreSQL: a second handle with a pool of one, so every transaction shares one connection. */
    let db: OpenedDatabase;
    before(async () => {
      t = await freshDatabase(kind);
      await seed(t.db, t.admin);
      db =
        kind === "postgres" && t.urls
          ? await openDatabase(
              { kind: "postgres", url: t.urls.runtime, poolSize: 1, fence: TEST_FENCE },
              { migrate: false },
            )
          : t.db;
    });
    after(async () => {
      if (db !== t?.db) await db?.close();
      await t?.close();
    });

    interface Seen {
      pid: number;
      tenant: string | null;
      user: string | null;
      role: string;
      rows: number;
    }
    const look = async (tx: Tx): Promise<Seen> => {
      const r = await tx.query<Omit<Seen, "rows">>(
        `select pg_backend_pid() as pid, zm_fence_tenant() as tenant, zm_fence_user() as user,
                current_user as role`,
      );
      let rows = 0;
      for (const name of TABLE_NAMES) rows += (await tx.query(`select 1 from ${name}`)).rows.length;
      const row = r.rows[0];
      assert.ok(row);
      return { ...row, rows };
    };

    async function assertNoTenantLeft(pid: number): Promise<void> {
      const next = await db.withGlobal(look);
      assert.equal(next.pid, pid, "the pool handed out another connection");
      assert.equal(next.tenant, null);
      assert.equal(next.user, null);
      assert.equal(next.rows, 0);
      if (kind === "pglite") {
        // The one session is the superuser: the role switch must not outlive the transaction.
        const [after] = await t.admin<{ role: string; tenant: string | null }>(
          "select current_user as role, current_setting('app.tenant_id', true) as tenant",
        );
        assert.deepEqual(after, { role: "postgres", tenant: "" });
      }
    }

    test("the next transaction on the connection carries no tenant", async () => {
      const first = await db.withTenant(A, look);
      assert.equal(first.tenant, A);
      assert.equal(first.role, "zenmesh_app");
      assert.ok(first.rows > 0);
      await assertNoTenantLeft(first.pid);
      const user = await db.withUser("usr_rls_1", look);
      assert.deepEqual(
        { tenant: user.tenant, user: user.user, rows: user.rows },
        { tenant: null, user: "usr_rls_1", rows: 2 },
      );
      await assertNoTenantLeft(user.pid);
    });

    test("a transaction that throws midway rolls back and leaves no tenant behind", async () => {
      const boom = new Error("boom");
      let pid = 0;
      await assert.rejects(
        db.withTenant(A, async (tx) => {
          pid = (await look(tx)).pid;
          await tx.query(
            table("projects").insert(A, "rollback").sql,
            table("projects").insert(A, "rollback").params,
          );
          throw boom;
        }),
        (err) => err === boom,
      );
      assert.deepEqual(await t.admin("select id from projects where id = $1", [`prj_${A}_rollback`]), []);
      await assertNoTenantLeft(pid);
    });

    test("a statement that fails midway rolls back the transaction and the connection is reused", async () => {
      let pid = 0;
      const projects = table("projects");
      await assert.rejects(
        db.withTenant(A, async (tx) => {
          pid = (await look(tx)).pid;
          const mine = projects.insert(A, "failed");
          await tx.query(mine.sql, mine.params);
          const theirs = projects.insert(B, "failed");
          await tx.query(theirs.sql, theirs.params);
        }),
        isSqlError("42501", RLS_VIOLATION),
      );
      assert.deepEqual(await t.admin("select id from projects where id like '%_failed'"), []);
      await assertNoTenantLeft(pid);
    });
  });
}
