import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestApi } from "../../test/support/api.ts";

test("smoke", async () => {
  const api = await startTestApi("pglite");
  try {
    const a = await api.tenant("a");
    const r = await api.request("GET", "/v1/me", { key: a.key });
    console.log(r.status, r.text);
    const u = await api.user(a.tenantId, "owner");
    const c = await api.login(u.email, u.password);
    console.log(c);
    const m = await api.request("GET", "/v1/me", { cookie: c });
    console.log(m.status, m.text);
    const o = await api.request("GET", "/openapi.json");
    console.log(Object.keys(o.json.paths));
    console.log(api.logs.text().slice(0, 2000));
    assert.equal(r.status, 200);
  } finally {
    await api.close();
  }
});
