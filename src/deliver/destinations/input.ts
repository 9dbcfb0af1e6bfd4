/**
 * The shapes a destination is created, changed and rotated with, shared by
 * the actions (the authority) and the HTTP routes (validation and OpenAPI).
 *
 * Guards against: a target URL that smuggles credentials (userinfo) or speaks
 * plain HTTP by accident; static headers that would override what zenmesh
 * itself sets or must control (framing, Host, the webhook signature, the
 * CloudEvents attributes, hop-by-hop headers) or carry credentials outside
 * the sealed box; credentials that could not work at delivery time (a client
 * key that does not match its certificate). Issues name paths, never values.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { z } from "zod";
import { shownName } from "../../core/index.ts";
import { isSigningSecret } from "../signing.ts";

export const DEFAULT_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18_000, 36_000, 36_000] as const;
export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_IN_FLIGHT = 10;
export const DEFAULT_RETRY_AFTER_CAP_SECONDS = 3600;
export const DEFAULT_SECRET_OVERLAP_SECONDS = 86_400;
export const MAX_URL_LENGTH = 2048;
export const MAX_HEADERS = 20;
export const DESTINATION_FORMATS = ["cloudevents-structured", "cloudevents-binary", "original"] as const;
export const DESTINATION_METHODS = ["POST", "PUT", "PATCH"] as const;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;
// RFC 9110 section 5.6.2 token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;
const PRINTABLE = /^[\x20-\x7e]*$/;
const VISIBLE = /^[\x21-\x7e]+$/;
const EXACT_RESERVED = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "trailer",
  "expect",
  "authorization",
  "cookie",
  "te",
  "upgrade",
  "x-correlation-id",
]);
const RESERVED_PREFIXES = ["proxy-", "webhook-", "ce-", "x-zen-"];

/** Header names zenmesh sets or that must not be set statically; `name` is lower-case. */
export function isReservedHeader(name: string): boolean {
  return EXACT_RESERVED.has(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p));
}

const url = z
  .string()
  .max(MAX_URL_LENGTH)
  .transform((raw, ctx) => {
    let u: URL;
    try {
      if (CONTROL.test(raw)) throw new TypeError("control characters");
      u = new URL(raw);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be an absolute http(s) URL" });
      return z.NEVER;
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") {
      ctx.addIssue({ code: "custom", message: "must be an absolute http(s) URL" });
      return z.NEVER;
    }
    if (u.username !== "" || u.password !== "") {
      ctx.addIssue({ code: "custom", message: "must not carry credentials; use the credentials field" });
      return z.NEVER;
    }
    // The normalised form is stored, so egress connects to exactly what was checked here.
    if (u.href.length > MAX_URL_LENGTH) {
      ctx.addIssue({ code: "custom", message: `must be at most ${MAX_URL_LENGTH} characters` });
      return z.NEVER;
    }
    return u.href;
  });

const headers = z.record(z.string(), z.string()).transform((input, ctx) => {
  // A Map, so names like `__proto__` stay plain data.
  const out = new Map<string, string>();
  const entries = Object.entries(input);
  // Messages stay generic: header names and values are the caller's text.
  if (entries.length > MAX_HEADERS) {
    ctx.addIssue({ code: "custom", message: `at most ${MAX_HEADERS} headers` });
    return z.NEVER;
  }
  for (const [rawName, value] of entries) {
    const name = rawName.toLowerCase();
    if (!TOKEN.test(rawName)) {
      ctx.addIssue({ code: "custom", message: "a header name is not an RFC 9110 token" });
    } else if (isReservedHeader(name)) {
      ctx.addIssue({ code: "custom", message: "a header name is reserved" });
    } else if (out.has(name)) {
      ctx.addIssue({ code: "custom", message: "a header name appears twice" });
    }
    if (value.length > 1024 || !PRINTABLE.test(value)) {
      ctx.addIssue({
        code: "custom",
        message: "a header value must be printable ASCII, at most 1024 characters",
      });
    }
    out.set(name, value);
  }
  return Object.fromEntries(out);
});

const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !CONTROL.test(s) && s.isWellFormed(), "must not contain control characters");

const auth = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("bearer"),
    token: z.string().max(4096).regex(VISIBLE, "must be visible ASCII without spaces"),
  }),
  z.strictObject({
    type: z.literal("basic"),
    username: text(256).refine((s) => !s.includes(":"), "must not contain ':'"),
    password: text(1024),
  }),
  z.strictObject({
    type: z.literal("header"),
    name: z
      .string()
      .regex(TOKEN, "must be an RFC 9110 token")
      .transform((s) => s.toLowerCase())
      .refine((s) => !isReservedHeader(s), "is reserved; use bearer or basic for authorization"),
    value: z.string().min(1).max(4096).regex(PRINTABLE, "must be printable ASCII"),
  }),
]);

const PEM_LIMIT = 32 * 1024;
const clientCertificate = z
  .strictObject({ cert_pem: z.string().max(PEM_LIMIT), key_pem: z.string().max(PEM_LIMIT) })
  .superRefine((c, ctx) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(c.cert_pem);
    } catch {
      ctx.addIssue({ code: "custom", path: ["cert_pem"], message: "must be a PEM certificate" });
      return;
    }
    try {
      const key = createPrivateKey(c.key_pem);
      if (!cert.checkPrivateKey(key)) {
        ctx.addIssue({ code: "custom", path: ["key_pem"], message: "does not match the certificate" });
      }
    } catch {
      ctx.addIssue({ code: "custom", path: ["key_pem"], message: "must be an unencrypted PEM private key" });
    }
  });

export const credentialsInput = z.strictObject({
  auth: auth.optional(),
  client_certificate: clientCertificate.optional(),
});

const signingSecret = z.string().max(1024).refine(isSigningSecret, "must be a signing secret (whsec_…)");
const overlap = z.number().int().min(0).max(2_592_000);

export const destinationFields = {
  name: shownName(200),
  url,
  method: z.enum(DESTINATION_METHODS),
  headers,
  timeout_ms: z.number().int().min(1000).max(60_000),
  format: z.enum(DESTINATION_FORMATS),
  max_in_flight: z.number().int().min(1).max(1000),
  rate_limit_per_second: z.number().int().min(1).max(100_000).nullable(),
  fifo: z.boolean(),
  enabled: z.boolean(),
  allow_plain_http: z.boolean(),
  auto_replay: z.boolean(),
  secret_overlap_seconds: overlap,
  retry: z.strictObject({
    schedule_seconds: z.array(z.number().int().min(0).max(172_800)).max(20).optional(),
    retry_after_cap_seconds: z.number().int().min(0).max(86_400).optional(),
  }),
  /** null: no credentials; an object replaces every credential. */
  credentials: credentialsInput.nullable(),
};

const f = destinationFields;

/** Plain HTTP is a deliberate, per-destination choice. */
export const PLAIN_HTTP_MESSAGE = "must be https unless allow_plain_http is true";
export const isPlainHttp = (href: string) => href.startsWith("http:");

export const createDestinationInput = z
  .strictObject({
    name: f.name,
    url: f.url,
    method: f.method.optional(),
    headers: f.headers.optional(),
    timeout_ms: f.timeout_ms.optional(),
    format: f.format.optional(),
    max_in_flight: f.max_in_flight.optional(),
    rate_limit_per_second: f.rate_limit_per_second.optional(),
    fifo: f.fifo.optional(),
    enabled: f.enabled.optional(),
    allow_plain_http: f.allow_plain_http.optional(),
    auto_replay: f.auto_replay.optional(),
    secret_overlap_seconds: f.secret_overlap_seconds.optional(),
    retry: f.retry.optional(),
    credentials: f.credentials.optional(),
    /** User-supplied signing secret; generated when absent. */
    secret: signingSecret.optional(),
  })
  .superRefine((v, ctx) => {
    if (isPlainHttp(v.url) && v.allow_plain_http !== true) {
      ctx.addIssue({ code: "custom", path: ["url"], message: PLAIN_HTTP_MESSAGE });
    }
  });

export const updateDestinationInput = z
  .strictObject({
    name: f.name.optional(),
    url: f.url.optional(),
    method: f.method.optional(),
    headers: f.headers.optional(),
    timeout_ms: f.timeout_ms.optional(),
    format: f.format.optional(),
    max_in_flight: f.max_in_flight.optional(),
    rate_limit_per_second: f.rate_limit_per_second.optional(),
    fifo: f.fifo.optional(),
    enabled: f.enabled.optional(),
    allow_plain_http: f.allow_plain_http.optional(),
    auto_replay: f.auto_replay.optional(),
    secret_overlap_seconds: f.secret_overlap_seconds.optional(),
    /** The fields named replace the current ones; the others stay. */
    retry: f.retry.optional(),
    credentials: f.credentials.optional(),
  })
  .refine((v) => Object.values(v).some((x) => x !== undefined), "names no field to change");

export const rotateDestinationSecretInput = z.strictObject({
  secret: signingSecret.optional(),
  /** How long the previous secret keeps signing; the destination's secret_overlap_seconds when absent. */
  overlap_seconds: overlap.optional(),
});

export type CreateDestinationInput = z.input<typeof createDestinationInput>;
export type UpdateDestinationInput = z.input<typeof updateDestinationInput>;
export type RotateDestinationSecretInput = z.input<typeof rotateDestinationSecretInput>;
export type CredentialsInput = z.output<typeof credentialsInput>;

export { type Issue, issuesOf, parseInput, validationFailed } from "../../core/validation.ts";
