import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";

interface Member {
  user_id: string;
  email: string;
  role: string;
}

for (const kind of DRIVERS) {
  describe(`members and roles over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let projectId: string;
    let owner: { id: string; cookie: string };
    let admin: { id: string; cookie: string };
    const membersUrl = () => `/v1/tenants/${tenantId}/members`;

    async function signedIn(role: "owner" | "admin" | "developer" | "viewer", tenant = tenantId) {
      const u = await api.user(tenant, role);
      return { id: u.id, email: u.email, cookie: await api.login(u.email, u.password) };
    }
    async function members(): Promise<Member[]> {
      const r = await api.request("GET", membersUrl(), { cookie: owner.cookie });
      assert.equal(r.status, 200, r.text);
      return r.json.data;
    }
    const roleOf = async (userId: string) => (await members()).find((m) => m.user_id === userId)?.role;

    before(async () => {
      api = await startTestApi(kind);
      ({ tenantId, projectId } = await api.tenant());
      owner = await signedIn("owner");
      admin = await signedIn("admin");
    });
    after(async () => {
      await api?.close();
    });

    test("an owner adds an existing user as viewer, who can list members but not add any", async () => {
      const newcomer = await api.lonelyUser();
      const added = await api.request("POST", membersUrl(), {
        cookie: owner.cookie,
        body: { email: newcomer.email, role: "viewer" },
      });
      assert.equal(added.status, 201, added.text);
      assert.equal(added.json.user_id, newcomer.id);
      assert.equal(added.json.role, "viewer");
      assert.equal(await roleOf(newcomer.id), "viewer");

      const again = await api.request("POST", membersUrl(), {
        cookie: owner.cookie,
        body: { email: newcomer.email, role: "admin" },
      });
      assertError(again, 409, "CONFLICT");

      const cookie = await api.login(newcomer.email, newcomer.password);
      const list = await api.request("GET", membersUrl(), { cookie });
      assert.equal(list.status, 200, list.text);
      const add = await api.request("POST", membersUrl(), {
        cookie,
        body: { email: (await api.lonelyUser()).email, role: "viewer" },
      });
      assertError(add, 403, "FORBIDDEN");
    });

    test("an admin can neither grant nor take away the owner role", async () => {
      const grant = await api.request("POST", membersUrl(), {
        cookie: admin.cookie,
        body: { email: (await api.lonelyUser()).email, role: "owner" },
      });
      assertError(grant, 403, "FORBIDDEN");
      const viewer = await signedIn("viewer");
      const promote = await api.request("PATCH", `${membersUrl()}/${viewer.id}`, {
        cookie: admin.cookie,
        body: { role: "owner" },
      });
      assertError(promote, 403, "FORBIDDEN");
      const demote = await api.request("PATCH", `${membersUrl()}/${owner.id}`, {
        cookie: admin.cookie,
        body: { role: "viewer" },
      });
      assertError(demote, 403, "FORBIDDEN");
      assertError(
        await api.request("DELETE", `${membersUrl()}/${owner.id}`, { cookie: admin.cookie }),
        403,
        "FORBIDDEN",
      );
      assert.equal(await roleOf(owner.id), "owner");
      assert.equal(await roleOf(viewer.id), "viewer");
      // Below the owner an admin manages roles freely.
      const ok = await api.request("PATCH", `${membersUrl()}/${viewer.id}`, {
        cookie: admin.cookie,
        body: { role: "developer" },
      });
      assert.equal(ok.status, 204, ok.text);
    });

    test("the last owner can be neither demoted nor removed", async () => {
      const t = await api.tenant("single owner");
      const solo = await signedIn("owner", t.tenantId);
      const url = `/v1/tenants/${t.tenantId}/members/${solo.id}`;
      assertError(
        await api.request("PATCH", url, { cookie: solo.cookie, body: { role: "admin" } }),
        409,
        "CONFLICT",
      );
      assertError(await api.request("DELETE", url, { cookie: solo.cookie }), 409, "CONFLICT");
      // With a second owner, the first may step down.
      const second = await api.lonelyUser();
      const add = await api.request("POST", `/v1/tenants/${t.tenantId}/members`, {
        cookie: solo.cookie,
        body: { email: second.email, role: "owner" },
      });
      assert.equal(add.status, 201, add.text);
      const stepDown = await api.request("PATCH", url, { cookie: solo.cookie, body: { role: "admin" } });
      assert.equal(stepDown.status, 204, stepDown.text);
    });

    test("an owner changes a role and removes a member", async () => {
      const m = await signedIn("viewer");
      const change = await api.request("PATCH", `${membersUrl()}/${m.id}`, {
        cookie: owner.cookie,
        body: { role: "developer" },
      });
      assert.equal(change.status, 204, change.text);
      assert.equal(await roleOf(m.id), "developer");
      const remove = await api.request("DELETE", `${membersUrl()}/${m.id}`, { cookie: owner.cookie });
      assert.equal(remove.status, 204, remove.text);
      assert.equal(await roleOf(m.id), undefined);
      // The removed user's session no longer reaches the tenant.
      assertError(await api.request("GET", membersUrl(), { cookie: m.cookie }), 404, "NOT_FOUND");
      assertError(
        await api.request("DELETE", `${membersUrl()}/${m.id}`, { cookie: owner.cookie }),
        404,
        "NOT_FOUND",
      );
    });

    test("adding an unknown email answers 404", async () => {
      const r = await api.request("POST", membersUrl(), {
        cookie: owner.cookie,
        body: { email: "never-registered@example.test", role: "viewer" },
      });
      assertError(r, 404, "NOT_FOUND");
      assert.ok(!r.text.includes("never-registered"));
    });

    test("a viewer's session reads the project's API keys but cannot create one", async () => {
      const viewer = await signedIn("viewer");
      const url = `/v1/projects/${projectId}/api-keys`;
      const list = await api.request("GET", url, { cookie: viewer.cookie });
      assert.equal(list.status, 200, list.text);
      assert.ok(list.json.data.length >= 1);
      const create = await api.request("POST", url, {
        cookie: viewer.cookie,
        body: { name: "nope", permissions: ["sources:read"] },
      });
      assertError(create, 403, "FORBIDDEN");
      const dev = await signedIn("developer");
      const created = await api.request("POST", url, {
        cookie: dev.cookie,
        body: { name: "dev key", permissions: ["sources:read"] },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.created_by, `user:${dev.id}`);
    });

    test("a user without membership in another tenant gets 404 for its project and members", async () => {
      const b = await api.tenant("tenant b");
      for (const path of [
        `/v1/projects/${b.projectId}/api-keys`,
        `/v1/tenants/${b.tenantId}/members`,
        `/v1/tenants/${b.tenantId}/projects`,
      ]) {
        assertError(await api.request("GET", path, { cookie: owner.cookie }), 404, "NOT_FOUND", path);
      }
      const add = await api.request("POST", `/v1/tenants/${b.tenantId}/members`, {
        cookie: owner.cookie,
        body: { email: (await api.lonelyUser()).email, role: "owner" },
      });
      assertError(add, 404, "NOT_FOUND");
    });
  });
}
