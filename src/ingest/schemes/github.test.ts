import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { SCHEMES } from "./index.ts";
import { check, reason } from "./schemes.test-support.ts";

const SECRET = "github-webhook-secret";
const BODY = Buffer.from('{"action":"opened","repository":{"full_name":"octo/hello"}}');
const SIG = `sha256=${createHmac("sha256", SECRET).update(BODY).digest("hex")}`;

test("accepts X-Hub-Signature-256 with the delivery GUID as delivery id", () => {
  const r = check("github", {
    headers: { "x-hub-signature-256": SIG, "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958" },
    secrets: [SECRET],
    body: BODY,
  });
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.deliveryId, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  assert.equal(r.value.signature, SIG);
});

test("the legacy SHA-1 X-Hub-Signature alone is missing_signature", () => {
  const sha1 = `sha1=${createHmac("sha1", SECRET).update(BODY).digest("hex")}`;
  const r = check("github", { headers: { "x-hub-signature": sha1 }, secrets: [SECRET], body: BODY });
  assert.equal(reason(r), "missing_signature");
});

test("a repeated header (values joined by the HTTP layer) is malformed", () => {
  const r = check("github", {
    headers: { "x-hub-signature-256": `${SIG}, ${SIG}` },
    secrets: [SECRET],
    body: BODY,
  });
  assert.equal(reason(r), "malformed_signature");
});

test("describe: com.github.<event>.<action>, repository full name as subject", () => {
  const d = (event: string | undefined, json: unknown) =>
    SCHEMES.github.describe({
      headers: event === undefined ? {} : { "x-github-event": event, "x-github-delivery": "d-1" },
      body: BODY,
      json,
    });
  assert.deepEqual(d("pull_request", JSON.parse(BODY.toString())), {
    type: "com.github.pull_request.opened",
    subject: "octo/hello",
    deliveryId: "d-1",
    // Redeliver sends the same X-GitHub-Delivery: it is the event's idempotency key too.
    idempotencyKey: "d-1",
  });
  assert.equal(d("push", { ref: "refs/heads/main" }).type, "com.github.push");
  assert.equal(d("push", { action: "bad action!" }).type, "com.github.push");
  assert.equal(d("ping", { organization: { login: "octo" } }).subject, "octo");
  assert.equal(d(undefined, {}).type, "com.github.event");
});
