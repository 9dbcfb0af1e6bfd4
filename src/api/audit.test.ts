import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { type AuditRecord, listAudit, SYSTEM_CHAIN, verifyAuditChain } from "../audit/index.ts";
import { newId } from "../core/index.ts";
import { createProject, TENANT_PERMISSIONS } from "../tenancy/index.ts";

/** The same key with its last character changed: it still routes to its tenant, but the secret is wrong. */
function tampered(key: string): string {
  const last = key.at(-1);
  return key.slice(0, -1) + (last === "A" ? "B" : "A");
}

for (const kind of DRIVERS) {
  describe(`audit trail of control API actions on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(kind);
    });
    after(async () => {
      await api?.close();
    });

    /** A second project of the tenant, made by an operator. */
    const siblingProject = (tenantId: string) =>
      createProject(
        api.tenancy,
        {
          tenantId,
          actor: { type: "operator", id: "test" },
          permissions: new Set(TENANT_PERMISSIONS),
          correlationId: newId("correlation"),
        },
        { name: "sibling" },
      );
    const chain = (id: string) => api.t.db.withTenant(id, (tx) => listAudit(tx, { limit: 1000 }));
    const find = (rows: AuditRecord[], action: string, outcome: string) =>
      rows.filter((r) => r.action === action && r.outcome === outcome);

    test("a mix of actions leaves verifiable tenant and system chains with every entry", async () => {
      const { tenantId, projectId, key } = await api.tenant();
      const keysUrl = `/v1/projects/${projectId}/api-keys`;
      const created = await api.request("POST", keysUrl, {
        key,
        body: { name: "audited", permissions: ["sources:read"] },
      });
      assert.equal(created.status, 201, created.text);
      const secret: string = created.json.secret;
      assert.equal((await api.request("GET", "/v1/me", { key: secret })).status, 200);
      assertError(await api.request("GET", "/v1/me", { key: tampered(secret) }), 401, "UNAUTHENTICATED");
      assertError(await api.request("GET", keysUrl, { key: secret }), 403, "FORBIDDEN");
      assert.equal((await api.request("DELETE", `${keysUrl}/${created.json.id}`, { key })).status, 200);

      const owner = await api.user(tenantId, "owner");
      assertError(
        await api.request("POST", "/v1/auth/login", {
          body: { email: owner.email, password: "wrong password!!" },
        }),
        401,
        "UNAUTHENTICATED",
      );
      const cookie = await api.login(owner.email, owner.password);
      const newcomer = await api.lonelyUser();
      const membersUrl = `/v1/tenants/${tenantId}/members`;
      const add = await api.request("POST", membersUrl, {
        cookie,
        body: { email: newcomer.email, role: "viewer" },
      });
      assert.equal(add.status, 201, add.text);
      const change = await api.request("PATCH", `${membersUrl}/${newcomer.id}`, {
        cookie,
        body: { role: "developer" },
      });
      assert.equal(change.status, 204, change.text);

      const tenantCheck = await verifyAuditChain(api.t.db, tenantId);
      assert.ok(tenantCheck.ok, JSON.stringify(tenantCheck));
      const systemCheck = await verifyAuditChain(api.t.db, null);
      assert.ok(systemCheck.ok, JSON.stringify(systemCheck));

      const rows = await chain(tenantId);
      const keyId = created.json.id;
      assert.equal(find(rows, "api_key.create", "success").filter((r) => r.targetId === keyId).length, 1);
      assert.ok(
        find(rows, "api_key.use", "success").some((r) => r.targetId === keyId && r.actorId === keyId),
      );
      assert.equal(find(rows, "api_key.revoke", "success").filter((r) => r.targetId === keyId).length, 1);
      const mismatch = find(rows, "auth.api_key", "failure").filter((r) => r.targetId === keyId);
      assert.deepEqual(
        mismatch.map((r) => [r.actorType, r.details.reason]),
        [["anonymous", "mismatch"]],
      );
      const denied = find(rows, "authz.denied", "denied");
      assert.equal(denied.length, 1);
      assert.equal(denied[0]?.actorId, keyId);
      assert.deepEqual(denied[0]?.details, {
        permission: "api_keys:read",
        route: "/v1/projects/:project_id/api-keys",
        method: "GET",
      });
      const added = find(rows, "member.add", "success");
      assert.deepEqual(
        added.map((r) => [r.actorId, r.targetId, r.details.role]),
        [[owner.id, newcomer.id, "viewer"]],
      );
      const changed = find(rows, "member.role_change", "success");
      assert.deepEqual(
        changed.map((r) => [r.targetId, r.details.from, r.details.to]),
        [[newcomer.id, "viewer", "developer"]],
      );
      for (const r of rows) assert.ok(!JSON.stringify(r).includes(secret.slice(8)), r.action);

      const system = await chain(SYSTEM_CHAIN);
      assert.ok(find(system, "auth.login", "success").some((r) => r.actorId === owner.id));
      assert.ok(find(system, "auth.login", "failure").some((r) => r.targetId === owner.id));
      // An unknown email still leaves a trace, attributed to no one.
      assertError(
        await api.request("POST", "/v1/auth/login", {
          body: { email: "ghost@example.test", password: "whatever-it-is" },
        }),
        401,
        "UNAUTHENTICATED",
      );
      const after = await chain(SYSTEM_CHAIN);
      const ghost = find(after, "auth.login", "failure").at(-1);
      assert.equal(ghost?.actorType, "anonymous");
      assert.equal(ghost?.targetId, null);
      assert.ok(!JSON.stringify(after).includes("ghost@example.test"));
      assert.ok((await verifyAuditChain(api.t.db, null)).ok);
    });

    test("a resource id from another project or tenant, or none at all, inside one's own project is answered 404 and audited", async () => {
      const a = await api.tenant("inner-a");
      const b = await api.tenant("inner-b");
      const sibling = await siblingProject(a.tenantId);
      const probes: [string, string, string, string][] = [];
      for (const [label, id] of [
        ["sibling project", (await api.destination(a.tenantId, sibling.id)).id],
        ["other tenant", (await api.destination(b.tenantId, b.projectId)).id],
        ["nowhere", newId("destination")],
      ] as const) {
        probes.push([label, "GET", `/v1/projects/${a.projectId}/destinations/${id}`, id]);
        probes.push([label, "PATCH", `/v1/projects/${a.projectId}/destinations/${id}`, id]);
      }
      const source = (await api.source(b.tenantId, b.projectId)).id;
      probes.push(["other tenant", "GET", `/v1/projects/${a.projectId}/sources/${source}`, source]);
      const delivery = newId("delivery");
      probes.push(["nowhere", "POST", `/v1/projects/${a.projectId}/deliveries/${delivery}/replay`, delivery]);
      for (const [label, method, url] of probes) {
        const body = method === "PATCH" ? { name: "mine now" } : undefined;
        assertError(
          await api.request(method, url, { key: a.key, body }),
          404,
          "NOT_FOUND",
          `${label} ${method}`,
        );
      }
      const seen = find(await chain(a.tenantId), "authz.unreachable", "denied");
      assert.deepEqual(
        seen.map((r) => [r.targetType, r.targetId, r.details.method, r.projectId]),
        probes.map(([, method, url, id]) => [
          url.includes("/sources/") ? "source" : url.includes("/deliveries/") ? "delivery" : "destination",
          id,
          method,
          a.projectId,
        ]),
      );
      assert.ok(seen.every((r) => r.actorId !== null && r.outcome === "denied"));
      // Neither the sibling project's nor the other tenant's chain is written to.
      assert.equal(find(await chain(b.tenantId), "authz.unreachable", "denied").length, 0);
      assert.ok((await verifyAuditChain(api.t.db, a.tenantId)).ok);
    });

    test("a body naming a destination or source the project does not hold is refused and audited as a probe", async () => {
      const a = await api.tenant("body-probe-a");
      const b = await api.tenant("body-probe-b");
      const sibling = await siblingProject(a.tenantId);
      const mine = (await api.destination(a.tenantId, a.projectId)).id;
      const siblingDestination = (await api.destination(a.tenantId, sibling.id)).id;
      const foreignSource = (await api.source(b.tenantId, b.projectId)).id;
      const nowhere = newId("source");
      const url = `/v1/projects/${a.projectId}/subscriptions`;
      assertError(
        await api.request("POST", url, {
          key: a.key,
          body: { name: "s", destination_id: siblingDestination, event_types: ["*"] },
        }),
        400,
        "VALIDATION_FAILED",
      );
      assertError(
        await api.request("POST", url, {
          key: a.key,
          body: { name: "s", destination_id: mine, source_ids: [foreignSource, nowhere], event_types: ["*"] },
        }),
        400,
        "VALIDATION_FAILED",
      );
      const seen = find(await chain(a.tenantId), "authz.unreachable", "denied");
      assert.deepEqual(
        seen.map((r) => [r.targetType, r.targetId, r.details.field, r.projectId]),
        [
          ["destination", siblingDestination, "destination_id", a.projectId],
          ["source", foreignSource, "source_ids.0", a.projectId],
          ["source", nowhere, "source_ids.1", a.projectId],
        ],
      );
      assert.equal(find(await chain(b.tenantId), "authz.unreachable", "denied").length, 0);
      assert.ok((await verifyAuditChain(api.t.db, a.tenantId)).ok);
    });

    test("a principal naming another tenant's project or tenant is answered 404 and audited", async () => {
      const a = await api.tenant("probe-a");
      const b = await api.tenant("probe-b");
      assertError(
        await api.request("GET", `/v1/projects/${b.projectId}/api-keys`, { key: a.key }),
        404,
        "NOT_FOUND",
      );
      const probes = find(await chain(a.tenantId), "authz.unreachable", "denied");
      assert.deepEqual(
        probes.map((r) => [r.targetType, r.targetId]),
        [["project", b.projectId]],
      );
      // Tenant B's own chain learns nothing of it.
      assert.equal(find(await chain(b.tenantId), "authz.unreachable", "denied").length, 0);

      const user = await api.user(a.tenantId, "owner");
      const cookie = await api.login(user.email, user.password);
      assertError(
        await api.request("GET", `/v1/tenants/${b.tenantId}/members`, { cookie }),
        404,
        "NOT_FOUND",
      );
      const system = find(await chain(SYSTEM_CHAIN), "authz.unreachable", "denied");
      assert.ok(system.some((r) => r.actorId === user.id && r.targetId === b.tenantId));
    });
  });
}
