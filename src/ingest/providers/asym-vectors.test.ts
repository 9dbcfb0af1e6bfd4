/**
 * Known answers for the asymmetric and special providers, each from the
 * provider's documentation where it publishes an example (Twilio, Svix) or
 * from the specification the provider follows (RFC 8032's key for Discord,
 * RFC 7617's credentials for Postmark), and the provider's own npm library as
 * an independent oracle: what we sign it verifies, what it signs we verify,
 * and it refuses what we refuse.
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
import { p256Secret, signingKeyOf } from "./keys.test-support.ts";

const reason = (r: VerifyResult) => (r.ok ? "ok" : r.reason);
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
  // RFC 8032 §7.1 TEST 1's key pair; Discord publishes no signed example, so
  // the signatures below were computed with it from Discord's documented
  // algorithm (Ed25519 over timestamp + body) and are checked by Discord's
  // own library. Ed25519 is deterministic: the same input, the same signature.
  const PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  const PRIVATE =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
  const TS = "1700000000";
  const PING = '{"type":1}';
  const PING_SIG =
    "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f";
  const COMMAND =
    '{"application_id":"1000000000000000001","id":"1000000000000000005","type":2,"data":{"name":"ping"}}';
  const COMMAND_SIG =
    "dcac1106a163c4a6b1cf5257c447b114a15bb402ebc125005ec3ae7a033d50764c7d4829cbb871f16acd75a6e1f305f3988704e550d2913dc636d55f0b307b08";
  const headers = (sig: string, ts = TS) => ({ "x-signature-ed25519": sig, "x-signature-timestamp": ts });
  const run = (body: string, sig: string, now = at(TS)) =>
    verify("discord", { headers: headers(sig), body: Buffer.from(body), secrets: [PUBLIC], now });

  test("the vectors verify, signing reproduces them, and discord-interactions agrees", async () => {
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

  test("describe names the interaction type and takes its id", () => {
    const facts = SCHEMES.discord.describe({
      headers: {},
      body: Buffer.from(COMMAND),
      json: JSON.parse(COMMAND),
    });
    assert.equal(facts.type, "com.discord.application_command");
    assert.equal(facts.deliveryId, "1000000000000000005");
    assert.equal(facts.idempotencyKey, "1000000000000000005");
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
  // The example @sendgrid/eventwebhook verifies in its own test suite (a real
  // SendGrid delivery: note the body's trailing CRLF, which is signed).
  const PUBLIC =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
  const SIG =
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
  const TS = "1600112502";
  const BODY =
    '[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n';
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

  test("SendGrid's example verifies, and the library agrees", () => {
    assert.equal(lib.verifySignature(lib.convertPublicKeyToECDSA(PUBLIC), BODY, SIG, TS), true);
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
  // The example in "Webhooks security" (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
  const TOKEN = "12345";
  const URL_ = "https://mycompany.com/myapp.php?foo=1&bar=2";
  const PARAMS = {
    CallSid: "CA1234567890ABCDE",
    Caller: "+12349013030",
    Digits: "1234",
    From: "+12349013030",
    To: "+18005551212",
  };
  const DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
  const FORM = { "content-type": "application/x-www-form-urlencoded" };
  const form = new URLSearchParams(PARAMS).toString();
  const run = (sig: string, url: string | undefined, body = form, headers: Record<string, string> = FORM) =>
    verify("twilio", {
      headers: { ...headers, "x-twilio-signature": sig },
      body: Buffer.from(body),
      secrets: [TOKEN],
      ...(url === undefined ? {} : { url }),
    });

  test("Twilio's documented example verifies, signing reproduces it, and twilio agrees", () => {
    assert.equal(twilioLib.getExpectedTwilioSignature(TOKEN, URL_, PARAMS), DOC_SIGNATURE);
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
  });
});

describe("Postmark (HTTP Basic auth)", () => {
  // RFC 7617 §2's example credentials.
  const HEADER = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
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

  test("describe: the RecordType names the event", () => {
    const facts = SCHEMES.postmark.describe({ headers: {}, body: BODY, json: JSON.parse(BODY.toString()) });
    assert.equal(facts.type, "com.postmark.Delivery");
    assert.equal(facts.subject, "00000000-0000-0000-0000-000000000000");
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

    test("Svix's example verifies with the clock at its timestamp, and signing reproduces it", () => {
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
  // Mailchimp publishes the algorithm, no signed example and no library that
  // verifies; these signatures were computed apart from zenmesh, with
  // `printf '%s%s%s' "$URL" mandrill_events "$EVENTS" | openssl dgst -sha1 -hmac "$KEY" -binary | base64`.
  const URL_ = "https://example.com/webhooks/mandrill?source=zen";
  const KEY = "Ka8sLkDZfmbIRdBQUuT0uQ";
  const EVENTS =
    '[{"event":"send","_id":"exampleaaaaaaaaaaaaaaaaaaaaaaaaa","msg":{"ts":1365109999,"subject":"This an example webhook message","email":"example.webhook@mandrillapp.com","state":"sent"},"ts":1700000000}]';
  const SIG = "d32j3VkmvT6pHfxFvZghpjNbfcQ=";
  const TEST_SIG = "kuTOY9ujiH4Um0sSDppslQCwRcM=";
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
    // Unlike Twilio, Mandrill signs the URL as entered: another port form is another URL.
    assert.equal(
      reason(run(SIG, EVENTS, "https://example.com:443/webhooks/mandrill?source=zen")),
      "bad_signature",
    );
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

  test("describe: one batch of events", () => {
    const facts = SCHEMES.mandrill.describe({ headers: FORM, body: body(EVENTS), json: undefined });
    assert.equal(facts.type, "com.mandrill.events");
  });
});
