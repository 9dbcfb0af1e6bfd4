/**
 * Property tests for the signature-header parsers: the strict decoders in
 * common.ts round-trip with Node's encoders and accept only canonical text;
 * every scheme's verify never throws on any header map (it answers a
 * failure value), a signature it makes for any body, time and id verifies
 * and carries them back, and no edit of a valid signature header yields a
 * second accepted signature string for the same content (so "the same
 * signature seen twice" cannot be dodged by re-encoding it).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ed25519Secret, p256Secret, signingKeyOf } from "../providers/keys.test-support.ts";
import type { SchemeName, VerifyInput } from "../types.ts";
import {
  decodeBase64,
  decodeBase64Url,
  decodeHex,
  parseKeyValueList,
  parseUnixSeconds,
  readHeader,
} from "./common.ts";
import { SCHEMES, type SchemeSettings, type SignatureScheme } from "./index.ts";
import { generateStandardWebhooksSecret } from "./standard-webhooks.ts";

const RUNS = 200;
const TOLERANCE = 300;
const NOW = new Date("2026-06-01T00:00:00Z");

describe("the strict decoders", () => {
  test("hex: any bytes round-trip, in either case; the result is the lower-case text; nothing throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.boolean(), (raw, upper) => {
        const hex = Buffer.from(raw).toString("hex");
        const text = upper ? hex.toUpperCase() : hex;
        assert.deepEqual(decodeHex(text, raw.length), Buffer.from(raw));
        assert.equal(decodeHex(text, raw.length + 1), undefined, "a wrong length is refused");
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 130 }), fc.nat(65), (s, n) => {
        const r = decodeHex(s, n);
        if (r !== undefined) assert.equal(r.toString("hex"), s.toLowerCase());
      }),
      { numRuns: RUNS },
    );
  });

  test("base64 and base64url: any bytes round-trip; only the canonical text decodes; nothing throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (raw) => {
        const b = Buffer.from(raw);
        if (b.length > 0) assert.deepEqual(decodeBase64(b.toString("base64")), b);
        assert.deepEqual(decodeBase64(b.toString("base64"), b.length) ?? Buffer.alloc(0), b);
        assert.deepEqual(decodeBase64Url(b.toString("base64url"), b.length) ?? Buffer.alloc(0), b);
      }),
      { numRuns: RUNS },
    );
    const b64ish = fc.stringMatching(/^[A-Za-z0-9+/=_-]{0,48}$/);
    fc.assert(
      fc.property(fc.oneof(b64ish, fc.string({ unit: "binary", maxLength: 60 })), fc.nat(40), (s, n) => {
        const a = decodeBase64(s);
        if (a !== undefined) assert.equal(a.toString("base64"), s, "only canonical base64 decodes");
        const u = decodeBase64Url(s, n);
        if (u !== undefined) assert.equal(u.toString("base64url"), s, "only canonical base64url decodes");
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test("unix seconds: digits only, up to 12, round-trip; anything else is undefined, never an exception", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999 }), (n) => {
        assert.equal(parseUnixSeconds(String(n)), n);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 20 }), (s) => {
        const r = parseUnixSeconds(s);
        assert.equal(r !== undefined, /^[0-9]{1,12}$/.test(s), JSON.stringify(s));
      }),
      { numRuns: RUNS },
    );
  });

  test("key=value lists: what is formatted parses back; garbage is undefined, never an exception", () => {
    const item = fc.tuple(fc.stringMatching(/^[a-z0-9]{1,16}$/), fc.stringMatching(/^[\x21-\x7e]{1,40}$/));
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 16 }), (items) => {
        // A comma inside a value would split it: the format has no escaping, so values never hold one.
        const clean = items.map(([k, v]) => [k, v.replaceAll(",", ".")] as [string, string]);
        const header = clean.map(([k, v]) => `${k}=${v}`).join(",");
        assert.deepEqual(parseKeyValueList(header, 16), clean);
        if (clean.length > 1) assert.equal(parseKeyValueList(header, clean.length - 1), undefined);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), fc.nat(20), (s, max) => {
        const r = parseKeyValueList(s, max);
        if (r !== undefined) assert.ok(r.length <= max);
      }),
      { numRuns: RUNS },
    );
  });

  test("readHeader reads own string properties only, capped, and never throws", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ maxLength: 12 }),
          fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        ),
        fc.string({ maxLength: 12 }),
        fc.nat(50),
        (headers, name, max) => {
          const r = readHeader(headers, name, max);
          const v = Object.hasOwn(headers, name) ? headers[name] : undefined;
          if (r.kind === "value") assert.equal(r.value, v);
          if (r.kind === "absent") assert.ok(v === undefined || v === "");
          if (r.kind === "oversized") assert.ok(v !== undefined && v.length > max);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

interface Case {
  label: string;
  scheme: SignatureScheme;
  settings: SchemeSettings;
  secret: () => string;
  /** The header that carries the signature; absent when the proof travels in the body (signBody). */
  signatureHeader?: string;
  /** Other headers the scheme reads, to fill with garbage. */
  reads: string[];
  /** The id `sign` is given comes back as the delivery id. */
  id?: fc.Arbitrary<string>;
  timestamped: boolean;
  /** For public-key schemes: the private key that signs for a secret (the public key the source holds). */
  signingKey?: (secret: string) => string;
  /** The URL the provider calls, for schemes that sign it (Twilio, Mandrill, Square, HubSpot). */
  url?: string;
  /** The body as the provider would shape it around any bytes, for schemes that read a signed field of it. */
  shape?: (bytes: Buffer, now: Date) => Buffer;
}

const uuidish = fc.uuid();
const nonce = fc.stringMatching(/^[A-Za-z0-9_-]{22,64}$/);
const msgId = fc.stringMatching(/^msg_[A-Za-z0-9]{1,40}$/);

const base = (name: SchemeName) => ({
  label: name,
  scheme: SCHEMES[name],
  settings: {},
  secret: () => SCHEMES[name].generateSecret(),
});

const PER_SCHEME: Record<SchemeName, Case> = {
  github: {
    ...base("github"),
    signatureHeader: "x-hub-signature-256",
    reads: ["x-github-delivery", "x-github-event"],
    id: uuidish,
    timestamped: false,
  },
  gitlab: {
    ...base("gitlab"),
    label: "gitlab (secret token)",
    signatureHeader: "x-gitlab-token",
    reads: ["webhook-signature", "webhook-id", "x-gitlab-event-uuid", "x-gitlab-event"],
    id: uuidish,
    timestamped: false,
  },
  stripe: { ...base("stripe"), signatureHeader: "stripe-signature", reads: [], timestamped: true },
  slack: {
    ...base("slack"),
    signatureHeader: "x-slack-signature",
    reads: ["x-slack-request-timestamp"],
    timestamped: true,
  },
  shopify: {
    ...base("shopify"),
    signatureHeader: "x-shopify-hmac-sha256",
    reads: ["shopify-hmac-sha256", "x-shopify-webhook-id", "x-shopify-topic"],
    id: uuidish,
    timestamped: false,
  },
  "standard-webhooks": {
    ...base("standard-webhooks"),
    signatureHeader: "webhook-signature",
    reads: ["webhook-id", "webhook-timestamp"],
    id: msgId,
    timestamped: true,
  },
  "generic-hmac": {
    ...base("generic-hmac"),
    label: "generic-hmac (sha512, base64, prefix, timestamp and id signed)",
    settings: {
      header: "x-sig",
      algorithm: "sha512",
      encoding: "base64",
      prefix: "v1=",
      timestampHeader: "x-ts",
      idHeader: "x-id",
      template: "{id}:{timestamp}:{body}",
    },
    signatureHeader: "x-sig",
    reads: ["x-ts", "x-id"],
    id: uuidish,
    timestamped: true,
  },
  zenmesh: {
    ...base("zenmesh"),
    signatureHeader: "x-zen-signature",
    reads: ["x-zen-event-type"],
    id: nonce,
    timestamped: true,
  },
  // Asymmetric and special providers.
  discord: {
    ...base("discord"),
    secret: ed25519Secret,
    signingKey: signingKeyOf,
    signatureHeader: "x-signature-ed25519",
    reads: ["x-signature-timestamp"],
    timestamped: true,
  },
  sendgrid: {
    ...base("sendgrid"),
    secret: p256Secret,
    signingKey: signingKeyOf,
    signatureHeader: "x-twilio-email-event-webhook-signature",
    reads: ["x-twilio-email-event-webhook-timestamp"],
    timestamped: true,
  },
  twilio: {
    ...base("twilio"),
    url: "https://hooks.example.com:8443/e/src_twilio?a=1&b=%20",
    signatureHeader: "x-twilio-signature",
    reads: ["content-type", "i-twilio-idempotency-token"],
    timestamped: false,
  },
  postmark: { ...base("postmark"), signatureHeader: "authorization", reads: [], timestamped: false },
  clerk: {
    ...base("clerk"),
    signatureHeader: "svix-signature",
    reads: ["svix-id", "svix-timestamp", "webhook-signature", "webhook-id", "webhook-timestamp"],
    id: msgId,
    timestamped: true,
  },
  resend: {
    ...base("resend"),
    signatureHeader: "svix-signature",
    reads: ["svix-id", "svix-timestamp"],
    id: msgId,
    timestamped: true,
  },
  mandrill: {
    ...base("mandrill"),
    url: "https://hooks.example.com/e/src_mandrill?a=1",
    signatureHeader: "x-mandrill-signature",
    reads: ["content-type"],
    timestamped: false,
  },
  // Providers as entries over the HMAC engine.
  paddle: { ...base("paddle"), signatureHeader: "paddle-signature", reads: [], timestamped: true },
  "lemon-squeezy": {
    ...base("lemon-squeezy"),
    signatureHeader: "x-signature",
    reads: [],
    timestamped: false,
  },
  square: {
    ...base("square"),
    signatureHeader: "x-square-hmacsha256-signature",
    reads: [],
    url: "https://hooks.example.com/e/src_square",
    timestamped: false,
  },
  razorpay: {
    ...base("razorpay"),
    signatureHeader: "x-razorpay-signature",
    reads: ["x-razorpay-event-id"],
    id: uuidish,
    timestamped: false,
  },
  "coinbase-commerce": {
    ...base("coinbase-commerce"),
    signatureHeader: "x-cc-webhook-signature",
    reads: [],
    timestamped: false,
  },
  linear: {
    ...base("linear"),
    signatureHeader: "linear-signature",
    reads: ["linear-delivery"],
    id: uuidish,
    timestamped: true,
    shape: (bytes, now) =>
      Buffer.from(JSON.stringify({ data: bytes.toString("base64"), webhookTimestamp: now.getTime() })),
  },
  intercom: { ...base("intercom"), signatureHeader: "x-hub-signature", reads: [], timestamped: false },
  hubspot: {
    ...base("hubspot"),
    signatureHeader: "x-hubspot-signature-v3",
    reads: ["x-hubspot-request-timestamp"],
    url: "https://hooks.example.com/e/src_hubspot",
    timestamped: true,
  },
  typeform: { ...base("typeform"), signatureHeader: "typeform-signature", reads: [], timestamped: false },
  calendly: {
    ...base("calendly"),
    signatureHeader: "calendly-webhook-signature",
    reads: [],
    timestamped: true,
  },
  bitbucket: {
    ...base("bitbucket"),
    signatureHeader: "x-hub-signature",
    reads: ["x-request-uuid", "x-event-key"],
    id: uuidish,
    timestamped: false,
  },
  sentry: {
    ...base("sentry"),
    signatureHeader: "sentry-hook-signature",
    reads: ["request-id", "sentry-hook-resource"],
    id: uuidish,
    timestamped: false,
  },
  vercel: { ...base("vercel"), signatureHeader: "x-vercel-signature", reads: [], timestamped: false },
  woocommerce: {
    ...base("woocommerce"),
    signatureHeader: "x-wc-webhook-signature",
    reads: ["x-wc-webhook-delivery-id", "x-wc-webhook-topic"],
    id: uuidish,
    timestamped: false,
  },
  jira: {
    ...base("jira"),
    signatureHeader: "x-hub-signature",
    reads: ["x-atlassian-webhook-identifier"],
    id: uuidish,
    timestamped: false,
  },
  zendesk: {
    ...base("zendesk"),
    signatureHeader: "x-zendesk-webhook-signature",
    reads: ["x-zendesk-webhook-signature-timestamp", "x-zendesk-webhook-invocation-id"],
    id: uuidish,
    timestamped: true,
  },
  webflow: {
    ...base("webflow"),
    signatureHeader: "x-webflow-signature",
    reads: ["x-webflow-timestamp"],
    timestamped: true,
  },
  pagerduty: {
    ...base("pagerduty"),
    signatureHeader: "x-pagerduty-signature",
    reads: [],
    timestamped: false,
  },
  mux: { ...base("mux"), signatureHeader: "mux-signature", reads: [], timestamped: true },
  gitea: {
    ...base("gitea"),
    signatureHeader: "x-gitea-signature",
    reads: ["x-forgejo-signature", "x-gitea-delivery", "x-gitea-event"],
    id: uuidish,
    timestamped: false,
  },
  heroku: {
    ...base("heroku"),
    signatureHeader: "heroku-webhook-hmac-sha256",
    reads: ["heroku-webhook-id"],
    timestamped: false,
  },
  zoom: {
    ...base("zoom"),
    signatureHeader: "x-zm-signature",
    reads: ["x-zm-request-timestamp"],
    timestamped: true,
  },
  twitch: {
    ...base("twitch"),
    signatureHeader: "twitch-eventsub-message-signature",
    reads: [
      "twitch-eventsub-message-id",
      "twitch-eventsub-message-timestamp",
      "twitch-eventsub-message-type",
    ],
    id: uuidish,
    timestamped: true,
  },
  meta: {
    ...base("meta"),
    settings: { verify_token: "a-verify-token-typed-in-meta" },
    signatureHeader: "x-hub-signature-256",
    reads: [],
    timestamped: false,
  },
  // Any bytes inside a Graph notification; signBody puts the secret in its clientState.
  "microsoft-graph": {
    ...base("microsoft-graph"),
    reads: ["content-type"],
    timestamped: false,
    shape: (bytes) =>
      Buffer.from(JSON.stringify({ value: [{ changeType: "updated", resource: bytes.toString("base64") }] })),
  },
};

const CASES: Case[] = [
  ...Object.values(PER_SCHEME),
  {
    ...PER_SCHEME.gitlab,
    label: "gitlab (signing token)",
    secret: generateStandardWebhooksSecret,
    signatureHeader: "webhook-signature",
    reads: ["webhook-id", "webhook-timestamp", "x-gitlab-token"],
    id: uuidish,
    timestamped: true,
  },
  {
    ...PER_SCHEME["generic-hmac"],
    label: "generic-hmac (defaults: sha256, hex)",
    settings: { header: "x-signature" },
    signatureHeader: "x-signature",
    reads: [],
    id: undefined,
    timestamped: false,
  },
];

/** A text that is sometimes near a real header value: the real one edited, or a common shape. */
function nearby(real: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: "binary", maxLength: 120 }),
    fc.constantFrom(
      "",
      " ",
      ",",
      "=",
      "v1,",
      "t=,v1=",
      "sha256=",
      `${real}, ${real}`,
      ` ${real}`,
      `${real} `,
      real.toUpperCase(),
    ),
    fc
      .tuple(
        fc.nat(Math.max(real.length, 1)),
        fc.nat(3),
        fc.string({ unit: "binary", minLength: 1, maxLength: 3 }),
      )
      .map(([at, drop, insert]) => real.slice(0, at) + insert + real.slice(at + drop)),
    fc.nat(real.length).map((n) => real.slice(0, n)),
  );
}

const body = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const instant = fc.integer({ min: 0, max: 4_102_444_800 }).map((s) => new Date(s * 1000 + 123));

for (const c of CASES) {
  describe(`${c.label}: verify`, () => {
    const url = c.url === undefined ? {} : { url: c.url };
    const shape = (b: Buffer, now = NOW) => (c.shape === undefined ? b : c.shape(b, now));
    const verify = (headers: VerifyInput["headers"], b: Buffer, secrets: string[], now = NOW) =>
      c.scheme.verify({
        headers,
        body: b,
        secrets,
        settings: c.settings,
        now,
        toleranceSeconds: TOLERANCE,
        ...url,
      });
    const sign = (secret: string, b: Buffer, now: Date, id?: string) =>
      c.scheme.sign({
        secret: c.signingKey ? c.signingKey(secret) : secret,
        body: b,
        now,
        settings: c.settings,
        ...(id === undefined ? {} : { id }),
        ...url,
      });
    // A scheme whose proof travels in the body (Graph's clientState) has the secret put there first.
    const proven = (secret: string, b: Buffer, now = NOW) =>
      c.scheme.signBody?.({ secret, body: b, now, settings: c.settings, ...url }) ?? b;

    test("a signature it makes for any body, time and id verifies and carries them back", () => {
      const secret = c.secret();
      fc.assert(
        fc.property(body, instant, c.id ?? fc.constant(undefined), (raw, now, id) => {
          const b = proven(secret, shape(raw, now), now);
          const headers = sign(secret, b, now, id);
          const r = verify(headers, b, [secret], now);
          assert.ok(r.ok, `${JSON.stringify(headers)} → ${r.ok ? "" : r.reason}`);
          if (id !== undefined) assert.equal(r.value.deliveryId, id);
          if (c.timestamped)
            assert.equal(r.value.timestamp?.getTime(), Math.floor(now.getTime() / 1000) * 1000);
        }),
        { numRuns: RUNS },
      );
    });

    test("any headers at all: a failure value, never an exception", () => {
      const secret = c.secret();
      const empty = proven(secret, shape(Buffer.from("{}")));
      const real = sign(secret, empty, NOW);
      const accepted = verify(real, empty, [secret]);
      assert.ok(accepted.ok);
      const header = c.signatureHeader;
      const names = [...(header === undefined ? [] : [header]), ...c.reads, ...Object.keys(real)];
      const headers = fc.dictionary(
        fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 20 })),
        fc.option(nearby((header === undefined ? undefined : real[header]) ?? "x"), { nil: undefined }),
        { maxKeys: 8 },
      );
      fc.assert(
        fc.property(headers, fc.boolean(), (h, withReal) => {
          const r = verify(withReal ? { ...real, ...h } : h, empty, [secret]);
          // Only the real signature may pass, in its one canonical form.
          if (r.ok) assert.equal(r.value.signature, accepted.value.signature);
        }),
        { numRuns: RUNS * 2 },
      );
    });

    const header = c.signatureHeader;
    if (header === undefined) {
      test("no edit of the secret in the body verifies", () => {
        const secret = c.secret();
        const b = shape(Buffer.from('{"id":"evt_1","event_id":"Ev1"}'));
        assert.ok(verify(sign(secret, proven(secret, b), NOW), proven(secret, b), [secret]).ok);
        fc.assert(
          fc.property(nearby(secret), (edited) => {
            const e = proven(edited, b);
            assert.equal(
              verify(sign(edited, e, NOW), e, [secret]).ok,
              edited === secret,
              JSON.stringify(edited),
            );
          }),
          { numRuns: RUNS * 2 },
        );
      });
      return;
    }

    test("no edit of a valid signature header verifies as a different signature string", () => {
      const secret = c.secret();
      const b = shape(Buffer.from('{"id":"evt_1","event_id":"Ev1"}'));
      const real = sign(secret, b, NOW);
      const original = verify(real, b, [secret]);
      assert.ok(original.ok);
      fc.assert(
        fc.property(nearby(real[header]!), (edited) => {
          const r = verify({ ...real, [header]: edited }, b, [secret]);
          if (r.ok) assert.equal(r.value.signature, original.value.signature, JSON.stringify(edited));
        }),
        { numRuns: RUNS * 2 },
      );
    });
  });
}
