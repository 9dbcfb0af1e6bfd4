/**
 * `POST /v1/projects/{project_id}/sources/{source_id}/test`: the provider's
 * sample, signed with the source's current secret, through a real ingest
 * listener over the same database, for every registered scheme; audited,
 * limited per source, and refused with a stable code where the ingest path
 * or the scheme cannot take it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { assertError, startTestApi, type TestApi } from "../../test/support/api.ts";
import { SCHEMES } from "../ingest/schemes/index.ts";
import { sampleRequest, TEST_SENDS_PER_HOUR } from "../ingest/sources/index.ts";
import { SCHEME_NAMES, type SchemeName } from "../ingest/types.ts";

/** Settings a scheme cannot do without (the rest take `{}`). */
const SETTINGS: Partial<Record<SchemeName, Record<string, unknown>>> = {
  "generic-hmac": { header: "x-signature" },
  meta: { verify_token: "a-verify-token-typed-in-meta" },
};

describe("test sends", () => {
  let api: TestApi;
  let projectId: string;
  let tenantId: string;
  let key: string;
  const url = (path = "") => `/v1/projects/${projectId}/sources${path}`;

  const createSource = async (scheme: SchemeName, extra: Record<string, unknown> = {}) => {
    const r = await api.request("POST", url(), {
      key,
      body: {
        name: `${scheme} test`,
        scheme,
        allow_plain_http: true,
        content_types: [SCHEMES[scheme].provider.sample.contentType],
        ...(SETTINGS[scheme] ? { settings: SETTINGS[scheme] } : {}),
        ...extra,
      },
    });
    assert.equal(r.status, 201, r.text);
    return r.json as { id: string; secret: string };
  };

  before(async () => {
    api = await startTestApi("pglite", { ingest: true });
    ({ tenantId, projectId, key } = await api.tenant("test sends"));
  });
  after(() => api?.close());

  for (const scheme of SCHEME_NAMES.filter((s) => SCHEMES[s].signs !== false)) {
    test(`a ${scheme} source's sample goes through the ingest path and is stored as the provider's event`, async () => {
      const source = await createSource(scheme);
      const r = await api.request("POST", url(`/${source.id}/test`), { key });
      assert.equal(r.status, 200, r.text);
      assert.match(r.json.event_id, /^evt_/);
      assert.equal(r.json.scheme, scheme);
      assert.equal(r.json.ingest_url, `${api.ingestUrl}/e/${source.id}`);
      const event = await api.request("GET", `/v1/projects/${projectId}/events/${r.json.event_id}`, { key });
      assert.equal(event.status, 200, event.text);
      assert.equal(event.json.event.id, r.json.event_id);
      assert.equal(event.json.source_id, source.id);
      const ce = event.json.event;
      const sample = SCHEMES[scheme].provider.sample;
      if (sample.contentType.endsWith("json")) {
        const stored = ce.data ?? JSON.parse(Buffer.from(ce.data_base64, "base64").toString("utf8"));
        // A sample whose provider signs a time inside the body is built for the moment it is sent.
        // A provider whose proof travels in the body (Graph's clientState) carries the source's secret there.
        const signBody = SCHEMES[scheme].signBody;
        const body = signBody?.({ secret: source.secret, body: Buffer.from(sample.body), now: new Date() });
        const expected = JSON.parse(body?.toString("utf8") ?? sample.body) as Record<string, unknown>;
        const sentAt = (stored as Record<string, unknown>).webhookTimestamp;
        if (sample.bodyAt !== undefined) expected.webhookTimestamp = sentAt;
        assert.deepEqual(stored, expected);
      } else {
        // Form bodies (Twilio, Mandrill) are stored as sent.
        const raw =
          ce.data_base64 === undefined
            ? String(ce.data)
            : Buffer.from(ce.data_base64, "base64").toString("utf8");
        assert.equal(raw, sample.body);
      }
    });
  }

  test("is audited as source.test_send with the secret version it signed with, never the secret", async () => {
    const source = await createSource("github");
    assert.equal((await api.request("POST", url(`/${source.id}/test`), { key })).status, 200);
    const rows = await api.t.db.withTenant(tenantId, (tx) =>
      tx.query<{ details: Record<string, unknown>; outcome: string }>(
        "select details, outcome from audit_log where tenant_id = $1 and action = 'source.test_send' and target_id = $2",
        [tenantId, source.id],
      ),
    );
    assert.equal(rows.rows.length, 1);
    assert.deepEqual(rows.rows[0]!.details, { scheme: "github", secret_version: 1 });
    assert.equal(rows.rows[0]!.outcome, "success");
    assert.ok(!JSON.stringify(rows.rows).includes(source.secret));
  });

  test("signs with the newest secret after a rotation", async () => {
    const source = await createSource("github");
    const rot = await api.request("POST", url(`/${source.id}/rotate-secret`), {
      key,
      body: { overlap_seconds: 0 },
    });
    assert.equal(rot.status, 200, rot.text);
    const r = await api.request("POST", url(`/${source.id}/test`), { key });
    assert.equal(r.status, 200, r.text);
  });

  test("what the ingester refuses comes back as TEST_SEND_FAILED with the ingester's status and code", async () => {
    const https = await createSource("github", { allow_plain_http: false });
    const r = await api.request("POST", url(`/${https.id}/test`), { key });
    assertError(r, 422, "TEST_SEND_FAILED");
    assert.equal(r.json.error.details.ingest_status, 403);
    assert.equal(r.json.error.details.ingest_code, "PLAIN_HTTP_NOT_ALLOWED");
    const textOnly = await createSource("github", { content_types: ["text/plain"] });
    const t = await api.request("POST", url(`/${textOnly.id}/test`), { key });
    assertError(t, 422, "TEST_SEND_FAILED");
    assert.equal(t.json.error.details.ingest_code, "UNSUPPORTED_MEDIA_TYPE");
  });

  test("a disabled source is refused before anything is sent", async () => {
    const source = await createSource("github");
    assert.equal(
      (await api.request("PATCH", url(`/${source.id}`), { key, body: { enabled: false } })).status,
      200,
    );
    assertError(await api.request("POST", url(`/${source.id}/test`), { key }), 409, "CONFLICT");
  });

  test(`a source takes at most ${TEST_SENDS_PER_HOUR} test sends an hour`, async () => {
    const source = await createSource("generic-hmac");
    for (let i = 0; i < TEST_SENDS_PER_HOUR; i++) {
      const r = await api.request("POST", url(`/${source.id}/test`), { key });
      assert.equal(r.status, 200, `send ${i + 1}: ${r.text}`);
    }
    const over = await api.request("POST", url(`/${source.id}/test`), { key });
    assertError(over, 429, "RATE_LIMITED");
    assert.equal(over.headers.get("retry-after"), "600");
    // Another source has its own allowance.
    const other = await createSource("generic-hmac");
    assert.equal((await api.request("POST", url(`/${other.id}/test`), { key })).status, 200);
  });

  test("needs sources:write, as rotating the secret does", async () => {
    const source = await createSource("github");
    const reader = await api.key(tenantId, projectId, ["sources:read"]);
    assertError(
      await api.request("POST", url(`/${source.id}/test`), { key: reader.secret }),
      403,
      "FORBIDDEN",
    );
  });
});

describe("schemes that cannot sign", () => {
  test("a scheme marked signs: false is refused with SCHEME_CANNOT_SIGN, and its sign() is never called", () => {
    let called = false;
    const publicKeyOnly = {
      ...SCHEMES.github,
      signs: false as const,
      sign: () => {
        called = true;
        return {};
      },
    };
    assert.throws(
      () =>
        sampleRequest(publicKeyOnly, "unused-secret", {}, new Date(), "https://hooks.example.com/e/src_x"),
      (err: { code?: string; status?: number }) => err.code === "SCHEME_CANNOT_SIGN" && err.status === 422,
    );
    assert.equal(called, false);
  });

  test("a scheme that signs gets the sample's media type and its own signature headers", () => {
    const r = sampleRequest(
      SCHEMES.github,
      "a-github-secret",
      {},
      new Date(),
      "https://hooks.example.com/e/src_x",
    );
    assert.equal(r.headers["content-type"], SCHEMES.github.provider.sample.contentType);
    assert.match(r.headers["x-hub-signature-256"] ?? "", /^sha256=[0-9a-f]{64}$/);
    assert.equal(r.body.toString("utf8"), SCHEMES.github.provider.sample.body);
  });
});
