/**
 * The asymmetric and special providers against their own npm libraries as
 * independent oracles: each entry's documented example (in the entry, run by
 * examples.test.ts) is verified by the provider's library too, what we sign
 * it verifies, what it signs we verify, and it refuses what we refuse; plus
 * what the examples suite does not reach (handshakes, key handling, signature
 * malleability, URL forms).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EventWebhook } from "@sendgrid/eventwebhook";
import { verifyKey } from "discord-interactions";
import { Webhook } from "svix";
import twilioLib from "twilio";
import { vectors } from "../../../test/support/vectors.ts";
import { isZenError } from "../../core/index.ts";
import { SCHEMES } from "../schemes/index.ts";
import type { SchemeName, VerifyInput, VerifyResult } from "../types.ts";
import { parseEcdsaDer } from "./engine-ecdsa.ts";
import { entryOf } from "./entry.ts";
import { p256Secret, signingKeyOf } from "./keys.test-support.ts";

const reason = (r: VerifyResult) => (r.ok ? "ok" : r.reason);
/** An entry's documented example, and one of its headers (which must be there). */
const example = (name: SchemeName, i = 0) => {
  const e = entryOf(SCHEMES[name])?.examples[i];
  assert.ok(e, `${name} has example ${i}`);
  const header = (h: string) => {
    const value = e.headers[h];
    assert.ok(value !== undefined, `${name} example ${i} has ${h}`);
    return value;
  };
  return { ...e, header };
};
const at = (unix: string | number, plus = 0) => new Date((Number(unix) + plus) * 1000);

function verify(name: SchemeName, input: Partial<VerifyInput> & Pick<VerifyInput, "headers" | "body">) {
  return SCHEMES[name].verify({
    secrets: [],
    settings: {},
    now: new Date(),
    toleranceSeconds: 300,
    ...input,
  });
}

describe("Discord (Ed25519)", () => {
  // The entry's examples were computed with RFC 8032 §7.1 TEST 1's key pair
  // (Discord publishes no signed example); its private half, as PKCS#8, signs
  // here. Ed25519 is deterministic: the same input, the same signature.
  const command = example("discord", 0);
  const ping = example("discord", 1);
  const PUBLIC = command.secret;
  const PRIVATE =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
  const TS = command.header("x-signature-timestamp");
  const PING = ping.body;
  const PING_SIG = ping.header("x-signature-ed25519");
  const COMMAND = command.body;
  const COMMAND_SIG = command.header("x-signature-ed25519");
  const headers = (sig: string, ts = TS) => ({ "x-signature-ed25519": sig, "x-signature-timestamp": ts });
  const run = (body: string, sig: string, now = at(TS)) =>
    verify("discord", { headers: headers(sig), body: Buffer.from(body), secrets: [PUBLIC], now });

  test("the examples verify, signing reproduces them, and discord-interactions agrees", async () => {
    for (const [body, sig] of [
      [PING, PING_SIG],
      [COMMAND, COMMAND_SIG],
    ] as const) {
      const r = run(body, sig);
      assert.ok(r.ok, reason(r));
      assert.equal(r.value.signature, sig);
      assert.deepEqual(r.value.timestamp, at(TS));
      const signed = SCHEMES.discord.sign({ secret: PRIVATE, body: Buffer.from(body), now: at(TS) });
      assert.deepEqual(signed, headers(sig));
      assert.ok(Object.entries(signed).every(([h, v]) => (body === PING ? ping : command).headers[h] === v));
      assert.equal(await verifyKey(body, sig, TS, PUBLIC), true);
    }
    // Upper-case hex is the same signature, with the same replay key.
    const upper = run(COMMAND, COMMAND_SIG.toUpperCase());
    assert.ok(upper.ok);
    assert.equal(upper.value.signature, COMMAND_SIG);
  });

  test("what the library refuses we refuse: another body, another timestamp, a flipped bit", async () => {
    const flipped = `${COMMAND_SIG.slice(0, -1)}${COMMAND_SIG.endsWith("8") ? "9" : "8"}`;
    assert.equal(await verifyKey(COMMAND, flipped, TS, PUBLIC), false);
    assert.equal(reason(run(COMMAND, flipped)), "bad_signature");
    assert.equal(await verifyKey(`${COMMAND} `, COMMAND_SIG, TS, PUBLIC), false);
    assert.equal(reason(run(`${COMMAND} `, COMMAND_SIG)), "bad_signature");
    assert.equal(await verifyKey(COMMAND, COMMAND_SIG, "1700000001", PUBLIC), false);
    const moved = verify("discord", {
      headers: headers(COMMAND_SIG, "1700000001"),
      body: Buffer.from(COMMAND),
      secrets: [PUBLIC],
      now: at(TS),
    });
    assert.equal(reason(moved), "bad_signature");
  });

  test("the library does not check the timestamp's age; zenmesh refuses it outside the tolerance", async () => {
    assert.equal(await verifyKey(COMMAND, COMMAND_SIG, TS, PUBLIC), true);
    assert.equal(reason(run(COMMAND, COMMAND_SIG, at(TS, 301))), "stale");
    assert.equal(reason(run(COMMAND, COMMAND_SIG, at(TS, -301))), "future");
  });

  test('a PING is answered {"type":1} only when its signature verifies; other interactions are events', () => {
    const handshake = SCHEMES.discord.handshake!;
    const input = (body: string, sig: string, method = "POST") => ({
      method,
      query: new URLSearchParams(),
      headers: headers(sig),
      body: Buffer.from(body),
      secrets: [PUBLIC],
      settings: {},
      now: at(TS),
      toleranceSeconds: 300,
    });
    assert.deepEqual(handshake(input(PING, PING_SIG)), {
      answer: { status: 200, headers: { "content-type": "application/json" }, body: '{"type":1}' },
    });
    // Discord sends PINGs with bad signatures on purpose and expects them refused.
    assert.deepEqual(handshake(input(PING, COMMAND_SIG)), { refused: "bad_signature" });
    assert.deepEqual(handshake(input(PING, "")), { refused: "missing_signature" });
    assert.deepEqual(handshake({ ...input(PING, PING_SIG), now: at(TS, 301) }), { refused: "stale" });
    assert.equal(handshake(input(COMMAND, COMMAND_SIG)), undefined);
    assert.equal(handshake(input("not json", PING_SIG)), undefined);
    assert.equal(handshake(input(PING, PING_SIG, "GET")), undefined);
  });

  test("the interaction id in the signed body is reported as a signed delivery id", () => {
    const r = run(COMMAND, COMMAND_SIG);
    assert.ok(r.ok, reason(r));
    assert.equal(r.value.deliveryId, "1000000000000000005");
    assert.equal(r.value.deliveryIdSigned, true);
    const p = run(PING, PING_SIG);
    assert.ok(p.ok && p.value.deliveryId === undefined, "a PING carries no id");
  });

  test("zenmesh cannot generate a Discord key, nor sign with the public key a source holds", () => {
    assert.throws(
      () => SCHEMES.discord.generateSecret(),
      (e) => isZenError(e) && e.code === "SOURCE_SECRET_REQUIRED",
    );
    assert.throws(
      () => SCHEMES.discord.sign({ secret: PUBLIC, body: Buffer.from(PING), now: at(TS) }),
      (e) => isZenError(e) && e.code === "SCHEME_CANNOT_SIGN",
    );
    // An EC key is a private key, but not Discord's.
    assert.throws(
      () =>
        SCHEMES.discord.sign({ secret: signingKeyOf(p256Secret()), body: Buffer.from(PING), now: at(TS) }),
      (e) => isZenError(e) && e.code === "SCHEME_CANNOT_SIGN",
    );
  });
});

describe("SendGrid (ECDSA P-256)", () => {
  // The entry's example: the delivery @sendgrid/eventwebhook verifies in its own
  // test suite (a real SendGrid delivery: note the body's trailing CRLF, which is signed).
  const documented = example("sendgrid");
  const PUBLIC = documented.secret;
  const SIG = documented.header("x-twilio-email-event-webhook-signature");
  const TS = documented.header("x-twilio-email-event-webhook-timestamp");
  const BODY = documented.body;
  const lib = new EventWebhook();
  const headers = (sig: string, ts = TS) => ({
    "x-twilio-email-event-webhook-signature": sig,
    "x-twilio-email-event-webhook-timestamp": ts,
  });
  const run = (sig: string, body = BODY, secret = PUBLIC, ts = TS) =>
    verify("sendgrid", {
      headers: headers(sig, ts),
      body: Buffer.from(body),
      secrets: [secret],
      now: at(ts),
    });

  test("SendGrid's example verifies, and the library agrees; the other key of the example is a key it takes", () => {
    assert.ok(BODY.endsWith("\r\n"));
    assert.equal(lib.verifySignature(lib.convertPublicKeyToECDSA(PUBLIC), BODY, SIG, TS), true);
    const other = documented.otherSecret;
    assert.ok(other !== undefined);
    assert.equal(lib.verifySignature(lib.convertPublicKeyToECDSA(other), BODY, SIG, TS), false);
    const r = run(SIG);
    assert.ok(r.ok, reason(r));
    assert.equal(reason(run(SIG, BODY.trimEnd())), "bad_signature");
    assert.equal(lib.verifySignature(lib.convertPublicKeyToECDSA(PUBLIC), BODY.trimEnd(), SIG, TS), false);
    assert.equal(reason(run(SIG, BODY, PUBLIC, "1600112503")), "bad_signature");
  });

  test("what we sign the library verifies, and the library refuses it for another body", () => {
    const secret = p256Secret();
    const body = Buffer.from('[{"event":"delivered","sg_event_id":"x"}]');
    const signed = SCHEMES.sendgrid.sign({ secret: signingKeyOf(secret), body, now: at(TS) });
    const sig = signed["x-twilio-email-event-webhook-signature"]!;
    assert.equal(signed["x-twilio-email-event-webhook-timestamp"], TS);
    assert.equal(lib.verifySignature(lib.convertPublicKeyToECDSA(secret), body, sig, TS), true);
    assert.equal(lib.verifySignature(lib.convertPublicKeyToECDSA(secret), `${body} `, sig, TS), false);
    assert.ok(run(sig, body.toString(), secret).ok);
  });

  test("the malleated twin (r, n − s) verifies as the same signature, so it is still a replay", () => {
    const der = Buffer.from(SIG, "base64");
    const { r, s } = parseEcdsaDer(der)!;
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const int = (v: bigint) => {
      let hex = v.toString(16);
      if (hex.length % 2) hex = `0${hex}`;
      const bytes = Buffer.from(hex, "hex");
      const body = bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
      return Buffer.concat([Buffer.from([0x02, body.length]), body]);
    };
    const seq = (a: Buffer, b: Buffer) => Buffer.concat([Buffer.from([0x30, a.length + b.length]), a, b]);
    const twin = seq(int(r), int(n - s)).toString("base64");
    assert.notEqual(twin, SIG);
    const a = run(SIG);
    const b = run(twin);
    assert.ok(a.ok && b.ok);
    assert.equal(a.value.signature, b.value.signature);
  });

  test("DER that is not strict is malformed: a padded integer, trailing bytes, a wrong length", () => {
    const der = Buffer.from(SIG, "base64");
    const { r, s } = parseEcdsaDer(der)!;
    assert.ok(r > 0n && s > 0n);
    const trailing = Buffer.concat([der, Buffer.from([0])]);
    assert.equal(reason(run(trailing.toString("base64"))), "malformed_signature");
    const wrongLength = Buffer.from(der);
    wrongLength[1] = wrongLength[1]! - 1;
    assert.equal(reason(run(wrongLength.toString("base64"))), "malformed_signature");
    // r with a needless leading zero: BER accepts it, DER does not.
    const rLen = der[3]!;
    const padded = Buffer.concat([Buffer.from([0x30, der[1]! + 1, 0x02, rLen + 1, 0x00]), der.subarray(4)]);
    assert.equal(reason(run(padded.toString("base64"))), "malformed_signature");
  });

  test("secrets must be P-256 public keys; zenmesh generates none and signs with none", () => {
    assert.throws(
      () => SCHEMES.sendgrid.generateSecret(),
      (e) => isZenError(e) && e.code === "SOURCE_SECRET_REQUIRED",
    );
    assert.throws(
      () => SCHEMES.sendgrid.sign({ secret: PUBLIC, body: Buffer.from(BODY), now: at(TS) }),
      (e) => isZenError(e) && e.code === "SCHEME_CANNOT_SIGN",
    );
    assert.equal(reason(run(SIG, BODY, "not a key at all")), "no_secret");
  });
});

describe("Twilio (HMAC-SHA1 over URL and sorted parameters)", () => {
  // The entry's example: the one in "Webhooks security" (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
  const documented = example("twilio");
  const TOKEN = documented.secret;
  const URL_ = documented.url!;
  const form = documented.body;
  const PARAMS = Object.fromEntries(new URLSearchParams(form));
  const DOC_SIGNATURE = documented.header("x-twilio-signature");
  const FORM = { "content-type": "application/x-www-form-urlencoded" };
  const run = (sig: string, url: string | undefined, body = form, headers: Record<string, string> = FORM) =>
    verify("twilio", {
      headers: { ...headers, "x-twilio-signature": sig },
      body: Buffer.from(body),
      secrets: [TOKEN],
      ...(url === undefined ? {} : { url }),
    });

  test("Twilio's documented example verifies, signing reproduces it, and twilio agrees", () => {
    assert.equal(twilioLib.getExpectedTwilioSignature(TOKEN, URL_, PARAMS), DOC_SIGNATURE);
    assert.deepEqual(Object.keys(PARAMS), ["CallSid", "Caller", "Digits", "From", "To"]);
    assert.equal(twilioLib.validateRequest(TOKEN, DOC_SIGNATURE, URL_, PARAMS), true);
    const r = run(DOC_SIGNATURE, URL_);
    assert.ok(r.ok, reason(r));
    assert.equal(r.value.signature, DOC_SIGNATURE);
    const signed = SCHEMES.twilio.sign({
      secret: TOKEN,
      body: Buffer.from(form),
      now: new Date(),
      url: URL_,
    });
    assert.equal(signed["x-twilio-signature"], DOC_SIGNATURE);
    // The parameters are signed sorted, so their order in the body does not matter.
    const reordered = new URLSearchParams(Object.entries(PARAMS).reverse()).toString();
    assert.ok(run(DOC_SIGNATURE, URL_, reordered).ok);
  });

  test("another parameter value, another URL, a lost query, or no URL at all fails", () => {
    assert.equal(reason(run(DOC_SIGNATURE, URL_, form.replace("1234", "1235"))), "bad_signature");
    assert.equal(reason(run(DOC_SIGNATURE, `${URL_}&x=1`)), "bad_signature");
    assert.equal(reason(run(DOC_SIGNATURE, "https://mycompany.com/myapp.php")), "bad_signature");
    assert.equal(reason(run(DOC_SIGNATURE, "https://evil.example/myapp.php?foo=1&bar=2")), "bad_signature");
    assert.equal(reason(run(DOC_SIGNATURE, undefined)), "bad_signature");
    assert.equal(
      twilioLib.validateRequest(TOKEN, DOC_SIGNATURE, "https://mycompany.com/myapp.php", PARAMS),
      false,
    );
  });

  test("a URL signed with or without its default port verifies, as twilio accepts it", () => {
    const withPort = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    const signedWithPort = twilioLib.getExpectedTwilioSignature(TOKEN, withPort, PARAMS);
    assert.equal(twilioLib.validateRequest(TOKEN, signedWithPort, URL_, PARAMS), true);
    assert.ok(run(signedWithPort, URL_).ok);
    assert.ok(run(DOC_SIGNATURE, withPort).ok);
  });

  test("a form body that is not a form, or a JSON body without bodySHA256, is refused", () => {
    assert.equal(
      reason(run(DOC_SIGNATURE, URL_, form, { "content-type": "application/json" })),
      "bad_signature",
    );
    assert.equal(reason(run(DOC_SIGNATURE, URL_, form, {})), "bad_signature");
  });

  test("repeated parameters sort as twilio sorts them", () => {
    const body = "b=2&a=z&a=y&a=z";
    const sig = twilioLib.getExpectedTwilioSignature(TOKEN, URL_, { a: ["z", "y", "z"], b: "2" });
    assert.ok(run(sig, URL_, body).ok);
    assert.equal(
      SCHEMES.twilio.sign({ secret: TOKEN, body: Buffer.from(body), now: new Date(), url: URL_ })[
        "x-twilio-signature"
      ],
      sig,
    );
  });

  test("JSON bodies: the URL's bodySHA256 is signed and must be the body's hash, as validateRequestWithBody checks", () => {
    const body = '{"property":"value","boolean":true}';
    const url = `https://mycompany.com/myapp.php?bodySHA256=${twilioLib.getExpectedBodyHash(body)}`;
    const sig = twilioLib.getExpectedTwilioSignature(TOKEN, url, {});
    assert.equal(twilioLib.validateRequestWithBody(TOKEN, sig, url, body), true);
    const json = { "content-type": "application/json" };
    assert.ok(run(sig, url, body, json).ok);
    assert.equal(
      SCHEMES.twilio.sign({ secret: TOKEN, body: Buffer.from(body), now: new Date(), url })[
        "x-twilio-signature"
      ],
      sig,
    );
    assert.equal(twilioLib.validateRequestWithBody(TOKEN, sig, url, `${body} `), false);
    assert.equal(reason(run(sig, url, `${body} `, json)), "bad_signature");
  });

  test("describe: the SID names the type, the idempotency token the delivery", () => {
    const sample = SCHEMES.twilio.provider.sample;
    const facts = SCHEMES.twilio.describe({
      headers: { "i-twilio-idempotency-token": "f7b0c3e2-1111-4aaa-8bbb-000000000000" },
      body: Buffer.from(sample.body),
      json: undefined,
    });
    assert.equal(facts.type, "com.twilio.message");
    assert.equal(facts.subject, "AC00000000000000000000000000000000");
    assert.equal(facts.idempotencyKey, "f7b0c3e2-1111-4aaa-8bbb-000000000000");
    const call = SCHEMES.twilio.describe({ headers: {}, body: Buffer.from(form), json: undefined });
    assert.equal(call.type, "com.twilio.call");
    // JSON bodies have no form fields: the type is the prefix's fallback.
    const json = SCHEMES.twilio.describe({ headers: {}, body: Buffer.from("{}"), json: {} });
    assert.equal(json.type, "com.twilio.event");
  });

  test("the idempotency token is reported as the delivery id, but not as signed: Twilio does not sign it", () => {
    const r = verify("twilio", {
      headers: { ...FORM, "x-twilio-signature": DOC_SIGNATURE, "i-twilio-idempotency-token": "tok-1" },
      body: Buffer.from(form),
      secrets: [TOKEN],
      url: URL_,
    });
    assert.ok(r.ok, reason(r));
    assert.equal(r.value.deliveryId, "tok-1");
    assert.equal(r.value.deliveryIdSigned, undefined);
  });
});

describe("Postmark (HTTP Basic auth)", () => {
  // The entry's example: RFC 7617 §2's example credentials.
  const HEADER = example("postmark").header("authorization");
  const BODY = Buffer.from(SCHEMES.postmark.provider.sample.body);
  const run = (authorization: string, secret: string, body = BODY) =>
    verify("postmark", { headers: { authorization }, body, secrets: [secret] });

  test("RFC 7617's example authenticates as user:password, or as a bare password, and sign reproduces it", () => {
    assert.ok(run(HEADER, "Aladdin:open sesame").ok);
    assert.ok(run(HEADER, "open sesame").ok);
    assert.ok(
      run(HEADER.replace("Basic", "basic"), "Aladdin:open sesame").ok,
      "the scheme name is case-insensitive",
    );
    assert.equal(
      SCHEMES.postmark.sign({ secret: "Aladdin:open sesame", body: BODY, now: new Date() }).authorization,
      HEADER,
    );
    assert.equal(reason(run(HEADER, "Aladdin:open sesamE")), "bad_signature");
    assert.equal(reason(run(HEADER, "aladdin:open sesame")), "bad_signature");
    assert.equal(reason(run(HEADER, "Aladdin")), "bad_signature");
  });

  test("not Basic, not base64, or no colon is malformed; the replay key differs by body", () => {
    assert.equal(
      reason(run("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin:open sesame")),
      "malformed_signature",
    );
    assert.equal(
      reason(run("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", "Aladdin:open sesame")),
      "malformed_signature",
    );
    const noColon = `Basic ${Buffer.from("Aladdin").toString("base64")}`;
    assert.equal(reason(run(noColon, "Aladdin:open sesame")), "malformed_signature");
    const a = run(HEADER, "open sesame");
    const b = run(HEADER, "open sesame", Buffer.from("{}"));
    assert.ok(a.ok && b.ok);
    assert.notEqual(a.value.signature, b.value.signature);
  });

  test("a generated secret is user:password, and what it signs authenticates", () => {
    const secret = SCHEMES.postmark.generateSecret();
    assert.match(secret, /^postmark:[A-Za-z0-9_-]{43}$/);
    const signed = SCHEMES.postmark.sign({ secret, body: BODY, now: new Date() });
    assert.ok(run(signed.authorization!, secret).ok);
    assert.notEqual(SCHEMES.postmark.generateSecret(), secret);
  });
});

for (const name of ["clerk", "resend"] as const) {
  describe(`${name} (Standard Webhooks under svix-* headers)`, () => {
    // Svix's documented example (https://docs.svix.com/receiving/verifying-payloads/how-manual),
    // the first Standard Webhooks case of the repository's vectors.
    const c = vectors.standard_webhooks.cases[0] as {
      secret: string;
      id: string;
      timestamp: string;
      body: string;
      signature: string;
    };
    const svixHeaders = (id: string, ts: string, sig: string) => ({
      "svix-id": id,
      "svix-timestamp": ts,
      "svix-signature": sig,
    });

    test("the entry's example is Svix's, as the repository's shared vectors hold it, and signing reproduces it", () => {
      const documented = example(name);
      assert.equal(documented.secret, c.secret);
      assert.equal(documented.body, c.body);
      assert.deepEqual(documented.headers, {
        "content-type": "application/json",
        ...svixHeaders(c.id, c.timestamp, c.signature),
      });
      assert.deepEqual(new Date(documented.now), at(c.timestamp));
      // The example's other secret is one svix takes, and not the one that signs (svix checks the clock: signed now).
      const now = new Date();
      const fresh = svixHeaders(c.id, String(Math.floor(now.getTime() / 1000)), "");
      fresh["svix-signature"] = new Webhook(c.secret).sign(c.id, now, c.body);
      assert.doesNotThrow(() => new Webhook(c.secret).verify(c.body, fresh));
      assert.throws(() => new Webhook(documented.otherSecret!).verify(c.body, fresh), /signature/i);
      const r = verify(name, {
        headers: svixHeaders(c.id, c.timestamp, c.signature),
        body: Buffer.from(c.body),
        secrets: [c.secret],
        now: at(c.timestamp),
      });
      assert.ok(r.ok, reason(r));
      assert.equal(r.value.deliveryId, c.id);
      const signed = SCHEMES[name].sign({
        secret: c.secret,
        body: Buffer.from(c.body),
        now: at(c.timestamp),
        id: c.id,
      });
      assert.deepEqual(signed, svixHeaders(c.id, c.timestamp, c.signature));
    });

    test("svix verifies what we sign, and we verify what svix signs", () => {
      const secret = SCHEMES[name].generateSecret();
      const body = SCHEMES[name].provider.sample.body;
      const now = new Date();
      const ours = SCHEMES[name].sign({ secret, body: Buffer.from(body), now, id: "msg_2c8Jz6a5hQ1" });
      assert.doesNotThrow(() => new Webhook(secret).verify(body, ours));
      assert.throws(() => new Webhook(secret).verify(`${body} `, ours));
      const theirs = new Webhook(secret).sign("msg_2c8Jz6a5hQ2", now, body);
      const ts = String(Math.floor(now.getTime() / 1000));
      const r = verify(name, {
        headers: svixHeaders("msg_2c8Jz6a5hQ2", ts, theirs),
        body: Buffer.from(body),
        secrets: [secret],
        now,
      });
      assert.ok(r.ok, reason(r));
    });

    test("webhook-* headers are not read for a Svix provider", () => {
      const signed = SCHEMES["standard-webhooks"].sign({
        secret: c.secret,
        body: Buffer.from(c.body),
        now: at(c.timestamp),
        id: c.id,
      });
      const r = verify(name, {
        headers: signed,
        body: Buffer.from(c.body),
        secrets: [c.secret],
        now: at(c.timestamp),
      });
      assert.equal(reason(r), "missing_signature");
    });

    test("describe: the body's type under the provider's prefix, svix-id as delivery and idempotency key", () => {
      const body = SCHEMES[name].provider.sample.body;
      const facts = SCHEMES[name].describe({
        headers: { "svix-id": "msg_1" },
        body: Buffer.from(body),
        json: JSON.parse(body),
      });
      assert.equal(facts.type, name === "clerk" ? "com.clerk.user.created" : "com.resend.email.sent");
      assert.equal(facts.deliveryId, "msg_1");
      assert.equal(facts.idempotencyKey, "msg_1");
    });
  });
}

describe("Mailchimp Transactional (Mandrill)", () => {
  // The entry's examples (computed with openssl: Mailchimp publishes no signed
  // example and no library that verifies).
  const documented = example("mandrill", 0);
  const check = example("mandrill", 1);
  const URL_ = documented.url!;
  const KEY = documented.secret;
  const EVENTS = new URLSearchParams(documented.body).get("mandrill_events")!;
  const SIG = documented.header("x-mandrill-signature");
  const TEST_SIG = check.header("x-mandrill-signature");
  const FORM = { "content-type": "application/x-www-form-urlencoded" };
  const body = (events: string) => Buffer.from(new URLSearchParams({ mandrill_events: events }).toString());
  const run = (sig: string, events = EVENTS, url = URL_, secrets = [KEY]) =>
    verify("mandrill", {
      headers: { ...FORM, "x-mandrill-signature": sig },
      body: body(events),
      secrets,
      url,
    });

  test("the computed example verifies and signing reproduces it; the URL is signed exactly, port and all", () => {
    const r = run(SIG);
    assert.ok(r.ok, reason(r));
    assert.equal(
      SCHEMES.mandrill.sign({ secret: KEY, body: body(EVENTS), now: new Date(), url: URL_ })[
        "x-mandrill-signature"
      ],
      SIG,
    );
    assert.equal(reason(run(SIG, EVENTS.replace("send", "open"))), "bad_signature");
    assert.equal(reason(run(SIG, EVENTS, "https://example.com/webhooks/mandrill")), "bad_signature");
    assert.equal(check.secret, "test-webhook");
    assert.equal(check.body, body("[]").toString());
  });

  test("Mandrill's URL check (mandrill_events=[] signed with test-webhook) is answered 200, nothing else is", () => {
    const handshake = SCHEMES.mandrill.handshake!;
    const input = (b: Buffer, sig: string, url = URL_) => ({
      method: "POST",
      query: new URLSearchParams(),
      headers: { ...FORM, "x-mandrill-signature": sig },
      body: b,
      secrets: [KEY],
      settings: {},
      now: new Date(),
      toleranceSeconds: 300,
      url,
    });
    assert.deepEqual(handshake(input(body("[]"), TEST_SIG)), {
      answer: { status: 200, headers: { "content-type": "text/plain" }, body: "ok" },
    });
    // The generic key signs only the empty check: real events signed with it are not answered,
    // and verification with the source's key refuses them.
    const forged = SCHEMES.mandrill.sign({
      secret: "test-webhook",
      body: body(EVENTS),
      now: new Date(),
      url: URL_,
    });
    assert.equal(handshake(input(body(EVENTS), forged["x-mandrill-signature"]!)), undefined);
    assert.equal(reason(run(forged["x-mandrill-signature"]!)), "bad_signature");
    assert.equal(handshake(input(body("[]"), TEST_SIG, "https://elsewhere.example/")), undefined);
    assert.equal(handshake(input(Buffer.from("mandrill_events=%5B%5D&x=1"), TEST_SIG)), undefined);
    assert.equal(handshake({ ...input(body("[]"), TEST_SIG), method: "HEAD" }), undefined);
  });
});
