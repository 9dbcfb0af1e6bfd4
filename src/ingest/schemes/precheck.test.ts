/**
 * The header check run before a body is read agrees with full verification:
 * it refuses only what `verify` refuses, with the same reason, and never a
 * request `verify` would accept.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ed25519Secret, p256Secret, signingKeyOf } from "../providers/keys.test-support.ts";
import type { SchemeName, VerifyInput } from "../types.ts";
import { SCHEMES, type SchemeSettings } from "./index.ts";
import { headerFailure } from "./precheck.ts";
import { generateStandardWebhooksSecret } from "./standard-webhooks.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const TOLERANCE = 300;
const BODY = Buffer.from('{"id":"evt_1","type":"thing.happened"}');

interface Case {
  label: string;
  name: SchemeName;
  settings: SchemeSettings;
  secret: string;
  /** Public-key schemes: the source holds the public key, the provider signs with the private one. */
  signingKey?: string;
  /** Schemes that sign the URL called. */
  url?: string;
}

/** Schemes that sign the URL called, and the URL they are called at here. */
const URLS: Partial<Record<SchemeName, string>> = {
  twilio: "https://hooks.example.com/e/src_twilio",
  mandrill: "https://hooks.example.com/e/src_twilio",
  square: "https://hooks.example.com/e/src_square",
  hubspot: "https://hooks.example.com/e/src_hubspot",
};
/** Schemes that read a signed field of the body (Linear's webhookTimestamp), with a body of that shape. */
const BODIES: Partial<Record<SchemeName, Buffer>> = {
  linear: Buffer.from(`{"type":"Issue","action":"create","webhookTimestamp":${NOW.getTime()}}`),
  "microsoft-graph": Buffer.from(
    '{"value":[{"subscriptionId":"s1","changeType":"created","resource":"me/events"}]}',
  ),
};

/** A secret of the scheme, and what signs for it when that is not the secret itself. */
function secretOf(name: SchemeName): Pick<Case, "secret" | "signingKey" | "url"> {
  const url = URLS[name] === undefined ? {} : { url: URLS[name] };
  switch (name) {
    case "discord":
    case "sendgrid": {
      const secret = name === "discord" ? ed25519Secret() : p256Secret();
      return { secret, signingKey: signingKeyOf(secret) };
    }
    default:
      return { secret: SCHEMES[name].generateSecret(), ...url };
  }
}

/** Schemes whose settings have required fields. */
const REQUIRED_SETTINGS: Partial<Record<SchemeName, SchemeSettings>> = {
  "generic-hmac": { header: "x-signature" },
  meta: { verify_token: "a-verify-token-typed-in-meta" },
};

const CASES: Case[] = [
  ...(Object.keys(SCHEMES) as SchemeName[]).map((name) => ({
    label: name,
    name,
    settings: REQUIRED_SETTINGS[name] ?? {},
    ...secretOf(name),
  })),
  { label: "gitlab (signing token)", name: "gitlab", settings: {}, secret: generateStandardWebhooksSecret() },
  {
    label: "generic-hmac (timestamp, id)",
    name: "generic-hmac",
    settings: {
      header: "x-sig",
      timestampHeader: "x-ts",
      idHeader: "x-id",
      template: "{id}:{timestamp}:{body}",
    },
    secret: "generic secret",
  },
];

for (const c of CASES) {
  test(`${c.label}: the header check refuses only what verification refuses, for the same reason`, () => {
    const scheme = SCHEMES[c.name];
    const settings = scheme.settings.parse(c.settings);
    const url = c.url === undefined ? {} : { url: c.url };
    const unsigned = BODIES[c.name] ?? BODY;
    const signing = { secret: c.signingKey ?? c.secret, body: unsigned, now: NOW, settings, ...url };
    const body = scheme.signBody?.(signing) ?? unsigned;
    const signed = scheme.sign({ ...signing, body });
    const input = (headers: Record<string, string>): VerifyInput => ({
      headers,
      body,
      secrets: [c.secret],
      settings,
      now: NOW,
      toleranceSeconds: TOLERANCE,
      ...url,
    });
    assert.equal(scheme.verify(input(signed)).ok, true);
    assert.equal(headerFailure(c.name, signed, settings, NOW, TOLERANCE), undefined);
    if (scheme.signBody !== undefined) {
      // The proof is in the body (Graph's clientState): no header can refuse it early; the body is what is refused.
      assert.equal(headerFailure(c.name, {}, settings, NOW, TOLERANCE), undefined);
      assert.equal(scheme.verify({ ...input({}), body: unsigned }).ok, false);
      return;
    }
    assert.equal(headerFailure(c.name, {}, settings, NOW, TOLERANCE), "missing_signature");

    // Every header dropped or garbled in turn: a refusal before the body names verify's own reason.
    let refused = 0;
    for (const name of Object.keys(signed)) {
      const { [name]: _dropped, ...without } = signed;
      for (const headers of [without, { ...signed, [name]: "%%%" }, { ...signed, [name]: "" }]) {
        const early = headerFailure(c.name, headers, settings, NOW, TOLERANCE);
        const full = scheme.verify(input(headers));
        if (early === undefined) continue;
        refused++;
        assert.equal(full.ok, false, `${name}: refused early but verifies`);
        assert.equal(full.ok ? "ok" : full.reason, early, `${name}: refused early for another reason`);
      }
    }
    assert.ok(refused > 0);
  });
}
