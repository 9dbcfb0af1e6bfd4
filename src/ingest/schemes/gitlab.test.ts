import assert from "node:assert/strict";
import { test } from "node:test";
import { Webhook } from "standardwebhooks";
import { SCHEMES } from "./index.ts";
import { check, reason } from "./schemes.test-support.ts";
import { generateStandardWebhooksSecret } from "./standard-webhooks.ts";

const TOKEN = "gitlab-secret-token-0123456789";
const BODY = Buffer.from('{"object_kind":"merge_request","project":{"path_with_namespace":"group/app"}}');
const SIGNING = generateStandardWebhooksSecret();

/** What GitLab sends with a signing token, per its docs: Standard Webhooks headers, signed by the reference library. */
function gitlabSigned(secret: string, now = new Date(), id = "6f2a2a4d-1d8c-4f0c-9b7a-000000000001") {
  return {
    "x-gitlab-event": "Merge Request Hook",
    "x-gitlab-event-uuid": "a2b1c7d0-0000-4000-8000-000000000002",
    "idempotency-key": id,
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, now, BODY.toString()),
  };
}

test("a secret token is compared with every token secret; the replay key is not the token", () => {
  const r = check("gitlab", {
    headers: { "x-gitlab-token": TOKEN, "x-gitlab-event-uuid": "uuid-1" },
    secrets: ["another-token-abcdefgh", TOKEN],
    body: BODY,
  });
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.deliveryId, "uuid-1");
  assert.ok(!r.value.signature.includes(TOKEN));
  assert.match(r.value.signature, /^[0-9a-f]{64}$/);
  const wrong = check("gitlab", { headers: { "x-gitlab-token": `${TOKEN}x` }, secrets: [TOKEN], body: BODY });
  assert.equal(reason(wrong), "bad_signature");
});

test("a signing token verifies GitLab's Standard Webhooks signature, with the signed webhook-id as delivery id", () => {
  const now = new Date();
  const r = check("gitlab", {
    headers: gitlabSigned(SIGNING, now),
    secrets: [TOKEN, SIGNING],
    body: BODY,
    now,
  });
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.deliveryId, "6f2a2a4d-1d8c-4f0c-9b7a-000000000001");
  const stale = check("gitlab", {
    headers: gitlabSigned(SIGNING, new Date(now.getTime() - 301_000)),
    secrets: [SIGNING],
    body: BODY,
    now,
  });
  assert.equal(reason(stale), "stale");
});

test("with a signing token held, a signed request cannot fall back to the plain token", () => {
  const now = new Date();
  const headers = { ...gitlabSigned(SIGNING, now), "x-gitlab-token": TOKEN };
  const tampered = Buffer.from(`${BODY.toString()} `);
  const r = check("gitlab", { headers, secrets: [SIGNING, TOKEN], body: tampered, now });
  assert.equal(reason(r), "bad_signature");
});

test("a signing token is never accepted as a plain token", () => {
  const r = check("gitlab", { headers: { "x-gitlab-token": SIGNING }, secrets: [SIGNING], body: BODY });
  assert.equal(reason(r), "bad_signature");
});

test("a signed request to a source holding only a plain token falls back to the token header", () => {
  const now = new Date();
  const headers = { ...gitlabSigned(SIGNING, now), "x-gitlab-token": TOKEN };
  assert.ok(check("gitlab", { headers, secrets: [TOKEN], body: BODY, now }).ok);
  const { "x-gitlab-token": _, ...signedOnly } = headers;
  assert.equal(
    reason(check("gitlab", { headers: signedOnly, secrets: [TOKEN], body: BODY, now })),
    "bad_signature",
  );
});

test("describe: X-Gitlab-Event lower-cased with spaces as _, project path as subject", () => {
  const facts = SCHEMES.gitlab.describe({
    headers: { "x-gitlab-event": "Merge Request Hook", "x-gitlab-event-uuid": "uuid-9" },
    body: BODY,
    json: JSON.parse(BODY.toString()),
  });
  assert.deepEqual(facts, {
    type: "com.gitlab.merge_request_hook",
    subject: "group/app",
    deliveryId: "uuid-9",
  });
});
