/**
 * The `standardwebhooks` npm package (the specification's reference
 * implementation) as an independent oracle: what it signs we accept, what we
 * sign it accepts. It reads the system clock, so these run at real time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { SCHEMES } from "./index.ts";
import { check, reason } from "./schemes.test-support.ts";

const scheme = SCHEMES["standard-webhooks"];

test("the reference library signs, we verify (any body, id and secret)", () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 400 }),
      fc.stringMatching(/^msg_[A-Za-z0-9]{1,40}$/),
      fc.uint8Array({ minLength: 24, maxLength: 64 }),
      (body, id, key) => {
        const secret = `whsec_${Buffer.from(key).toString("base64")}`;
        const now = new Date();
        const wh = new Webhook(secret);
        const headers = {
          "webhook-id": id,
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": wh.sign(id, now, body),
        };
        const r = check("standard-webhooks", { headers, secrets: [secret], body: Buffer.from(body), now });
        assert.ok(r.ok, reason(r));
        assert.equal(r.value.deliveryId, id);
      },
    ),
    { numRuns: 200 },
  );
});

test("we sign, the reference library verifies; it refuses what we refuse as tampered", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (body) => {
      const secret = scheme.generateSecret();
      const headers = scheme.sign({ secret, body: Buffer.from(body), now: new Date() });
      new Webhook(secret).verify(body, headers, { jsonParse: false });
      assert.throws(() => new Webhook(secret).verify(`${body}x`, headers, { jsonParse: false }));
      assert.equal(
        check("standard-webhooks", {
          headers,
          secrets: [secret],
          body: Buffer.from(`${body}x`),
          now: new Date(),
        }).ok,
        false,
      );
    }),
    { numRuns: 200 },
  );
});

test("a secret without the whsec_ prefix is the same key; a secret that is not base64 is unusable", () => {
  const secret = scheme.generateSecret();
  const headers = scheme.sign({ secret, body: Buffer.from("{}"), now: new Date() });
  const bare = secret.slice("whsec_".length);
  assert.ok(
    check("standard-webhooks", { headers, secrets: [bare], body: Buffer.from("{}"), now: new Date() }).ok,
  );
  const r = check("standard-webhooks", {
    headers,
    secrets: ["not base64!"],
    body: Buffer.from("{}"),
    now: new Date(),
  });
  assert.equal(reason(r), "no_secret");
});

test("more than eight v1 entries, or a v1 that is not 32 bytes of base64, is malformed", () => {
  const secret = scheme.generateSecret();
  const headers = scheme.sign({ secret, body: Buffer.from("{}"), now: new Date() });
  const one = headers["webhook-signature"]!;
  for (const signature of [Array(9).fill(one).join(" "), `${one} v1,AAAA`, `${one} v1`, "v1,,"]) {
    const r = check("standard-webhooks", {
      headers: { ...headers, "webhook-signature": signature },
      secrets: [secret],
      body: Buffer.from("{}"),
      now: new Date(),
    });
    assert.equal(reason(r), "malformed_signature", signature);
  }
});

test("describe: body type prefixed com.standardwebhooks., webhook-id, body timestamp", () => {
  const d = (json: unknown) =>
    scheme.describe({ headers: { "webhook-id": "msg_1" }, body: Buffer.alloc(0), json });
  assert.deepEqual(d({ type: "invoice.paid", timestamp: "2022-11-03T20:26:10.344522Z", data: {} }), {
    type: "com.standardwebhooks.invoice.paid",
    deliveryId: "msg_1",
    idempotencyKey: "msg_1",
    time: new Date("2022-11-03T20:26:10.344Z"),
  });
  assert.equal(d({ type: "has spaces" }).type, "com.standardwebhooks.event");
  assert.equal(d([1, 2]).type, "com.standardwebhooks.event");
});
