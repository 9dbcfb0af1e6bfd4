/**
 * What a source's scheme demands of its settings and its secret. Settings are
 * validated by the scheme's own schema; a secret must be 8..1024 characters,
 * and schemes whose providers issue secrets in a fixed format (Standard
 * Webhooks `whsec_` + base64 of 24..64 bytes; Stripe `whsec_…`) refuse
 * anything else, so a mistyped secret fails here rather than on every event.
 */
import { hasInvisibleOrControl, SHOWN_TEXT_MESSAGE, ZenError } from "../../core/index.ts";
import { p256SecretProblem } from "../providers/engine-ecdsa.ts";
import { ed25519SecretProblem } from "../providers/engine-ed25519.ts";
import { getScheme } from "../schemes/index.ts";
import type { CloudEventsMode, SchemeName } from "../types.ts";
import { issuesOf, MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, validationFailed } from "./input.ts";

/** Paths of string values (at any depth) holding an invisible or control character. */
function invisibleIn(value: unknown, path: string[], out: string[]): string[] {
  if (out.length >= 20) return out;
  if (typeof value === "string") {
    if (hasInvisibleOrControl(value)) out.push(path.join("."));
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) invisibleIn(v, [...path, String(i)], out);
  } else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) invisibleIn(v, [...path, k], out);
  }
  return out;
}

/**
 * A source's settings, validated by its scheme. Whatever a scheme's own rules
 * (most are stricter: header names are tokens, prefixes printable ASCII), no
 * string in them may hold an invisible or control character: settings are
 * shown to people in the API and the guides, and a scheme added later cannot
 * forget it.
 */
export function checkSettings(
  scheme: SchemeName,
  settings: Record<string, unknown>,
): Record<string, unknown> {
  const hidden = invisibleIn(settings, ["settings"], []);
  if (hidden.length > 0)
    throw validationFailed(hidden.map((path) => ({ path, message: SHOWN_TEXT_MESSAGE })));
  const r = getScheme(scheme).settings.safeParse(settings);
  if (!r.success) throw validationFailed(issuesOf(r.error, ["settings"]));
  const out = r.data;
  if (typeof out !== "object" || out === null || Array.isArray(out)) return {};
  return out as Record<string, unknown>;
}

/**
 * What a CloudEvents input mode reads, and so what the scheme must sign for
 * the mode to be trusted: structured (and batched) events are read from the
 * body, binary events from `ce-*` headers.
 */
const MODE_READS: Record<CloudEventsMode, readonly ("body" | "ce-headers")[]> = {
  off: [],
  structured: ["body"],
  binary: ["ce-headers"],
  any: ["body", "ce-headers"],
};

/**
 * What each scheme's signature covers of what a CloudEvents mode reads. None
 * signs `ce-*` headers (GitHub, Shopify and generic HMAC sign only the body;
 * Standard Webhooks, Stripe, Slack and zenmesh add an id or a timestamp), so
 * binary mode is taken by none. GitLab may authenticate with a secret token
 * that signs nothing, whichever secret the source holds after a rotation, so
 * it takes no CloudEvents mode at all.
 */
function schemeSigns(scheme: SchemeName, part: "body" | "ce-headers"): boolean {
  switch (scheme) {
    case "gitlab":
      return false;
    case "github":
    case "stripe":
    case "slack":
    case "shopify":
    case "standard-webhooks":
    case "generic-hmac":
    case "zenmesh":
    // Providers as entries over the HMAC engine: every template signs the whole body.
    case "paddle":
    case "lemon-squeezy":
    case "square":
    case "razorpay":
    case "coinbase-commerce":
    case "linear":
    case "intercom":
    case "hubspot":
    case "typeform":
    case "calendly":
    case "bitbucket":
    case "sentry":
    case "vercel":
    case "woocommerce":
    case "jira":
    case "zendesk":
    case "webflow":
    case "pagerduty":
    case "mux":
    case "gitea":
    case "heroku":
      return part === "body";
    // Asymmetric and special providers. Postmark's Basic auth signs nothing;
    // Twilio and Mandrill sign a form's decoded parameters, not the body's bytes.
    case "postmark":
    case "twilio":
    case "mandrill":
      return false;
    // Graph's clientState authenticates the sender and signs nothing of the body.
    case "microsoft-graph":
      return false;
    case "discord":
    case "sendgrid":
    case "clerk":
    case "resend":
    case "zoom":
    case "twitch":
    case "meta":
      return part === "body";
    default: {
      const never: never = scheme;
      throw new Error(`unknown scheme ${String(never)}`);
    }
  }
}

/** The mode, if the scheme authenticates everything it reads; else CLOUDEVENTS_MODE_UNAUTHENTICATED. */
export function checkCloudEventsMode(scheme: SchemeName, mode: CloudEventsMode): CloudEventsMode {
  const unsigned = MODE_READS[mode].filter((part) => !schemeSigns(scheme, part));
  if (unsigned.length > 0) {
    throw new ZenError("CLOUDEVENTS_MODE_UNAUTHENTICATED", {
      details: { path: "cloudevents", scheme, mode, unsigned },
    });
  }
  return mode;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why this secret cannot serve the scheme, or undefined. */
export function secretProblem(scheme: SchemeName, secret: string): string | undefined {
  if (secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH) {
    return `must be ${MIN_SECRET_LENGTH}..${MAX_SECRET_LENGTH} characters`;
  }
  switch (scheme) {
    case "standard-webhooks": {
      const body = secret.startsWith("whsec_") ? secret.slice(6) : undefined;
      // Canonical base64 only: the verifier decodes strictly.
      if (
        body === undefined ||
        !BASE64.test(body) ||
        Buffer.from(body, "base64").toString("base64") !== body
      ) {
        return "must be whsec_ followed by base64";
      }
      const bytes = Buffer.from(body, "base64").length;
      if (bytes < 24 || bytes > 64) return "must encode 24..64 bytes";
      return undefined;
    }
    case "stripe":
      return /^whsec_[A-Za-z0-9]{16,}$/.test(secret)
        ? undefined
        : "must be a Stripe signing secret (whsec_…)";
    case "github":
    case "gitlab":
    case "slack":
    case "shopify":
    case "generic-hmac":
    case "zenmesh":
    // Providers as entries over the HMAC engine: the provider's own format is checked by its verify.
    case "paddle":
    case "lemon-squeezy":
    case "square":
    case "razorpay":
    case "coinbase-commerce":
    case "linear":
    case "intercom":
    case "hubspot":
    case "typeform":
    case "calendly":
    case "bitbucket":
    case "sentry":
    case "vercel":
    case "woocommerce":
    case "jira":
    case "zendesk":
    case "webflow":
    case "pagerduty":
    case "mux":
    case "gitea":
    case "heroku":
      return undefined;
    // Asymmetric and special providers: a public key must parse as one; Svix secrets are Standard Webhooks'.
    case "discord":
      return ed25519SecretProblem(secret);
    case "sendgrid":
      return p256SecretProblem(secret);
    case "clerk":
    case "resend":
      return secretProblem("standard-webhooks", secret);
    case "twilio":
    case "postmark":
    case "mandrill":
    case "zoom":
    case "meta":
      return undefined;
    case "microsoft-graph":
      // Graph refuses a clientState over 128 characters; a short one would be guessable.
      return /^[\x21-\x7e]{16,128}$/.test(secret) ? undefined : "must be 16..128 visible ASCII characters";
    case "twitch":
      // Twitch refuses a subscription whose secret is not 10..100 ASCII characters.
      return /^[\x20-\x7e]{10,100}$/.test(secret) ? undefined : "must be 10..100 ASCII characters";
    default: {
      const never: never = scheme;
      throw new Error(`unknown scheme ${String(never)}`);
    }
  }
}

export function checkSecret(scheme: SchemeName, secret: string, path: string): string {
  const problem = secretProblem(scheme, secret);
  if (problem !== undefined) throw validationFailed([{ path, message: problem }]);
  return secret;
}

export function newSecret(scheme: SchemeName): string {
  const secret = getScheme(scheme).generateSecret();
  // A generator that breaks its own scheme's format is a bug, not a caller's mistake.
  const problem = secretProblem(scheme, secret);
  if (problem !== undefined) throw new Error(`the ${scheme} scheme generated an unusable secret: ${problem}`);
  return secret;
}
