import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { appendAudit, appendAuditIn } from "./append.ts";
import { listAudit } from "./list.ts";
import type { AuditEntryInput } from "./types.ts";
import { verifyAuditChain } from "./verify.ts";

function entry(tenantId: string | null, extra: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    tenantId,
    actor: { type: "user", id: "usr_1" },
    action: "api_key.create",
    outcome: "success",
    correlationId: "corr_test",
    ...extra,
  };
}

for (const kind of DRIVERS) {
  describe(`audit append on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
    });
    after(async () => {
      await t?.close();
    });

    test("a chain of entries links each to the one before and verifies", async () => {
      const out = [];
      for (let i = 0; i < 12; i++)
        out.push(await appendAuditIn(t.db, entry("tnt_chain", { details: { i } })));
      assert.deepEqual(
        out.map((o) => o.seq),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      const rows = await t.db.withTenant("tnt_chain", (tx) => listAudit(tx, { limit: 100 }));
      assert.equal(rows[0]?.prevHash, "0".repeat(64));
      for (let i = 1; i < rows.length; i++) assert.equal(rows[i]?.prevHash, rows[i - 1]?.entryHash);
      assert.equal(rows.at(-1)?.entryHash, out.at(-1)?.hash);
      assert.deepEqual(await verifyAuditChain(t.db, "tnt_chain"), {
        ok: true,
        count: 12,
        headHash: out.at(-1)?.hash,
      });
    });

    test("an empty chain verifies with the genesis hash", async () => {
      assert.deepEqual(await verifyAuditChain(t.db, "tnt_nothing"), {
        ok: true,
        count: 0,
        headHash: "0".repeat(64),
      });
    });

    test("stores every field as given and reads it back exactly", async () => {
      const at = new Date("2024-05-01T12:34:56.789Z");
      const { id } = await appendAuditIn(
        t.db,
        entry("tnt_fields", {
          actor: { type: "api_key", id: "key_1", projectId: "prj_1" },
          action: "source.update",
          outcome: "denied",
          target: { type: "source", id: "src_1" },
          projectId: "prj_1",
          ip: "2001:db8::1",
          details: { name: "ünïcode 😀", count: 3, ratio: 0.25, big: 1e21, on: false, none: null },
          at,
        }),
      );
      const [r] = await t.db.withTenant("tnt_fields", (tx) => listAudit(tx, { limit: 1 }));
      assert.deepEqual(
        { ...r, prevHash: undefined, entryHash: undefined },
        {
          tenantId: "tnt_fields",
          seq: 1,
          id,
          occurredAt: at.toISOString(),
          actorType: "api_key",
          actorId: "key_1",
          action: "source.update",
          outcome: "denied",
          targetType: "source",
          targetId: "src_1",
          projectId: "prj_1",
          correlationId: "corr_test",
          ip: "2001:db8::1",
          details: { name: "ünïcode 😀", count: 3, ratio: 0.25, big: 1e21, on: false, none: null },
          prevHash: undefined,
          entryHash: undefined,
        },
      );
      assert.equal((await verifyAuditChain(t.db, "tnt_fields")).ok, true);
    });

    test("entries without a tenant go to the system chain", async () => {
      const a = await appendAuditIn(
        t.db,
        entry(null, { actor: { type: "anonymous" }, action: "auth.login" }),
      );
      assert.equal(a.seq, 1);
      const rows = await t.db.withTenant("_system", (tx) => listAudit(tx, { limit: 10 }));
      assert.deepEqual(
        rows.map((r) => [r.tenantId, r.actorType, r.actorId]),
        [["_system", "anonymous", null]],
      );
      assert.equal((await verifyAuditChain(t.db, null)).ok, true);
    });

    test("a tenant's entries are invisible to another tenant and the chains are independent", async () => {
      await appendAuditIn(t.db, entry("tnt_iso_a"));
      await appendAuditIn(t.db, entry("tnt_iso_a"));
      const b = await appendAuditIn(t.db, entry("tnt_iso_b"));
      assert.equal(b.seq, 1);
      const seen = await t.db.withTenant("tnt_iso_b", async (tx) => ({
        list: await listAudit(tx, { limit: 100 }),
        raw: (await tx.query("select tenant_id from audit_log where tenant_id = 'tnt_iso_a'")).rows,
        heads: (await tx.query("select tenant_id from audit_heads")).rows,
      }));
      assert.deepEqual(
        seen.list.map((r) => r.tenantId),
        ["tnt_iso_b"],
      );
      assert.deepEqual(seen.raw, []);
      assert.deepEqual(seen.heads, [{ tenant_id: "tnt_iso_b" }]);
      const a = await verifyAuditChain(t.db, "tnt_iso_a");
      assert.equal(a.ok && a.count, 2);
      const bv = await verifyAuditChain(t.db, "tnt_iso_b");
      assert.deepEqual(bv, { ok: true, count: 1, headHash: b.hash });
    });

    test("refuses an entry for a chain other than the transaction's tenant", async () => {
      await assert.rejects(
        t.db.withTenant("tnt_ctx_b", (tx) => appendAudit(tx, entry("tnt_ctx_a"))),
        { code: "INTERNAL" },
      );
      await assert.rejects(
        t.db.withTenant("tnt_ctx_b", (tx) => appendAudit(tx, entry(null))),
        { code: "INTERNAL" },
      );
      await assert.rejects(
        t.db.withGlobal((tx) => appendAudit(tx, entry("tnt_ctx_a"))),
        { code: "INTERNAL" },
      );
      assert.deepEqual(await verifyAuditChain(t.db, "tnt_ctx_a"), {
        ok: true,
        count: 0,
        headHash: "0".repeat(64),
      });
    });

    test("a failed audit fails the write it records, and a failed write takes its audit with it", async () => {
      await assert.rejects(
        t.db.withTenant("tnt_rb", async (tx) => {
          await tx.query("insert into tenants (id, name) values ('tnt_rb', 'RB')");
          await appendAudit(tx, entry("tnt_rb", { details: { nested: { a: 1 } as unknown as string } }));
        }),
        { code: "INTERNAL" },
      );
      await assert.rejects(
        t.db.withTenant("tnt_rb", async (tx) => {
          await appendAudit(tx, entry("tnt_rb"));
          throw new Error("the change failed after its audit entry");
        }),
        /the change failed/,
      );
      const left = await t.db.withTenant("tnt_rb", async (tx) => ({
        tenants: (await tx.query("select id from tenants")).rows,
        audit: await listAudit(tx, { limit: 10 }),
      }));
      assert.deepEqual(left, { tenants: [], audit: [] });
      const next = await appendAuditIn(t.db, entry("tnt_rb"));
      assert.equal(next.seq, 1);
      assert.equal((await verifyAuditChain(t.db, "tnt_rb")).ok, true);
    });

    test("the runtime role cannot update or delete audit entries", async () => {
      await appendAuditIn(t.db, entry("tnt_ro"));
      await assert.rejects(
        t.db.withTenant("tnt_ro", (tx) =>
          tx.query("update audit_log set action = 'auth.logout' where seq = 1"),
        ),
      );
      await assert.rejects(
        t.db.withTenant("tnt_ro", (tx) => tx.query("delete from audit_log where seq = 1")),
      );
      await assert.rejects(t.db.withTenant("tnt_ro", (tx) => tx.query("truncate audit_log")));
      const rows = await t.db.withTenant("tnt_ro", (tx) => listAudit(tx, { limit: 10 }));
      assert.deepEqual(
        rows.map((r) => r.action),
        ["api_key.create"],
      );
    });

    test("concurrent appends, starting from no head, produce a gap-free chain", async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => appendAuditIn(t.db, entry("tnt_race", { details: { i } }))),
      );
      assert.deepEqual(
        results.map((r) => r.seq).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const v = await verifyAuditChain(t.db, "tnt_race");
      assert.equal(v.ok, true);
      assert.equal(v.ok && v.count, 20);
    });

    test("verification running beside appends sees a consistent chain", async () => {
      await appendAuditIn(t.db, entry("tnt_busy"));
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        work.push(appendAuditIn(t.db, entry("tnt_busy", { details: { i } })));
        work.push(verifyAuditChain(t.db, "tnt_busy"));
      }
      const results = await Promise.all(work);
      for (const r of results) if ("ok" in (r as object)) assert.equal((r as { ok: boolean }).ok, true);
      const final = await verifyAuditChain(t.db, "tnt_busy");
      assert.equal(final.ok && final.count, 11);
    });

    test("lists after a seq, by action, up to a limit", async () => {
      for (const action of ["auth.login", "auth.logout", "auth.login", "auth.login"]) {
        await appendAuditIn(t.db, entry("tnt_list", { action }));
      }
      const page = await t.db.withTenant("tnt_list", async (tx) => ({
        first: await listAudit(tx, { limit: 2 }),
        rest: await listAudit(tx, { limit: 10, afterSeq: 2 }),
        logins: await listAudit(tx, { limit: 10, action: "auth.login" }),
        beyond: await listAudit(tx, { limit: 10, afterSeq: 3_000_000_000 }),
      }));
      assert.deepEqual(
        page.first.map((r) => r.seq),
        [1, 2],
      );
      assert.deepEqual(
        page.rest.map((r) => r.seq),
        [3, 4],
      );
      assert.deepEqual(
        page.logins.map((r) => r.seq),
        [1, 3, 4],
      );
      assert.deepEqual(page.beyond, []);
      await t.db.withTenant("tnt_list", async (tx) => {
        await assert.rejects(listAudit(tx, { limit: 0 }), { code: "VALIDATION_FAILED" });
        await assert.rejects(listAudit(tx, { limit: 1001 }), { code: "VALIDATION_FAILED" });
        await assert.rejects(listAudit(tx, { limit: 1, afterSeq: -1 }), { code: "VALIDATION_FAILED" });
      });
    });
  });
}
