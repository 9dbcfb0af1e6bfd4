import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { type ActionContext, fixedClock, isZenError, newId } from "../core/index.ts";
import { generateBoxKeyPair } from "../deliver/box.ts";
import {
  createDestination,
  type DeliverDeps,
  deleteDestination,
  rotateDestinationSecret,
} from "../deliver/destinations/index.ts";
import { createSubscription } from "../deliver/subscriptions/index.ts";
import { createSource, deleteSource, rotateSourceSecret, type SourceDeps } from "../ingest/sources/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../zenlock/index.ts";
import { createApiKey, createTenant, PROJECT_PERMISSIONS, revokeApiKey } from "./index.ts";

async function refusedByQuota(p: Promise<unknown>, quota: string, limit: number): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isZenError(err), String(err));
    assert.equal(err.code, "QUOTA_EXCEEDED");
    assert.equal(err.status, 409);
    assert.equal(err.details?.quota, quota);
    assert.equal(err.details?.limit, limit);
    return true;
  });
}

const HOOK = "https://hooks.example.com/in";

for (const kind of DRIVERS) {
  describe(`per-project quotas on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let deps: SourceDeps & DeliverDeps;
    const clock = fixedClock("2030-01-01T00:00:00Z");
    const quotas = { sources: 2, destinations: 2, subscriptions: 2, apiKeys: 2, rotationsPerDay: 2 };

    const newProject = async (): Promise<ActionContext> => {
      const { tenantId, projectId } = await createTenant(deps, {
        name: `quota-${newId("correlation").slice(-6)}`,
        correlationId: newId("correlation"),
        actor: { type: "operator", id: "test" },
      });
      return {
        tenantId,
        projectId,
        actor: { type: "user", id: newId("user") },
        permissions: new Set(PROJECT_PERMISSIONS),
        correlationId: newId("correlation"),
      };
    };

    before(async () => {
      t = await freshDatabase(kind);
      const box = generateBoxKeyPair();
      deps = {
        db: t.db,
        zenlock: new ZenLock({ masterKeys: parseMasterKeyRing(generateMasterKey(), "test") }),
        clock,
        apiKeyEnvironment: "test",
        sessions: { idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 600 },
        ingestBaseUrl: () => "https://in.example.test",
        egressBoxKey: () => box.publicKey,
        quotas,
      };
    });
    after(async () => {
      await t?.close();
    });

    test("a project at its source limit is refused another source (QUOTA_EXCEEDED); a delete frees a slot", async () => {
      const ctx = await newProject();
      const first = await createSource(deps, ctx, { name: "a", scheme: "github" });
      await createSource(deps, ctx, { name: "b", scheme: "github" });
      await refusedByQuota(createSource(deps, ctx, { name: "c", scheme: "github" }), "sources", 2);
      const rows = await t.admin<{ n: number }>(
        "select count(*)::int as n from sources where project_id = $1",
        [ctx.projectId],
      );
      assert.equal(rows[0]?.n, 2, "nothing of the refused source was stored");
      // Another project of another tenant is not affected.
      await createSource(deps, await newProject(), { name: "elsewhere", scheme: "github" });
      await deleteSource(deps, ctx, first.source.id);
      await createSource(deps, ctx, { name: "c", scheme: "github" });
    });

    test("destinations and subscriptions have their own limits", async () => {
      const ctx = await newProject();
      const d1 = await createDestination(deps, ctx, { name: "d1", url: HOOK });
      const d2 = await createDestination(deps, ctx, { name: "d2", url: HOOK });
      await refusedByQuota(createDestination(deps, ctx, { name: "d3", url: HOOK }), "destinations", 2);
      await createSubscription(deps, ctx, { destination_id: d1.destination.id });
      await createSubscription(deps, ctx, { destination_id: d2.destination.id });
      await refusedByQuota(
        createSubscription(deps, ctx, { destination_id: d1.destination.id }),
        "subscriptions",
        2,
      );
      await deleteDestination(deps, ctx, d2.destination.id);
      await createDestination(deps, ctx, { name: "d3", url: HOOK });
    });

    test("live API keys are capped per project; a revoked key frees its slot", async () => {
      const ctx = await newProject();
      const k1 = await createApiKey(deps, ctx, { name: "k1", permissions: ["sources:read"] });
      await createApiKey(deps, ctx, { name: "k2", permissions: ["sources:read"] });
      await refusedByQuota(
        createApiKey(deps, ctx, { name: "k3", permissions: ["sources:read"] }),
        "apiKeys",
        2,
      );
      await revokeApiKey(deps, ctx, k1.key.id);
      await createApiKey(deps, ctx, { name: "k3", permissions: ["sources:read"] });
    });

    test("a secret is rotated at most rotationsPerDay times in 24 hours, per source and per destination", async () => {
      const ctx = await newProject();
      const s = await createSource(deps, ctx, { name: "rotating", scheme: "github" });
      const other = await createSource(deps, ctx, { name: "other", scheme: "github" });
      await rotateSourceSecret(deps, ctx, s.source.id, {});
      await rotateSourceSecret(deps, ctx, s.source.id, {});
      await refusedByQuota(rotateSourceSecret(deps, ctx, s.source.id, {}), "rotationsPerDay", 2);
      // The refused rotation changed nothing: still versions 1..3, and another source rotates freely.
      const versions = await t.admin<{ n: number }>(
        "select max(version)::int as n from source_secrets where source_id = $1",
        [s.source.id],
      );
      assert.equal(versions[0]?.n, 3);
      await rotateSourceSecret(deps, ctx, other.source.id, {});

      const d = await createDestination(deps, ctx, { name: "d", url: HOOK });
      await rotateDestinationSecret(deps, ctx, d.destination.id, {});
      await rotateDestinationSecret(deps, ctx, d.destination.id, {});
      await refusedByQuota(rotateDestinationSecret(deps, ctx, d.destination.id, {}), "rotationsPerDay", 2);
    });

    test("concurrent creates at the limit: exactly the limit succeed, the rest are refused", async () => {
      const ctx = await newProject();
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => createSource(deps, ctx, { name: `race-${i}`, scheme: "github" })),
      );
      const ok = results.filter((r) => r.status === "fulfilled").length;
      const refused = results.filter(
        (r) => r.status === "rejected" && isZenError(r.reason) && r.reason.code === "QUOTA_EXCEEDED",
      ).length;
      assert.equal(ok, 2, JSON.stringify(results.map((r) => r.status)));
      assert.equal(refused, 6);
      const rows = await t.admin<{ n: number }>(
        "select count(*)::int as n from sources where project_id = $1",
        [ctx.projectId],
      );
      assert.equal(rows[0]?.n, 2);
    });
  });
}
