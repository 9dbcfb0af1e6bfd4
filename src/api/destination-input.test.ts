/**
 * What a destination may be created, changed and rotated with: every refusal
 * is 400 VALIDATION_FAILED in the one error shape, names the path, never
 * echoes what was sent (a URL's password, a header, a key), and writes nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { testClientCertificate, testSigningSecret } from "../deliver/destinations/testing.ts";

const HOOK = "https://hooks.example.test/zenmesh";

for (const kind of DRIVERS) {
  describe(`destination input validation on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let projectId: string;
    let admin: string;
    const url = (suffix = "") => `/v1/projects/${projectId}/destinations${suffix}`;
    const create = (body: unknown) => api.request("POST", url(), { key: admin, body });

    before(async () => {
      api = await startTestApi(kind);
      ({ projectId, key: admin } = await api.tenant());
    });
    after(async () => {
      await api?.close();
    });

    test("invalid input answers 400 VALIDATION_FAILED naming the path, without echoing values", async () => {
      const canary = "CANARYVALUE7f3a";
      const other = await testClientCertificate();
      const mine = await testClientCertificate();
      const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-h${i}`, "v"]));
      const cases: [unknown, string][] = [
        [{ name: "x", url: `ftp://${canary}.example/` }, "body.url"],
        [{ name: "x", url: `https://user:${canary}@example.com/` }, "body.url"],
        [{ name: "x", url: `not a url ${canary}` }, "body.url"],
        [{ name: "x", url: `https://example.com/${canary}`.padEnd(2049, "a") }, "body.url"],
        [{ name: "x", url: `http://example.com/${canary}` }, "body.url"],
        [{ name: "x", url: HOOK, method: "GET" }, "body.method"],
        ...[
          "Authorization",
          "host",
          "Webhook-Signature",
          "x-zen-hop",
          "proxy-authorization",
          "ce-type",
          "TE",
        ].map((h): [unknown, string] => [{ name: "x", url: HOOK, headers: { [h]: canary } }, "body.headers"]),
        [{ name: "x", url: HOOK, headers: { [`bad ${canary}`]: "v" } }, "body.headers"],
        [{ name: "x", url: HOOK, headers: { "x-ok": `${canary}\r\nx-evil: 1` } }, "body.headers"],
        [{ name: "x", url: HOOK, headers: { "X-A": "1", "x-a": canary } }, "body.headers"],
        [{ name: "x", url: HOOK, headers: tooMany }, "body.headers"],
        [{ name: "x", url: HOOK, timeout_ms: 999 }, "body.timeout_ms"],
        [{ name: "x", url: HOOK, timeout_ms: 60_001 }, "body.timeout_ms"],
        [{ name: "x", url: HOOK, max_in_flight: 0 }, "body.max_in_flight"],
        [{ name: "x", url: HOOK, rate_limit_per_second: 0 }, "body.rate_limit_per_second"],
        [{ name: "x", url: HOOK, format: canary }, "body.format"],
        [
          { name: "x", url: HOOK, retry: { schedule_seconds: Array(21).fill(1) } },
          "body.retry.schedule_seconds",
        ],
        [{ name: "x", url: HOOK, retry: { schedule_seconds: [172_801] } }, "body.retry.schedule_seconds.0"],
        [
          { name: "x", url: HOOK, retry: { retry_after_cap_seconds: 86_401 } },
          "body.retry.retry_after_cap_seconds",
        ],
        [{ name: "x", url: HOOK, retry: { [canary]: 1 } }, "body.retry"],
        [{ name: "x", url: HOOK, secret: `whsec_${canary}` }, "body.secret"],
        [{ name: "x", url: HOOK, secret_overlap_seconds: -1 }, "body.secret_overlap_seconds"],
        [
          { name: "x", url: HOOK, credentials: { auth: { type: "bearer", token: `a ${canary}` } } },
          "body.credentials",
        ],
        [
          {
            name: "x",
            url: HOOK,
            credentials: { auth: { type: "basic", username: `${canary}:x`, password: "p" } },
          },
          "body.credentials.auth.username",
        ],
        [
          {
            name: "x",
            url: HOOK,
            credentials: { auth: { type: "header", name: "Authorization", value: canary } },
          },
          "body.credentials.auth.name",
        ],
        [
          {
            name: "x",
            url: HOOK,
            credentials: { auth: { type: "header", name: "x-zen-signature", value: canary } },
          },
          "body.credentials.auth.name",
        ],
        [{ name: "x", url: HOOK, credentials: { auth: { type: canary } } }, "body.credentials.auth"],
        [
          {
            name: "x",
            url: HOOK,
            credentials: { client_certificate: { cert_pem: canary, key_pem: mine.key_pem } },
          },
          "body.credentials.client_certificate.cert_pem",
        ],
        [
          { name: "x", url: HOOK, credentials: { client_certificate: { ...mine, key_pem: other.key_pem } } },
          "body.credentials.client_certificate.key_pem",
        ],
        [
          { name: "x", url: HOOK, credentials: { client_certificate: { ...mine, key_pem: canary } } },
          "body.credentials.client_certificate.key_pem",
        ],
        [{ name: "x", url: HOOK, extra: canary }, "body"],
        [{ name: "", url: HOOK }, "body.name"],
      ];
      const before = await api.t.admin("select count(*)::int as n from destinations");
      for (const [body, path] of cases) {
        const r = await create(body);
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body).slice(0, 200));
        for (const secret of [canary, other.key_pem.split("\n")[1]!, mine.key_pem.split("\n")[1]!]) {
          assert.ok(!r.text.includes(secret), r.text);
        }
        const paths = r.json.error.details.issues.map((i: { path: string }) => i.path);
        assert.ok(
          paths.some((p: string) => p === path || p.startsWith(`${path}.`)),
          `${JSON.stringify(body).slice(0, 200)}: ${paths}`,
        );
      }
      const expired = await testClientCertificate(new Date(api.clock.now().getTime() - 1000));
      const old = await create({ name: "x", url: HOOK, credentials: { client_certificate: expired } });
      assertError(old, 400, "VALIDATION_FAILED");
      assert.deepEqual(
        old.json.error.details.issues.map((i: { path: string }) => i.path),
        ["body.credentials.client_certificate.cert_pem"],
      );
      assert.deepEqual(await api.t.admin("select count(*)::int as n from destinations"), before);

      const d = await create({ name: "valid", url: HOOK });
      const plain = await create({ name: "plain", url: "http://127.0.0.1:1/", allow_plain_http: true });
      const patches: [string, unknown, string][] = [
        [d.json.id, {}, "body"],
        [d.json.id, { secret: testSigningSecret() }, "body"],
        [d.json.id, { url: "http://example.com/" }, "body.url"],
        [plain.json.id, { allow_plain_http: false }, "body.allow_plain_http"],
        [d.json.id, { headers: { cookie: canary } }, "body.headers"],
        [
          d.json.id,
          { credentials: { client_certificate: expired } },
          "body.credentials.client_certificate.cert_pem",
        ],
      ];
      for (const [id, body, path] of patches) {
        const r = await api.request("PATCH", url(`/${id}`), { key: admin, body });
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body));
        assert.ok(!r.text.includes(canary), r.text);
        const paths = r.json.error.details.issues.map((i: { path: string }) => i.path);
        assert.ok(paths.includes(path), `${JSON.stringify(body)}: ${paths}`);
      }
      for (const body of [{ overlap_seconds: -1 }, { secret: `whsec_${canary}` }, { extra: 1 }]) {
        const r = await api.request("POST", url(`/${d.json.id}/rotate-secret`), { key: admin, body });
        assertError(r, 400, "VALIDATION_FAILED", JSON.stringify(body));
        assert.ok(!r.text.includes(canary), r.text);
      }
    });
  });
}
