/**
 * The client address behind a proxy: only the listed proxies' X-Forwarded-For
 * entries are believed, so the client is the rightmost address not in the
 * list. A caller rotating the part of the header it controls (the leftmost
 * entries) neither escapes the failed-authentication limit nor writes a
 * forged address into the audit log; IPv6 clients share a bucket per /64.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { listAudit } from "../audit/index.ts";
import { newId, randomBase62 } from "../core/index.ts";

/** The test talks to the API from loopback: that is the proxy. */
const PROXY = "127.0.0.1/32";
const LIMIT = 5;
const unknownKey = () => `zm_test_${randomBase62(48)}`;

for (const kind of DRIVERS) {
  describe(`client address behind a listed proxy on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(kind, { failureLimit: LIMIT, trustProxy: PROXY });
    });
    after(async () => {
      await api?.close();
    });
    // Each test starts with every address's failures out of the window.
    const fresh = () => api.clock.advance(61_000);

    test("a rotating forged X-Forwarded-For does not evade the failed-authentication limit", async () => {
      fresh();
      const { key } = await api.tenant();
      // What a proxy sends on: whatever the client claimed, then the address it saw.
      const via = (claimed: string) => ({ "x-forwarded-for": `${claimed}, 203.0.113.9` });
      for (let i = 0; i < LIMIT; i++) {
        const r = await api.request("GET", "/v1/me", { key: unknownKey(), headers: via(`198.51.100.${i}`) });
        assertError(r, 401, "UNAUTHENTICATED", `attempt ${i}`);
      }
      assertError(
        await api.request("GET", "/v1/me", { key, headers: via("198.51.100.200") }),
        429,
        "RATE_LIMITED",
        "a new forged address behind the same client",
      );
      // Another client behind the same proxy has its own bucket.
      const other = await api.request("GET", "/v1/me", {
        key,
        headers: { "x-forwarded-for": "203.0.113.10" },
      });
      assert.equal(other.status, 200, other.text);
    });

    test("the audit log records the address the proxy saw, not the one the client claimed", async () => {
      fresh();
      const a = await api.tenant("a");
      const b = await api.tenant("b");
      const correlationId = `req-${newId("correlation")}`;
      const r = await api.request("GET", `/v1/projects/${b.projectId}/sources`, {
        key: a.key,
        headers: { "x-forwarded-for": "198.51.100.7, 203.0.113.77", "x-correlation-id": correlationId },
      });
      assertError(r, 404, "NOT_FOUND");
      const rows = await api.t.db.withTenant(a.tenantId, (tx) => listAudit(tx, { limit: 1000 }));
      const probe = rows.find((e) => e.action === "authz.unreachable" && e.correlationId === correlationId);
      assert.ok(probe, "the probe is audited");
      assert.equal(probe.ip, "203.0.113.77");
    });

    test("IPv6 clients share one bucket per /64, so rotating the interface id does not evade the limit", async () => {
      fresh();
      const { key } = await api.tenant();
      for (let i = 0; i < LIMIT; i++) {
        const r = await api.request("GET", "/v1/me", {
          key: unknownKey(),
          headers: { "x-forwarded-for": `2001:db8:7:8:${(i + 1).toString(16)}::${i + 1}` },
        });
        assertError(r, 401, "UNAUTHENTICATED", `attempt ${i}`);
      }
      assertError(
        await api.request("GET", "/v1/me", { key, headers: { "x-forwarded-for": "2001:db8:7:8:ffff::1" } }),
        429,
        "RATE_LIMITED",
        "another address in the same /64",
      );
      const neighbour = await api.request("GET", "/v1/me", {
        key,
        headers: { "x-forwarded-for": "2001:db8:7:9::1" },
      });
      assert.equal(neighbour.status, 200, `the next /64 is another bucket: ${neighbour.text}`);
    });
  });

  describe(`client address without a listed proxy on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(kind, { failureLimit: LIMIT });
    });
    after(async () => {
      await api?.close();
    });

    test("X-Forwarded-For is ignored, and a warning says once that clients share the proxy's address", async () => {
      const { key } = await api.tenant();
      for (let i = 0; i < LIMIT; i++) {
        const r = await api.request("GET", "/v1/me", {
          key: unknownKey(),
          headers: { "x-forwarded-for": `198.51.100.${i}` },
        });
        assertError(r, 401, "UNAUTHENTICATED", `attempt ${i}`);
      }
      assertError(await api.request("GET", "/v1/me", { key }), 429, "RATE_LIMITED");
      const warnings = api.logs
        .lines()
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.level === 40 && /X-Forwarded-For/.test(l.msg));
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0]!.msg, /ZENMESH_API_TRUST_PROXY/);
    });
  });
}
