import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";

for (const kind of DRIVERS) {
  describe(`sessions over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let tenantId: string;
    let user: { id: string; email: string; password: string };
    const { idleTimeoutSeconds, absoluteTimeoutSeconds } = {
      idleTimeoutSeconds: 1800,
      absoluteTimeoutSeconds: 43_200,
    };

    before(async () => {
      api = await startTestApi(kind);
      assert.deepEqual(api.tenancy.sessions, { idleTimeoutSeconds, absoluteTimeoutSeconds });
      ({ tenantId } = await api.tenant());
      user = await api.user(tenantId, "owner");
    });
    after(async () => {
      await api?.close();
    });

    const me = (cookie: string) => api.request("GET", "/v1/me", { cookie });

    test("login sets an HttpOnly, Secure, SameSite=Strict session cookie for the whole site", async () => {
      const r = await api.request("POST", "/v1/auth/login", {
        body: { email: user.email, password: user.password },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.user_id, user.id);
      assert.equal(r.headers.get("cache-control"), "no-store");
      const setCookie = r.headers.get("set-cookie") ?? "";
      const [pair, ...attrs] = setCookie.split(";").map((s) => s.trim());
      assert.match(pair ?? "", /^zm_session=[A-Za-z0-9_-]{43}$/);
      for (const a of ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"]) {
        assert.ok(attrs.includes(a), `${a} in ${setCookie}`);
      }
      assert.ok(!r.text.includes((pair ?? "").split("=")[1] ?? "-"), "the token is only in the cookie");
    });

    test("a wrong password and an unknown email answer alike", async () => {
      const wrong = await api.request("POST", "/v1/auth/login", {
        body: { email: user.email, password: "not the password at all" },
      });
      const unknown = await api.request("POST", "/v1/auth/login", {
        body: { email: "nobody-here@example.test", password: "not the password at all" },
      });
      for (const r of [wrong, unknown]) {
        assertError(r, 401, "UNAUTHENTICATED");
        assert.equal(r.headers.get("set-cookie"), null);
      }
      const shape = (r: typeof wrong) => ({ ...r.json.error, correlation_id: "-" });
      assert.deepEqual(shape(wrong), shape(unknown));
    });

    test("the cookie authenticates /v1/me, which lists the memberships", async () => {
      const other = await api.tenant("second");
      const cookie = await api.login(user.email, user.password);
      const before = await me(cookie);
      assert.equal(before.status, 200, before.text);
      assert.deepEqual(before.json, {
        type: "user",
        user_id: user.id,
        email: user.email,
        memberships: [{ tenant_id: tenantId, role: "owner" }],
      });
      const add = await api.request("POST", `/v1/tenants/${tenantId}/members`, {
        cookie,
        body: { email: (await api.lonelyUser()).email, role: "viewer" },
      });
      assert.equal(add.status, 201, add.text);
      // A user of two tenants sees both.
      const u = await api.user(other.tenantId, "developer");
      await api.request("POST", `/v1/tenants/${tenantId}/members`, {
        cookie,
        body: { email: u.email, role: "viewer" },
      });
      const both = await me(await api.login(u.email, u.password));
      assert.deepEqual(
        both.json.memberships
          .map((m: { tenant_id: string; role: string }) => `${m.tenant_id}:${m.role}`)
          .sort(),
        [`${other.tenantId}:developer`, `${tenantId}:viewer`].sort(),
      );
    });

    test("logout revokes the session and clears the cookie", async () => {
      const cookie = await api.login(user.email, user.password);
      const out = await api.request("POST", "/v1/auth/logout", { cookie });
      assert.equal(out.status, 204, out.text);
      const cleared = out.headers.get("set-cookie") ?? "";
      assert.match(cleared, /^zm_session=;/);
      assert.match(cleared, /Max-Age=0/);
      assertError(await me(cookie), 401, "UNAUTHENTICATED");
      assertError(await api.request("POST", "/v1/auth/logout", { cookie }), 401, "UNAUTHENTICATED");
    });

    test("a session idle for longer than the idle timeout is refused", async () => {
      const cookie = await api.login(user.email, user.password);
      api.clock.advance((idleTimeoutSeconds - 1) * 1000);
      assert.equal((await me(cookie)).status, 200, "activity just inside the idle window");
      api.clock.advance((idleTimeoutSeconds + 1) * 1000);
      assertError(await me(cookie), 401, "UNAUTHENTICATED");
    });

    test("a session ends at the absolute timeout however active it is", async () => {
      const cookie = await api.login(user.email, user.password);
      const step = (idleTimeoutSeconds / 2) * 1000;
      let elapsed = 0;
      while (elapsed + step < absoluteTimeoutSeconds * 1000) {
        api.clock.advance(step);
        elapsed += step;
        assert.equal((await me(cookie)).status, 200, `active at ${elapsed / 1000}s`);
      }
      api.clock.advance(absoluteTimeoutSeconds * 1000 - elapsed - 1000);
      assert.equal((await me(cookie)).status, 200, "one second before the absolute end");
      api.clock.advance(1000);
      assertError(await me(cookie), 401, "UNAUTHENTICATED");
    });

    test("a cookie-authenticated write from a foreign origin is refused", async () => {
      const cookie = await api.login(user.email, user.password);
      const url = `/v1/tenants/${tenantId}/projects`;
      for (const origin of ["https://evil.example", "null", `${api.url}.evil.example`]) {
        const r = await api.request("POST", url, { cookie, body: { name: "csrf" }, headers: { origin } });
        assertError(r, 403, "FORBIDDEN", origin);
      }
      const list = await api.request("GET", url, { cookie });
      assert.ok(!list.text.includes('"csrf"'), "nothing was created");
      const same = await api.request("POST", url, {
        cookie,
        body: { name: "same" },
        headers: { origin: api.url },
      });
      assert.equal(same.status, 201, same.text);
      const noOrigin = await api.request("POST", url, { cookie, body: { name: "no origin" } });
      assert.equal(noOrigin.status, 201, noOrigin.text);
    });
  });
}
