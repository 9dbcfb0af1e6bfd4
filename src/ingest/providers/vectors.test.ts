/**
 * Known answers for the HMAC-signed providers, checked against the providers'
 * own libraries where they publish one (Paddle's SDK, Razorpay's SDK) and
 * against libraries of the same construction otherwise (Stripe's for
 * Calendly's `t=…,v1=…`, GitHub's Octokit for Bitbucket's and Jira's
 * `sha256=<hex>`), plus the provider-specific refusals the shared suites do
 * not reach (a signed URL, a timestamp inside the body, rotation headers).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { verify as octokitVerify } from "@octokit/webhooks-methods";
import { NodeRuntime, Webhooks as PaddleWebhooks } from "@paddle/paddle-node-sdk";
import razorpaySdk from "razorpay";
import Stripe from "stripe";
import { SCHEMES } from "../schemes/index.ts";
import type { SchemeName, VerifyInput, VerifyResult } from "../types.ts";
import { entryOf } from "./entry.ts";

const reason = (r: VerifyResult) => (r.ok ? "ok" : r.reason);
const example = (name: SchemeName, i = 0) => {
  const e = entryOf(SCHEMES[name])?.examples[i];
  assert.ok(e, `${name} has example ${i}`);
  return e;
};

function verify(name: SchemeName, input: Partial<VerifyInput> & Pick<VerifyInput, "headers" | "body">) {
  return SCHEMES[name].verify({
    secrets: [],
    settings: {},
    now: new Date(),
    toleranceSeconds: 300,
    ...input,
  });
}

/** An example as verify input. */
function asInput(name: SchemeName, i = 0): Partial<VerifyInput> & Pick<VerifyInput, "headers" | "body"> {
  const e = example(name, i);
  return {
    headers: e.headers,
    body: Buffer.from(e.body),
    secrets: [e.secret],
    now: new Date(e.now),
    ...(e.url === undefined ? {} : { url: e.url }),
  };
}

test("signing each example's body at the example's signed time reproduces the example's signature header", () => {
  const signedAt: Partial<Record<SchemeName, Date>> = {
    paddle: new Date(1772366398 * 1000),
    calendly: new Date(1772366399 * 1000),
    hubspot: new Date(1772366399500),
    zendesk: new Date("2021-07-25T10:00:00Z"),
    webflow: new Date(1772366399000),
    mux: new Date(1772366399 * 1000),
  };
  for (const [name, scheme] of Object.entries(SCHEMES) as [SchemeName, (typeof SCHEMES)[SchemeName]][]) {
    const entry = entryOf(scheme);
    if (entry?.engine !== "hmac") continue;
    const e = entry.examples[0]!;
    const signatureHeader = Object.keys(
      scheme.sign({ secret: "k", body: Buffer.alloc(0), now: new Date(e.now), url: "https://x.test/" }),
    ).find((h) => e.headers[h]?.length && /sign|hmac|hub-signature/.test(h));
    assert.ok(signatureHeader, name);
    const headers = scheme.sign({
      secret: e.secret,
      body: Buffer.from(e.body),
      now: signedAt[name] ?? new Date(e.now),
      ...(e.url === undefined ? {} : { url: e.url }),
    });
    assert.equal(headers[signatureHeader], e.headers[signatureHeader], name);
  }
});

test("Paddle: the SDK accepts what zenmesh signs, and zenmesh accepts the SDK-verified header", async () => {
  const e = example("paddle");
  // What `new Paddle(apiKey)` does first: the SDK's webhook helper needs Node's crypto registered.
  NodeRuntime.initialize();
  const sdk = new PaddleWebhooks();
  // The SDK refuses a ts more than 5 s old against the real clock, so sign now.
  const now = new Date();
  const headers = SCHEMES.paddle.sign({ secret: e.secret, body: Buffer.from(e.body), now });
  assert.equal(await sdk.isSignatureValid(e.body, e.secret, headers["paddle-signature"]!), true);
  assert.equal(await sdk.isSignatureValid(e.body, `${e.secret}x`, headers["paddle-signature"]!), false);
  const r = verify("paddle", { headers, body: Buffer.from(e.body), secrets: [e.secret], now });
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.deliveryId, "ntf_01hv8x2z4wv3b1c2d3e4f5g6h7");
  assert.equal(r.value.deliveryIdSigned, true);
});

test("Paddle: several h1 while a secret key is rotated; a repeated ts or a v1 key is malformed", () => {
  const input = asInput("paddle");
  const header = input.headers["paddle-signature"]!;
  const [ts, h1] = header.split(";");
  const other = `h1=${"ab".repeat(32)}`;
  assert.ok(verify("paddle", { ...input, headers: { "paddle-signature": `${ts};${other};${h1}` } }).ok);
  for (const bad of [`${ts};${ts};${h1}`, `${ts},${h1}`, `${ts}; ${h1}`]) {
    assert.equal(
      reason(verify("paddle", { ...input, headers: { "paddle-signature": bad } })),
      "malformed_signature",
    );
  }
  assert.equal(
    reason(verify("paddle", { ...input, headers: { "paddle-signature": `${ts};v1=${h1!.slice(3)}` } })),
    "malformed_signature",
  );
  assert.equal(reason(verify("paddle", { ...input, now: new Date(1772366398_000 + 301_000) })), "stale");
});

test("Razorpay: validateWebhookSignature agrees with the example and with what zenmesh signs", () => {
  const e = example("razorpay");
  const validate = (
    razorpaySdk as unknown as { validateWebhookSignature: (b: string, s: string, k: string) => boolean }
  ).validateWebhookSignature;
  assert.equal(validate(e.body, e.headers["x-razorpay-signature"]!, e.secret), true);
  const signed = SCHEMES.razorpay.sign({
    secret: "another-secret",
    body: Buffer.from(e.body),
    now: new Date(),
  });
  assert.equal(validate(e.body, signed["x-razorpay-signature"]!, "another-secret"), true);
  assert.equal(validate(e.body, signed["x-razorpay-signature"]!, e.secret), false);
});

test("Calendly and Mux: Stripe's library (the same t=…,v1=… construction) and zenmesh accept each other's headers", () => {
  const stripe = new Stripe("sk_test_unused");
  for (const [name, header] of [
    ["calendly", "calendly-webhook-signature"],
    ["mux", "mux-signature"],
  ] as const) {
    const e = example(name);
    const timestamp = 1772366399;
    const made = stripe.webhooks.generateTestHeaderString({ payload: e.body, secret: e.secret, timestamp });
    assert.equal(made, e.headers[header], name);
    const ours = SCHEMES[name].sign({ secret: e.secret, body: Buffer.from(e.body), now: new Date() });
    assert.equal(stripe.webhooks.signature?.verifyHeader(e.body, ours[header]!, e.secret), true, name);
  }
});

test("Bitbucket, Jira and Gitea: GitHub's Octokit (the same sha256=<hex> construction) verifies the examples and what zenmesh signs", async () => {
  for (const name of ["bitbucket", "jira"] as const) {
    const e = example(name);
    assert.equal(await octokitVerify(e.secret, e.body, e.headers["x-hub-signature"]!), true, name);
    const ours = SCHEMES[name].sign({ secret: e.secret, body: Buffer.from(e.body), now: new Date() });
    assert.equal(await octokitVerify(e.secret, e.body, ours["x-hub-signature"]!), true, name);
  }
  // Gitea signs the same HMAC without the `sha256=` prefix.
  const e = example("gitea");
  assert.equal(await octokitVerify(e.secret, e.body, `sha256=${e.headers["x-gitea-signature"]}`), true);
});

test("Intercom and Vercel sign with HMAC-SHA1: a SHA-256 MAC in its place is malformed, the SHA-1 one is the example's", () => {
  for (const [name, header, prefix] of [
    ["intercom", "x-hub-signature", "sha1="],
    ["vercel", "x-vercel-signature", ""],
  ] as const) {
    const e = example(name);
    const sha1 = createHmac("sha1", e.secret).update(e.body).digest("hex");
    assert.equal(e.headers[header], `${prefix}${sha1}`);
    const sha256 = createHmac("sha256", e.secret).update(e.body).digest("hex");
    const r = verify(name, { ...asInput(name), headers: { [header]: `${prefix}${sha256}` } });
    assert.equal(reason(r), "malformed_signature", name);
  }
});

test("Square and HubSpot sign the URL called: another URL is refused, and no URL at all is refused", () => {
  for (const name of ["square", "hubspot"] as const) {
    const input = asInput(name);
    assert.ok(verify(name, input).ok, name);
    assert.equal(reason(verify(name, { ...input, url: `${input.url}?x=1` })), "bad_signature", name);
    const { url: _url, ...withoutUrl } = input;
    assert.equal(reason(verify(name, withoutUrl)), "bad_signature", name);
    assert.throws(() => SCHEMES[name].sign({ secret: "k", body: Buffer.from("{}"), now: new Date() }), /URL/);
  }
});

test("HubSpot: the millisecond timestamp is signed and checked against the window", () => {
  const input = asInput("hubspot");
  const ts = "x-hubspot-request-timestamp";
  const moved = { ...input.headers, [ts]: "1772366399501" };
  assert.equal(reason(verify("hubspot", { ...input, headers: moved })), "bad_signature");
  assert.equal(reason(verify("hubspot", { ...input, now: new Date(1772366399500 + 301_000) })), "stale");
  assert.equal(reason(verify("hubspot", { ...input, now: new Date(1772366399500 - 302_000) })), "future");
  const { [ts]: _gone, ...without } = input.headers;
  assert.equal(reason(verify("hubspot", { ...input, headers: without })), "missing_timestamp");
});

test("Linear: webhookTimestamp in the signed body is required, strict, and checked against the window", () => {
  const e = example("linear");
  const secret = e.secret;
  const signedBody = (body: string) => ({
    headers: SCHEMES.linear.sign({ secret, body: Buffer.from(body), now: new Date(e.now) }),
    body: Buffer.from(body),
    secrets: [secret],
    now: new Date(e.now),
  });
  const at = new Date(e.now).getTime();
  assert.ok(verify("linear", signedBody(`{"webhookTimestamp":${at}}`)).ok);
  assert.equal(reason(verify("linear", signedBody(`{"webhookTimestamp":${at - 301_000}}`))), "stale");
  assert.equal(reason(verify("linear", signedBody(`{"webhookTimestamp":${at + 301_000}}`))), "future");
  assert.equal(reason(verify("linear", signedBody('{"type":"Issue"}'))), "missing_timestamp");
  assert.equal(reason(verify("linear", signedBody("not json"))), "missing_timestamp");
  for (const bad of [`"${at}"`.replace(/^"/, '"x'), `${at}.5`, "-1", "true"]) {
    assert.equal(
      reason(verify("linear", signedBody(`{"webhookTimestamp":${bad}}`))),
      "malformed_signature",
      bad,
    );
  }
});

test("base64 providers refuse a non-canonical MAC that decodes to the same bytes", () => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (const [name, header, prefix] of [
    ["typeform", "typeform-signature", "sha256="],
    ["woocommerce", "x-wc-webhook-signature", ""],
    ["square", "x-square-hmacsha256-signature", ""],
  ] as const) {
    const input = asInput(name);
    const mac = input.headers[header]!.slice(prefix.length);
    const last = mac.at(-2)!;
    const twin = `${mac.slice(0, -2)}${alphabet[alphabet.indexOf(last) ^ 1]}=`;
    assert.deepEqual(Buffer.from(twin, "base64"), Buffer.from(mac, "base64"));
    for (const variant of [twin, mac.slice(0, -1), Buffer.from(mac, "base64").toString("base64url")]) {
      const r = verify(name, { ...input, headers: { ...input.headers, [header]: `${prefix}${variant}` } });
      assert.equal(reason(r), "malformed_signature", `${name} ${variant}`);
    }
  }
});

test("unsigned ids are replay keys but never marked signed; ids read from the signed body are", () => {
  const woo = verify("woocommerce", asInput("woocommerce"));
  assert.ok(woo.ok);
  assert.equal(woo.value.deliveryId, "4f2c6e1bb9d80b3a");
  assert.equal(woo.value.deliveryIdSigned, undefined);
  const typeform = verify("typeform", asInput("typeform"));
  assert.ok(typeform.ok);
  assert.equal(typeform.value.deliveryId, "01HQ7Z8X9Y0A1B2C3D4E5F6G7H");
  assert.equal(typeform.value.deliveryIdSigned, true);
});
