/**
 * Public-key provider sources over HTTP: without the provider's key the
 * answer is 400 SOURCE_SECRET_REQUIRED in the one error shape, on create and
 * on rotate; with it, the key is the secret shown and distributed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { DRIVERS, skipReason } from "../../test/support/db.ts";
import { ed25519Secret, p256Secret } from "../ingest/providers/keys.test-support.ts";

for (const kind of DRIVERS) {
  describe(`public-key provider sources over HTTP on ${kind}`, { skip: skipReason(kind) }, () => {
    let api: TestApi;
    let projectId: string;
    let admin: string;
    const url = (suffix = "") => `/v1/projects/${projectId}/sources${suffix}`;

    before(async () => {
      api = await startTestApi(kind);
      ({ projectId, key: admin } = await api.tenant());
    });
    after(async () => {
      await api?.close();
    });

    for (const [scheme, key] of [
      ["discord", ed25519Secret],
      ["sendgrid", p256Secret],
    ] as const) {
      test(`${scheme}: created without its key is 400 SOURCE_SECRET_REQUIRED; with it, created; rotation needs the next`, async () => {
        const none = await api.request("POST", url(), { key: admin, body: { name: scheme, scheme } });
        assertError(none, 400, "SOURCE_SECRET_REQUIRED");
        const wrong = await api.request("POST", url(), {
          key: admin,
          body: { name: scheme, scheme, secret: "0123456789abcdef" },
        });
        assertError(wrong, 400, "VALIDATION_FAILED");
        const secret = key();
        const created = await api.request("POST", url(), {
          key: admin,
          body: { name: scheme, scheme, secret },
        });
        assert.equal(created.status, 201, created.text);
        assert.equal(created.json.secret, secret);
        const rotated = await api.request("POST", url(`/${created.json.id}/rotate-secret`), {
          key: admin,
          body: {},
        });
        assertError(rotated, 400, "SOURCE_SECRET_REQUIRED");
        const next = await api.request("POST", url(`/${created.json.id}/rotate-secret`), {
          key: admin,
          body: { secret: key() },
        });
        assert.equal(next.status, 200, next.text);
      });
    }
  });
}
