import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { type ActionContext, newId, systemClock } from "../../core/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../../zenlock/index.ts";
import type { TenancyDeps } from "../deps.ts";
import { permissionsForRole } from "../permissions.ts";
import { createTenant } from "../tenants/create.ts";
import { createUser } from "../users/users.ts";
import { grantMembership, listMembers, updateMemberRole } from "./members.ts";

for (const kind of DRIVERS) {
  describe(`memberships on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let deps: TenancyDeps;
    const operator = { type: "operator", id: "test" } as const;

    before(async () => {
      t = await freshDatabase(kind);
      deps = {
        db: t.db,
        zenlock: new ZenLock({ masterKeys: parseMasterKeyRing(generateMasterKey(), "test") }),
        clock: systemClock,
        apiKeyEnvironment: "test",
        sessions: { idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 600 },
      };
    });
    after(async () => {
      await t?.close();
    });

    async function owners(n: number) {
      const { tenantId } = await createTenant(deps, {
        name: "t",
        correlationId: "corr-test-1",
        actor: operator,
      });
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const u = await createUser(deps, {
          email: `${newId("user")}@example.test`,
          password: "long enough password",
        });
        await grantMembership(deps, {
          tenantId,
          userId: u.id,
          role: "owner",
          correlationId: "corr-test-2",
          actor: operator,
        });
        ids.push(u.id);
      }
      return { tenantId, ids };
    }

    const ctxOf = (tenantId: string, userId: string): ActionContext => ({
      tenantId,
      actor: { type: "user", id: userId },
      permissions: permissionsForRole("owner"),
      correlationId: "corr-test-3",
    });

    test("two owners demoting each other at once leave exactly one owner", async () => {
      for (let round = 0; round < 5; round++) {
        const { tenantId, ids } = await owners(2);
        const [a, b] = ids as [string, string];
        const results = await Promise.allSettled([
          updateMemberRole(deps, ctxOf(tenantId, a), { userId: b, role: "viewer" }),
          updateMemberRole(deps, ctxOf(tenantId, b), { userId: a, role: "viewer" }),
        ]);
        const remaining = (await listMembers(deps, ctxOf(tenantId, a))).filter((m) => m.role === "owner");
        assert.equal(remaining.length, 1, JSON.stringify(results.map((r) => r.status)));
        assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
      }
    });

    test("an operator grant cannot demote the last owner", async () => {
      const { tenantId, ids } = await owners(1);
      await assert.rejects(
        grantMembership(deps, {
          tenantId,
          userId: ids[0]!,
          role: "viewer",
          correlationId: "corr-test-4",
          actor: operator,
        }),
        /at least one owner/,
      );
    });
  });
}
