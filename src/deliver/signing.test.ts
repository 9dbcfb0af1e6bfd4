/**
 * Outbound signing checked three ways: the specification's known answers, the
 * `standardwebhooks` npm package (the reference implementation) as an
 * independent verifier, and our own inbound verifier. The reference library
 * reads the system clock, so those tests sign at real time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { vectors } from "../../test/support/vectors.ts";
import { SCHEMES } from "../ingest/schemes/index.ts";
import {
  isSigningSecret,
  MAX_SIGNING_SECRETS,
  newSigningSecret,
  type SignWebhookInput,
  signWebhook,
  webhookHeaders,
} from "./signing.ts";

interface SwCase {
  secret: string;
  id: string;
  timestamp: string;
  body: string;
  signature: string;
}

const cases: SwCase[] = vectors.standard_webhooks.cases;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const secretOf = (key: Uint8Array) => `whsec_${Buffer.from(key).toString("base64")}`;

function oracleAccepts(secret: string, body: string | Buffer, headers: Record<string, string>): boolean {
  try {
    new Webhook(secret).verify(body, headers, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}

test("the specification's known answers reproduce exactly", () => {
  assert.ok(cases.length >= 2);
  for (const c of cases) {
    const signature = signWebhook({
      id: c.id,
      timestamp: Number(c.timestamp),
      body: Buffer.from(c.body),
      secrets: [c.secret],
    });
    assert.equal(signature, c.signature);
  }
});

test("a rotation signs with every secret, newest first, one space-separated entry each", () => {
  const [a, b] = cases as [SwCase, SwCase];
  // b's secret over a's content has no published answer: sign it alone, then check the composition.
  const input = { id: a.id, timestamp: Number(a.timestamp), body: Buffer.from(a.body) };
  const alone = signWebhook({ ...input, secrets: [b.secret] });
  assert.equal(signWebhook({ ...input, secrets: [b.secret, a.secret] }), `${alone} ${a.signature}`);
  assert.equal(signWebhook({ ...input, secrets: [a.secret, b.secret] }), `${a.signature} ${alone}`);
});

test("the reference library verifies a rotation's header with the new secret alone and the old alone", () => {
  const fresh = newSigningSecret();
  const old = newSigningSecret();
  const body = Buffer.from('{"type":"invoice.paid","data":{"amount":1200}}');
  const headers = {
    ...webhookHeaders({ id: "msg_rot1", timestamp: nowSeconds(), body, secrets: [fresh, old] }),
  };
  assert.equal(headers["webhook-signature"].split(" ").length, 2);
  assert.ok(oracleAccepts(fresh, body, headers));
  assert.ok(oracleAccepts(old, body, headers));
  assert.equal(oracleAccepts(newSigningSecret(), body, headers), false);
});

test("the reference library refuses a tampered body, id or timestamp", () => {
  const secret = newSigningSecret();
  const body = Buffer.from('{"a":1}');
  const ts = nowSeconds();
  const headers = { ...webhookHeaders({ id: "msg_t1", timestamp: ts, body, secrets: [secret] }) };
  assert.ok(oracleAccepts(secret, body, headers));
  assert.equal(oracleAccepts(secret, Buffer.from('{"a":2}'), headers), false);
  assert.equal(oracleAccepts(secret, body, { ...headers, "webhook-id": "msg_t2" }), false);
  assert.equal(oracleAccepts(secret, body, { ...headers, "webhook-timestamp": String(ts - 1) }), false);
});

test("any body, id and key size round-trips through the reference library", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary", maxLength: 400 }),
      fc.stringMatching(/^msg_[A-Za-z0-9]{1,40}$/),
      fc.uint8Array({ minLength: 24, maxLength: 64 }),
      fc.uint8Array({ minLength: 24, maxLength: 64 }),
      (text, id, newKey, oldKey) => {
        const body = Buffer.from(text);
        const secrets = [secretOf(newKey), secretOf(oldKey)];
        const headers = { ...webhookHeaders({ id, timestamp: nowSeconds(), body, secrets }) };
        assert.ok(oracleAccepts(secrets[0]!, body, headers));
        assert.ok(oracleAccepts(secrets[1]!, body, headers));
        assert.equal(oracleAccepts(secrets[0]!, Buffer.concat([body, Buffer.from("x")]), headers), false);
      },
    ),
    { numRuns: 200 },
  );
});

test("our own ingest verifier accepts what we send, with either secret of a rotation", () => {
  const fresh = newSigningSecret();
  const old = newSigningSecret();
  const body = Buffer.from("{}");
  const now = new Date();
  const headers = {
    ...webhookHeaders({ id: "msg_own", timestamp: nowSeconds(), body, secrets: [fresh, old] }),
  };
  for (const secret of [fresh, old]) {
    const r = SCHEMES["standard-webhooks"].verify({
      headers,
      body,
      secrets: [secret],
      settings: {},
      now,
      toleranceSeconds: 300,
    });
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.value.deliveryId, "msg_own");
  }
});

test("webhookHeaders carries the id, the timestamp as decimal seconds and the signature", () => {
  const c = cases[0]!;
  const h = webhookHeaders({
    id: c.id,
    timestamp: Number(c.timestamp),
    body: Buffer.from(c.body),
    secrets: [c.secret],
  });
  assert.deepEqual(h, {
    "webhook-id": c.id,
    "webhook-timestamp": c.timestamp,
    "webhook-signature": c.signature,
  });
});

test("a new secret is whsec_ and 32 random bytes of base64, fresh every time", () => {
  const a = newSigningSecret();
  const b = newSigningSecret();
  assert.notEqual(a, b);
  assert.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(a.slice("whsec_".length), "base64").byteLength, 32);
  assert.ok(isSigningSecret(a));
});

test("isSigningSecret accepts 24 to 64 bytes of canonical base64 behind whsec_, nothing else", () => {
  const b64 = (n: number) => Buffer.alloc(n, 7).toString("base64");
  for (const n of [24, 32, 48, 64]) assert.ok(isSigningSecret(`whsec_${b64(n)}`), `${n} bytes`);
  for (const c of cases) assert.ok(isSigningSecret(c.secret));
  const refused = [
    "",
    "whsec_",
    b64(32),
    `whsec_${b64(23)}`,
    `whsec_${b64(65)}`,
    `whsec_${b64(32).replace(/=$/, "")}`,
    `whsec_${b64(32)} `,
    `whsec_ ${b64(32)}`,
    `WHSEC_${b64(32)}`,
    `whsec_${Buffer.alloc(32, 7).toString("base64url")}-_`,
    // The last character's unused bits set: decodes, but is not the canonical encoding.
    `whsec_${b64(32).slice(0, -2)}x=`,
  ];
  for (const s of refused) assert.equal(isSigningSecret(s), false, JSON.stringify(s));
});

test("signing refuses a malformed id, timestamp or secret list, without echoing a secret", () => {
  const secret = newSigningSecret();
  const ok: SignWebhookInput = {
    id: "msg_1",
    timestamp: 1_700_000_000,
    body: Buffer.from("{}"),
    secrets: [secret],
  };
  assert.doesNotThrow(() => signWebhook(ok));
  const bad: SignWebhookInput[] = [
    { ...ok, id: "" },
    { ...ok, id: "msg 1" },
    { ...ok, id: "x".repeat(257) },
    { ...ok, timestamp: -1 },
    { ...ok, timestamp: 1.5 },
    { ...ok, timestamp: Number.NaN },
    { ...ok, secrets: [] },
    { ...ok, secrets: Array.from({ length: MAX_SIGNING_SECRETS + 1 }, newSigningSecret) },
  ];
  for (const input of bad) assert.throws(() => signWebhook(input), Error);
  const notASecret = "whsec_tooshort";
  assert.throws(
    () => signWebhook({ ...ok, secrets: [secret, notASecret] }),
    (err: Error) => /secrets\[1\]/.test(err.message) && !err.message.includes(notASecret),
  );
});
