import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { appendAuditIn } from "./append.ts";
import { auditCheckpoint } from "./checkpoint.ts";
import { listAudit } from "./list.ts";
import { merkleInclusionProof, merkleLeafHash, merkleRoot, verifyMerkleInclusion } from "./merkle.ts";
import type { AuditVerification } from "./types.ts";
import { VERIFY_PAGE_SIZE, verifyAuditChain } from "./verify.ts";

const N = 5;
const K = 3;

// Each column of entry K, rewritten as someone with direct table access would.
const TAMPERS: Record<string, string> = {
  tenant_id: "tenant_id = tenant_id || '_x'",
  seq: "seq = 100000",
  id: "id = 'aud_forged'",
  occurred_at: "occurred_at = occurred_at + interval '1 millisecond'",
  occurred_at_microsecond: "occurred_at = occurred_at + interval '1 microsecond'",
  actor_type: "actor_type = 'operator'",
  actor_id: "actor_id = 'usr_someone_else'",
  action: "action = 'auth.logout'",
  outcome: "outcome = 'failure'",
  target_type: "target_type = 'project'",
  target_id: "target_id = 'src_other'",
  project_id: "project_id = 'prj_other'",
  correlation_id: "correlation_id = 'corr_other'",
  ip: "ip = '10.9.9.9'",
  details: `details = '{"n": 3, "extra": true}'::jsonb`,
  details_value: `details = '{"n": 4}'::jsonb`,
  details_unencodable: `details = '{"n": 1e400}'::jsonb`,
  prev_hash: "prev_hash = sha256('x'::bytea)",
  entry_hash: "entry_hash = sha256('x'::bytea)",
};

for (const kind of DRIVERS) {
  describe(`audit verification on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
    });
    after(async () => {
      await t?.close();
    });

    async function chain(tenant: string, n = N): Promise<void> {
      for (let i = 1; i <= n; i++) {
        await appendAuditIn(t.db, {
          tenantId: tenant,
          actor: { type: "user", id: "usr_1" },
          action: "source.update",
          outcome: "success",
          target: { type: "source", id: "src_1" },
          projectId: "prj_1",
          correlationId: `corr_${i}`,
          ip: "192.0.2.1",
          details: { n: i },
          at: new Date(Date.UTC(2024, 4, 1, 12, 0, i, 123)),
        });
      }
    }

    /** Rewrites history with the append-only trigger off, as a superuser could. */
    async function tamper(sql: string, params?: unknown[]): Promise<void> {
      await t.admin("alter table audit_log disable trigger audit_log_no_update");
      try {
        await t.admin(sql, params);
      } finally {
        await t.admin("alter table audit_log enable trigger audit_log_no_update");
      }
    }

    const broken = (v: AuditVerification) => (v.ok ? "ok" : `${v.reason}@${v.brokenAt}`);

    for (const [column, set] of Object.entries(TAMPERS)) {
      test(`editing ${column} of an entry breaks the chain at that entry`, async () => {
        const tenant = `tnt_t_${column}`;
        await chain(tenant);
        assert.equal((await verifyAuditChain(t.db, tenant)).ok, true);
        await tamper(`update audit_log set ${set} where tenant_id = $1 and seq = $2`, [tenant, K]);
        const v = await verifyAuditChain(t.db, tenant);
        assert.equal(v.ok, false, column);
        assert.equal(v.ok || v.brokenAt, K, `${column}: ${broken(v)}`);
      });
    }

    test("names the kind of break", async () => {
      const cases: [string, string, string][] = [
        ["tnt_r_field", "action = 'auth.logout'", `hash_mismatch@${K}`],
        ["tnt_r_prev", "prev_hash = sha256('x'::bytea)", `prev_mismatch@${K}`],
        ["tnt_r_seq", "seq = 100000", `seq_gap@${K}`],
      ];
      for (const [tenant, set, expected] of cases) {
        await chain(tenant);
        await tamper(`update audit_log set ${set} where tenant_id = $1 and seq = $2`, [tenant, K]);
        assert.equal(broken(await verifyAuditChain(t.db, tenant)), expected);
      }
    });

    test("deleting an entry in the middle or at the end is a gap at its seq", async () => {
      for (const seq of [1, K, N]) {
        const tenant = `tnt_del_${seq}`;
        await chain(tenant);
        await tamper("delete from audit_log where tenant_id = $1 and seq = $2", [tenant, seq]);
        assert.equal(broken(await verifyAuditChain(t.db, tenant)), `seq_gap@${seq}`);
      }
    });

    test("a head that disagrees with the last entry, or entries beyond the head, break the chain", async () => {
      await chain("tnt_head_hash");
      await t.admin(
        "update audit_heads set entry_hash = sha256('x'::bytea) where tenant_id = 'tnt_head_hash'",
      );
      assert.equal(broken(await verifyAuditChain(t.db, "tnt_head_hash")), `head_mismatch@${N}`);

      await chain("tnt_head_back");
      await t.admin("update audit_heads set seq = seq - 1 where tenant_id = 'tnt_head_back'");
      assert.equal(broken(await verifyAuditChain(t.db, "tnt_head_back")), `head_mismatch@${N - 1}`);

      await chain("tnt_head_beyond");
      await tamper(
        `insert into audit_log select tenant_id, seq + 1, id || 'x', occurred_at, actor_type, actor_id, action,
           outcome, target_type, target_id, project_id, correlation_id, ip, details, entry_hash, entry_hash
           from audit_log where tenant_id = 'tnt_head_beyond' and seq = $1`,
        [N],
      );
      assert.equal(broken(await verifyAuditChain(t.db, "tnt_head_beyond")), `head_mismatch@${N + 1}`);

      await chain("tnt_head_gone");
      await t.admin("delete from audit_heads where tenant_id = 'tnt_head_gone'");
      assert.equal(broken(await verifyAuditChain(t.db, "tnt_head_gone")), "head_mismatch@1");
    });

    test("an entry copied into another chain does not verify there", async () => {
      await chain("tnt_copy_src", 1);
      await t.admin(
        `insert into audit_log select 'tnt_copy_dst', seq, id || 'c', occurred_at, actor_type, actor_id, action,
           outcome, target_type, target_id, project_id, correlation_id, ip, details, prev_hash, entry_hash
           from audit_log where tenant_id = 'tnt_copy_src'`,
      );
      await t.admin(
        "insert into audit_heads select 'tnt_copy_dst', seq, entry_hash from audit_heads where tenant_id = 'tnt_copy_src'",
      );
      assert.equal(broken(await verifyAuditChain(t.db, "tnt_copy_dst")), "hash_mismatch@1");
    });

    test("verifies a chain longer than one page", async () => {
      const n = VERIFY_PAGE_SIZE * 2 + 7;
      await chain("tnt_long", n);
      const v = await verifyAuditChain(t.db, "tnt_long");
      assert.equal(broken(v), "ok");
      assert.equal(v.ok && v.count, n);
      await tamper("update audit_log set action = 'auth.logout' where tenant_id = 'tnt_long' and seq = $1", [
        VERIFY_PAGE_SIZE + 1,
      ]);
      assert.equal(broken(await verifyAuditChain(t.db, "tnt_long")), `hash_mismatch@${VERIFY_PAGE_SIZE + 1}`);
    });

    test("a checkpoint is the RFC 6962 root over the entry hashes, and proves each entry", async () => {
      await chain("tnt_cp", 7);
      const cp = await auditCheckpoint(t.db, "tnt_cp");
      const rows = await t.db.withTenant("tnt_cp", (tx) => listAudit(tx, { limit: 100 }));
      const leaves = rows.map((r) => Buffer.from(r.entryHash, "hex"));
      assert.deepEqual(cp, { treeSize: 7, rootHash: merkleRoot(leaves).toString("hex") });
      const root = Buffer.from(cp.rootHash, "hex");
      for (let i = 0; i < leaves.length; i++) {
        const proof = merkleInclusionProof(leaves, i);
        assert.ok(verifyMerkleInclusion(merkleLeafHash(leaves[i]!), i, cp.treeSize, proof, root));
      }
      assert.deepEqual(await auditCheckpoint(t.db, "tnt_cp_empty"), {
        treeSize: 0,
        rootHash: merkleRoot([]).toString("hex"),
      });
    });

    test("refuses to checkpoint a broken chain", async () => {
      await chain("tnt_cp_broken");
      await tamper("delete from audit_log where tenant_id = 'tnt_cp_broken' and seq = 2");
      await assert.rejects(auditCheckpoint(t.db, "tnt_cp_broken"), {
        code: "AUDIT_CHAIN_BROKEN",
        details: { chain: "tnt_cp_broken", brokenAt: 2, reason: "seq_gap" },
      });
    });
  });
}
