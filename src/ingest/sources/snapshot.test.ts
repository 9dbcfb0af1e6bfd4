import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { listAudit, verifyAuditChain } from "../../audit/index.ts";
import { type ActionContext, fixedClock, newId } from "../../core/index.ts";
import { createTenant, PROJECT_PERMISSIONS } from "../../tenancy/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../../zenlock/index.ts";
import { bumpRevision } from "./common.ts";
import {
  createSource,
  deleteSource,
  loadSourceChanges,
  rotateSourceSecret,
  type SourceDeps,
  updateSource,
} from "./index.ts";

for (const kind of DRIVERS) {
  describe(`source snapshots for ingesters on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let deps: SourceDeps;
    const clock = fixedClock("2030-01-01T00:00:00Z");
    const masterKeys = parseMasterKeyRing(generateMasterKey(), "test");

    before(async () => {
      t = await freshDatabase(kind);
      deps = {
        db: t.db,
        zenlock: new ZenLock({ masterKeys }),
        clock,
        apiKeyEnvironment: "test",
        sessions: { idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 600 },
        ingestBaseUrl: () => "https://in.example.test",
      };
    });
    after(async () => {
      await t?.close();
    });

    async function tenant(name: string): Promise<ActionContext> {
      const { tenantId, projectId } = await createTenant(deps, {
        name,
        correlationId: "corr-test-1",
        actor: { type: "operator", id: "test" },
      });
      return {
        tenantId,
        projectId,
        actor: { type: "user", id: newId("user") },
        permissions: new Set(PROJECT_PERMISSIONS),
        correlationId: "corr-test-2",
      };
    }

    const head = async () =>
      (await loadSourceChanges(t.db, deps.zenlock, 0, clock.now(), { limit: 1_000_000 })).revision;

    test("returns exactly the sources changed since a revision, with secrets opened, across tenants", async () => {
      const a = await tenant("a");
      const b = await tenant("b");
      const untouched = await createSource(deps, a, { name: "untouched", scheme: "github" });
      const toDelete = await createSource(deps, b, { name: "doomed", scheme: "github" });
      const since = await head();
      assert.ok(since >= 2);

      const created = await createSource(deps, a, {
        name: "new",
        scheme: "generic-hmac",
        settings: { header: "X-Signature" },
        secret: "tenant a secret value",
        client_cert_pins: ["b".repeat(64)],
        content_types: ["application/cloudevents+json"],
        tolerance_seconds: 120,
        cloudevents: "structured",
      });
      const disabled = await createSource(deps, b, {
        name: "off",
        scheme: "github",
        secret: "tenant b secret value",
      });
      await updateSource(deps, b, disabled.source.id, { enabled: false });
      await deleteSource(deps, b, toDelete.source.id);

      const changes = await loadSourceChanges(t.db, deps.zenlock, since, clock.now());
      assert.equal(changes.more, false);
      assert.deepEqual(changes.unavailable, []);
      assert.deepEqual(changes.deletes, [toDelete.source.id]);
      assert.deepEqual(
        changes.upserts.map((u) => u.id),
        [created.source.id, disabled.source.id],
      );
      assert.ok(!changes.upserts.some((u) => u.id === untouched.source.id));
      const [up, off] = changes.upserts;
      assert.deepEqual(up, {
        id: created.source.id,
        tenantId: a.tenantId,
        projectId: a.projectId,
        scheme: "generic-hmac",
        settings: { header: "x-signature", algorithm: "sha256", encoding: "hex" },
        signatureRequired: true,
        allowPlainHttp: false,
        clientCertPins: ["b".repeat(64)],
        maxBodyBytes: 1024 * 1024,
        contentTypes: ["application/cloudevents+json"],
        toleranceSeconds: 120,
        cloudevents: "structured",
        enabled: true,
        secrets: [{ version: 1, value: "tenant a secret value", expiresAt: null }],
        revision: up!.revision,
      });
      assert.equal(off?.tenantId, b.tenantId);
      assert.equal(off?.enabled, false, "disabled sources are pushed so ingesters can refuse them");
      assert.deepEqual(off?.secrets, [{ version: 1, value: "tenant b secret value", expiresAt: null }]);
      assert.ok(up!.revision > since && off!.revision > up!.revision);
      assert.equal(changes.revision, await head());
      assert.ok(changes.revision > off!.revision, "the delete came last");

      const again = await loadSourceChanges(t.db, deps.zenlock, changes.revision, clock.now());
      assert.deepEqual(again, {
        revision: changes.revision,
        upserts: [],
        deletes: [],
        more: false,
        unavailable: [],
      });
    });

    test("opening secrets is audited once per tenant transaction, never with the secret", async () => {
      const a = await tenant("audit a");
      const b = await tenant("audit b");
      const since = await head();
      const s1 = await createSource(deps, a, { name: "1", scheme: "github" });
      const s2 = await createSource(deps, a, { name: "2", scheme: "github" });
      await rotateSourceSecret(deps, a, s2.source.id, {});
      const s3 = await createSource(deps, b, { name: "3", scheme: "github" });
      await loadSourceChanges(t.db, deps.zenlock, since, clock.now(), {
        actor: { type: "workload", spiffeId: "spiffe://zenmesh.test/backend" },
        correlationId: "corr-snapshot",
      });
      for (const [ctx, count, sources, secrets] of [
        [a, 3, 2, [s1.secret, s2.secret]],
        [b, 1, 1, [s3.secret]],
      ] as const) {
        const entries = await t.db.withTenant(ctx.tenantId, (tx) =>
          listAudit(tx, { limit: 100, action: "source.secrets_distributed" }),
        );
        assert.equal(entries.length, 1);
        const [e] = entries;
        assert.equal(e?.actorType, "workload");
        assert.equal(e?.actorId, "spiffe://zenmesh.test/backend");
        assert.equal(e?.correlationId, "corr-snapshot");
        assert.deepEqual(e?.details, { count, sources });
        for (const s of secrets) assert.ok(!JSON.stringify(entries).includes(s));
        assert.equal((await verifyAuditChain(t.db, ctx.tenantId)).ok, true);
      }
    });

    test("pages through changes, reporting that more are waiting", async () => {
      const a = await tenant("paged");
      const since = await head();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await createSource(deps, a, { name: `p${i}`, scheme: "slack" })).source.id);
      const seen: string[] = [];
      let rev = since;
      let calls = 0;
      for (;;) {
        const page = await loadSourceChanges(t.db, deps.zenlock, rev, clock.now(), { limit: 2 });
        calls++;
        assert.ok(page.upserts.length <= 2);
        seen.push(...page.upserts.map((u) => u.id));
        rev = page.revision;
        if (!page.more) break;
      }
      assert.equal(calls, 3);
      assert.deepEqual(seen, ids);
    });

    test("a tenant whose keys are gone is reported, and its sources dropped, without failing others", async () => {
      const shredded = await tenant("shredded");
      const fine = await tenant("fine");
      const since = await head();
      const lost = await createSource(deps, shredded, { name: "lost", scheme: "github" });
      const kept = await createSource(deps, fine, { name: "kept", scheme: "github" });
      await t.admin("update tenant_keys set state = 'destroyed' where tenant_id = $1", [shredded.tenantId]);
      deps.zenlock.forgetTenant(shredded.tenantId);
      const changes = await loadSourceChanges(t.db, deps.zenlock, since, clock.now());
      assert.deepEqual(
        changes.upserts.map((u) => u.id),
        [kept.source.id],
      );
      assert.deepEqual(changes.deletes, [lost.source.id]);
      assert.deepEqual(changes.unavailable, [lost.source.id]);
    });

    test("a negative or fractional revision is refused", async () => {
      for (const since of [-1, 1.5, Number.NaN]) {
        await assert.rejects(loadSourceChanges(t.db, deps.zenlock, since, clock.now()), /since/);
      }
    });

    // Only PostgreSQL runs transactions concurrently; PGlite cannot have a revision in flight.
    const concurrentTest = kind === "postgres" ? test : () => {};
    concurrentTest("waits for a revision still in flight instead of stepping over it", async () => {
      const a = await tenant("in flight");
      const slow = await createSource(deps, a, { name: "slow", scheme: "github" });
      const since = await head();
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let bumped!: () => void;
      const bumpedNow = new Promise<void>((r) => {
        bumped = r;
      });
      const writer = t.db.withTenant(a.tenantId, async (tx) => {
        await bumpRevision(tx, a.tenantId, slow.source.id, "update");
        bumped();
        await gate;
      });
      await bumpedNow;
      // A later change commits first.
      const fast = await createSource(deps, a, { name: "fast", scheme: "github" });
      let settled = false;
      const loading = loadSourceChanges(t.db, deps.zenlock, since, clock.now()).then((c) => {
        settled = true;
        return c;
      });
      try {
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(settled, false, "the loader waits for the writer in flight");
      } finally {
        // Even when the assertion fails, the writer must end or the database cannot close.
        release();
        await writer;
      }
      const changes = await loading;
      assert.deepEqual(
        changes.upserts.map((u) => u.id),
        [slow.source.id, fast.source.id],
      );
    });
  });
}
