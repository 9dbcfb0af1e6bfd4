import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { SCHEMES } from "./index.ts";
import { check, NOW_UNIX, reason } from "./schemes.test-support.ts";

const SECRET = "whsec_test_5f8Qm2bLz0aXyTg7KcR1nWv3";
const BODY = Buffer.from(
  JSON.stringify({
    id: "evt_1NqK2b2eZvKYlo2C0x1y2z3A",
    object: "event",
    type: "payment_intent.succeeded",
    created: 1_700_000_000,
    data: { object: { id: "pi_3NqK2b2eZvKYlo2C", object: "payment_intent" } },
  }),
);

/** Stripe's documented computation, independent of the scheme's code. */
function v1(t: number, body: Buffer, secret = SECRET): string {
  return createHmac("sha256", Buffer.from(secret, "utf8"))
    .update(Buffer.concat([Buffer.from(`${t}.`), body]))
    .digest("hex");
}

const verify = (header: string, secrets = [SECRET], body = BODY) =>
  check("stripe", { headers: { "stripe-signature": header }, secrets, body });

test("accepts a payload signed as Stripe documents, with the event id as delivery id", () => {
  const sig = v1(NOW_UNIX, BODY);
  const r = verify(`t=${NOW_UNIX},v1=${sig}`);
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.signature, sig);
  assert.equal(r.value.deliveryId, "evt_1NqK2b2eZvKYlo2C0x1y2z3A");
  assert.deepEqual(r.value.timestamp, new Date(NOW_UNIX * 1000));
});

test("rejects a Stripe signature older than the tolerance, and one from the future", () => {
  const old = NOW_UNIX - 301;
  assert.equal(reason(verify(`t=${old},v1=${v1(old, BODY)}`)), "stale");
  const ahead = NOW_UNIX + 301;
  assert.equal(reason(verify(`t=${ahead},v1=${v1(ahead, BODY)}`)), "future");
});

test("a forged old signature is bad_signature, not stale: the window is checked after the MAC", () => {
  const old = NOW_UNIX - 10_000;
  assert.equal(reason(verify(`t=${old},v1=${v1(old, BODY, "whsec_other")}`)), "bad_signature");
});

test("any of several v1 entries may match (Stripe's own secret roll); v0 and unknown schemes are ignored", () => {
  const good = v1(NOW_UNIX, BODY);
  const other = v1(NOW_UNIX, BODY, "whsec_old");
  const r = verify(`t=${NOW_UNIX},v1=${other},v1=${good},v0=${"0".repeat(64)},v9=whatever`);
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.signature, good);
  // v0 carrying the right MAC still counts for nothing.
  assert.equal(reason(verify(`t=${NOW_UNIX},v0=${good}`)), "bad_signature");
});

test("the key is the whole whsec_ string, not its decoded tail", () => {
  const tail = SECRET.slice("whsec_".length);
  const sig = createHmac("sha256", tail).update(`${NOW_UNIX}.`).update(BODY).digest("hex");
  assert.equal(reason(verify(`t=${NOW_UNIX},v1=${sig}`)), "bad_signature");
});

test("a malformed header is refused: repeated t, short v1, spaces, too many entries", () => {
  const sig = v1(NOW_UNIX, BODY);
  for (const header of [
    `t=${NOW_UNIX},t=${NOW_UNIX},v1=${sig}`,
    `t=${NOW_UNIX},v1=${sig.slice(2)}`,
    `t=${NOW_UNIX}, v1=${sig}`,
    `t=${NOW_UNIX},v1=${sig},`,
    `t=${NOW_UNIX},${Array.from({ length: 20 }, () => `v1=${sig}`).join(",")}`,
  ]) {
    assert.equal(reason(verify(header)), "malformed_signature", header);
  }
  assert.equal(reason(verify(`v1=${sig}`)), "missing_timestamp");
});

test("describe: com.stripe.<type>, the event id, data.object.id as subject, created as time", () => {
  const facts = SCHEMES.stripe.describe({ headers: {}, body: BODY, json: JSON.parse(BODY.toString()) });
  assert.deepEqual(facts, {
    type: "com.stripe.payment_intent.succeeded",
    deliveryId: "evt_1NqK2b2eZvKYlo2C0x1y2z3A",
    idempotencyKey: "evt_1NqK2b2eZvKYlo2C0x1y2z3A",
    subject: "pi_3NqK2b2eZvKYlo2C",
    time: new Date(1_700_000_000 * 1000),
  });
});

test("generated secrets look like Stripe's (whsec_ and alphanumerics)", () => {
  assert.match(SCHEMES.stripe.generateSecret(), /^whsec_[A-Za-z0-9]{32}$/);
});
