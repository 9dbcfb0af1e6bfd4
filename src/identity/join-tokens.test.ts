import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { listAudit, SYSTEM_CHAIN, verifyAuditChain } from "../audit/index.ts";
import { fixedClock, isZenError } from "../core/index.ts";
import { sha256 } from "../crypto/index.ts";
import { createJoinToken, redeemJoinToken } from "./join-tokens.ts";

const base = { createdBy: "operator-1", correlationId: "corr_join" };

for (const kind of DRIVERS) {
  describe(`join tokens on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
    });
    after(async () => {
      await t?.close();
    });

    test("a token redeems once for its workload; the second redeem is 'used'", async () => {
      const clock = fixedClock("2030-01-01T00:00:00Z");
      const created = await createJoinToken(t.db, { ...base, workload: "agent/cluster-1", clock });
      assert.match(created.token, /^zmjt_[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(created.token.slice(5), "base64url").length, 32);
      assert.equal(created.expiresAt.toISOString(), "2030-01-01T00:10:00.000Z");
      const r1 = await redeemJoinToken(t.db, {
        token: created.token,
        correlationId: "corr_r1",
        clock,
        ip: "10.0.0.7",
      });
      assert.deepEqual(r1, { ok: true, value: { workload: "agent/cluster-1", tokenId: created.id } });
      const r2 = await redeemJoinToken(t.db, { token: created.token, correlationId: "corr_r2", clock });
      assert.deepEqual(r2, { ok: false, reason: "used" });
    });

    test("an expired token is 'expired' and stays unused", async () => {
      const clock = fixedClock("2030-01-01T00:00:00Z");
      const created = await createJoinToken(t.db, { ...base, workload: "ingester", ttlSeconds: 60, clock });
      clock.advance(60_000);
      assert.deepEqual(
        await redeemJoinToken(t.db, { token: created.token, correlationId: "corr_x", clock }),
        {
          ok: false,
          reason: "expired",
        },
      );
      const rows = await t.admin<{ used_at: unknown }>("select used_at from join_tokens where id = $1", [
        created.id,
      ]);
      assert.equal(rows[0]?.used_at, null);
    });

    test("an unknown or malformed token is 'unknown'", async () => {
      const clock = fixedClock("2030-01-01T00:00:00Z");
      const created = await createJoinToken(t.db, { ...base, workload: "egress", clock });
      const other = `zmjt_${"A".repeat(43)}`;
      for (const token of [other, "", "zmjt_short", created.token.toUpperCase(), `${created.token}x`]) {
        assert.deepEqual(await redeemJoinToken(t.db, { token, correlationId: "corr_u", clock }), {
          ok: false,
          reason: "unknown",
        });
      }
    });

    test("only the token's SHA-256 is stored", async () => {
      const clock = fixedClock("2030-01-01T00:00:00Z");
      const created = await createJoinToken(t.db, { ...base, workload: "backend", clock });
      const rows = await t.admin<Record<string, unknown>>("select * from join_tokens where id = $1", [
        created.id,
      ]);
      const row = rows[0];
      assert.ok(row);
      assert.deepEqual(Buffer.from(row.token_hash as Uint8Array), sha256(created.token));
      const dump = JSON.stringify(await t.admin("select * from join_tokens"), (_k, v) =>
        v instanceof Uint8Array ? Buffer.from(v).toString("base64url") : v,
      );
      assert.ok(!dump.includes(created.token.slice(5)), "the token is nowhere in the table");
    });

    test("creation and every redeem attempt are audited on the system chain, which verifies", async () => {
      const clock = fixedClock("2031-06-01T00:00:00Z");
      const created = await createJoinToken(t.db, {
        ...base,
        workload: "bff",
        clock,
        correlationId: "corr_aud_c",
      });
      await redeemJoinToken(t.db, {
        token: created.token,
        correlationId: "corr_aud_ok",
        clock,
        ip: "192.0.2.1",
      });
      await redeemJoinToken(t.db, { token: created.token, correlationId: "corr_aud_used", clock });
      const entries = await t.db.withTenant(SYSTEM_CHAIN, (tx) => listAudit(tx, { limit: 500 }));
      const mine = entries.filter((e) => e.targetId === created.id);
      const summary = mine
        .map((e) => [e.action, e.outcome, e.correlationId, e.details.reason ?? e.details.workload])
        .sort((a, b) => String(a[2]).localeCompare(String(b[2])));
      assert.deepEqual(summary, [
        ["join_token.create", "success", "corr_aud_c", "bff"],
        ["join_token.redeem", "success", "corr_aud_ok", "bff"],
        ["join_token.redeem", "failure", "corr_aud_used", "used"],
      ]);
      assert.equal(mine.find((e) => e.correlationId === "corr_aud_ok")?.ip, "192.0.2.1");
      assert.equal(mine.find((e) => e.action === "join_token.create")?.actorId, "operator-1");
      assert.ok(!JSON.stringify(entries).includes(created.token), "no token in the audit log");
      const verified = await verifyAuditChain(t.db, null);
      assert.equal(verified.ok, true);
    });

    test("refuses bad workloads and TTLs", async () => {
      const clock = fixedClock("2030-01-01T00:00:00Z");
      for (const workload of ["", "Ingester", "/ingester", "a//b", "a/", "a b"]) {
        await assert.rejects(
          createJoinToken(t.db, { ...base, workload, clock }),
          (e) => isZenError(e) && e.code === "VALIDATION_FAILED",
          workload,
        );
      }
      for (const ttlSeconds of [0, 86_401, 1.5]) {
        await assert.rejects(
          createJoinToken(t.db, { ...base, workload: "x", ttlSeconds, clock }),
          (e) => isZenError(e) && e.code === "VALIDATION_FAILED",
        );
      }
    });

    test("concurrent redeems of one token give exactly one success", async () => {
      const clock = fixedClock("2030-01-01T00:00:00Z");
      const created = await createJoinToken(t.db, { ...base, workload: "agent/c2", clock });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          redeemJoinToken(t.db, { token: created.token, correlationId: `corr_c${i}`, clock }),
        ),
      );
      assert.equal(results.filter((r) => r.ok).length, 1);
      assert.deepEqual(
        results.filter((r) => !r.ok).map((r) => !r.ok && r.reason),
        Array(7).fill("used"),
      );
    });
  });
}
