/**
 * Generic HMAC, for providers without a scheme of their own: one header
 * carrying `<prefix><hex|base64 HMAC-SHA256|SHA-512(secret as UTF-8, content)>`,
 * where the signed content follows a template (RFC 2104 HMAC; the common
 * pattern of GitHub-, Shopify- and Stripe-like providers).
 *
 * Settings (validated when a source is saved):
 *   header           the signature header (required; lower-cased HTTP token, not hop-by-hop)
 *   algorithm        "sha256" (default) | "sha512"
 *   encoding         "hex" (default; either case accepted) | "base64" (canonical, padded)
 *   prefix           text before the MAC, e.g. "sha256="
 *   timestampHeader  a header with integer unix seconds, checked against ±tolerance
 *   idHeader         the delivery id header
 *   typeHeader       the event type header (used as the CloudEvents type as is)
 *   template         the signed content; placeholders {body} (exactly once),
 *                    {timestamp} (required when timestampHeader is set, else
 *                    refused) and {id} (only with idHeader). Default "{body}",
 *                    or "{timestamp}.{body}" with a timestamp header.
 *
 * Guards against forgery and tampering with whatever the template signs
 * (constant-time, every secret tried), and with a timestamp header against
 * replay outside the window. Without one nothing stops a replay but the
 * ingester's dedupe on the id and the canonical signature.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { hmacSha256, hmacSha512 } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import {
  assertTolerance,
  checkWindow,
  decodeBase64,
  decodeHex,
  fail,
  MAX_PLAIN_HEADER,
  matchAny,
  parseUnixSeconds,
  pass,
  plainHeader,
  readHeader,
  typePart,
  unixTime,
} from "./common.ts";
import type { DescribeInput, SchemeSettings, SignatureScheme, SignInput } from "./scheme.ts";

// RFC 9110 section 5.6.2 token characters, lower case.
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const NOT_A_SIGNATURE_HEADER = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

const headerName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .toLowerCase()
  .regex(HEADER_TOKEN, "must be an HTTP header name")
  .refine((name) => !NOT_A_SIGNATURE_HEADER.has(name), "must not be a hop-by-hop or framing header");

type Placeholder = "body" | "timestamp" | "id";
type Part = { text: string } | { placeholder: Placeholder };

/** Literal text and placeholders; undefined when a brace is not part of a known placeholder. */
function parseTemplate(template: string): Part[] | undefined {
  const parts: Part[] = [];
  const re = /\{(body|timestamp|id)\}/g;
  let last = 0;
  for (const m of template.matchAll(re)) {
    parts.push({ text: template.slice(last, m.index) });
    parts.push({ placeholder: m[1] as Placeholder });
    last = m.index + m[0].length;
  }
  parts.push({ text: template.slice(last) });
  const literal = parts.every((p) => !("text" in p) || !/[{}]/.test(p.text));
  return literal ? parts.filter((p) => !("text" in p) || p.text.length > 0) : undefined;
}

const count = (parts: Part[], name: Placeholder) =>
  parts.filter((p) => "placeholder" in p && p.placeholder === name).length;

export const genericHmacSettings = z
  .strictObject({
    header: headerName,
    algorithm: z.enum(["sha256", "sha512"]).default("sha256"),
    encoding: z.enum(["hex", "base64"]).default("hex"),
    prefix: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/, "must be printable ASCII")
      .optional(),
    timestampHeader: headerName.optional(),
    idHeader: headerName.optional(),
    typeHeader: headerName.optional(),
    template: z
      .string()
      .min(1)
      .max(256)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
      .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters")
      .optional(),
  })
  .superRefine((s, ctx) => {
    if (s.timestampHeader === s.header || s.idHeader === s.header) {
      ctx.addIssue({ code: "custom", path: ["header"], message: "must differ from the other headers" });
    }
    if (s.template === undefined) return;
    const parts = parseTemplate(s.template);
    const issue = (message: string) => ctx.addIssue({ code: "custom", path: ["template"], message });
    if (parts === undefined) return issue("braces are allowed only in {body}, {timestamp} and {id}");
    if (count(parts, "body") !== 1) issue("must contain {body} exactly once");
    const timestamps = count(parts, "timestamp");
    if (s.timestampHeader !== undefined && timestamps === 0) {
      issue("must sign {timestamp} when timestampHeader is set");
    }
    if (s.timestampHeader === undefined && timestamps > 0) issue("{timestamp} needs timestampHeader");
    if (s.idHeader === undefined && count(parts, "id") > 0) issue("{id} needs idHeader");
  });

type Settings = z.output<typeof genericHmacSettings>;
interface Compiled extends Settings {
  parts: Part[];
  macBytes: number;
}

const compiledCache = new WeakMap<object, Compiled>();

/** Settings that were validated when the source was saved; anything else is a broken invariant. */
function compile(raw: SchemeSettings | undefined): Compiled {
  const input = raw ?? {};
  const cached = compiledCache.get(input);
  if (cached !== undefined) return cached;
  const parsed = genericHmacSettings.safeParse(input);
  if (!parsed.success) throw new Error("generic-hmac: the source's settings do not validate");
  const s = parsed.data;
  const template = s.template ?? (s.timestampHeader === undefined ? "{body}" : "{timestamp}.{body}");
  const parts = parseTemplate(template);
  if (parts === undefined) throw new Error("generic-hmac: the template does not parse");
  const compiled: Compiled = { ...s, parts, macBytes: s.algorithm === "sha256" ? 32 : 64 };
  compiledCache.set(input, compiled);
  return compiled;
}

function content(parts: Part[], values: { body: Buffer; timestamp?: string; id?: string }): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      if ("text" in p) return Buffer.from(p.text, "utf8");
      if (p.placeholder === "body") return values.body;
      return Buffer.from(values[p.placeholder] ?? "", "utf8");
    }),
  );
}

const mac = (s: Compiled, secret: string, data: Buffer) =>
  s.algorithm === "sha256" ? hmacSha256(secret, data) : hmacSha512(secret, data);

const encode = (s: Compiled, bytes: Buffer) =>
  `${s.prefix ?? ""}${bytes.toString(s.encoding === "hex" ? "hex" : "base64")}`;

function verify(input: VerifyInput): VerifyResult {
  assertTolerance(input.toleranceSeconds);
  const s = compile(input.settings);
  if (input.secrets.length === 0) return fail("no_secret");
  const header = readHeader(input.headers, s.header);
  if (header.kind === "absent") return fail("missing_signature");
  if (header.kind === "oversized") return fail("malformed_signature");
  const prefix = s.prefix ?? "";
  if (!header.value.startsWith(prefix)) return fail("malformed_signature");
  const encoded = header.value.slice(prefix.length);
  const candidate = s.encoding === "hex" ? decodeHex(encoded, s.macBytes) : decodeBase64(encoded, s.macBytes);
  if (candidate === undefined) return fail("malformed_signature");

  const values: { body: Buffer; timestamp?: string; id?: string } = { body: input.body };
  let timestamp: number | undefined;
  if (s.timestampHeader !== undefined) {
    const ts = readHeader(input.headers, s.timestampHeader, MAX_PLAIN_HEADER);
    if (ts.kind === "absent") return fail("missing_timestamp");
    timestamp = ts.kind === "value" ? parseUnixSeconds(ts.value) : undefined;
    if (timestamp === undefined || ts.kind !== "value") return fail("malformed_signature");
    values.timestamp = ts.value;
  }
  const id = s.idHeader === undefined ? undefined : plainHeader(input.headers, s.idHeader);
  if (count(s.parts, "id") > 0 && id === undefined) return fail("malformed_signature");
  if (id !== undefined) values.id = id;

  const data = content(s.parts, values);
  const expected = input.secrets.map((secret) => mac(s, secret, data));
  if (matchAny(expected, [candidate]) < 0) return fail("bad_signature");
  if (timestamp !== undefined) {
    const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
    if (window !== undefined) return fail(window);
  }
  const value: { signature: string; deliveryId?: string; deliveryIdSigned?: true; timestamp?: Date } = {
    signature: encode(s, candidate),
  };
  if (id !== undefined) value.deliveryId = id;
  if (id !== undefined && count(s.parts, "id") > 0) value.deliveryIdSigned = true;
  if (timestamp !== undefined) value.timestamp = new Date(timestamp * 1000);
  return pass(value);
}

function describe(input: DescribeInput): EventFacts {
  let s: Compiled | undefined;
  try {
    s = compile(input.settings);
  } catch {
    s = undefined;
  }
  const type = s?.typeHeader === undefined ? undefined : typePart(plainHeader(input.headers, s.typeHeader));
  const facts: EventFacts = { type: type ?? "com.zenmesh.generic" };
  const deliveryId = s?.idHeader === undefined ? undefined : plainHeader(input.headers, s.idHeader);
  if (deliveryId !== undefined) facts.deliveryId = deliveryId;
  const time =
    s?.timestampHeader === undefined ? undefined : unixTime(plainHeader(input.headers, s.timestampHeader));
  if (time !== undefined) facts.time = time;
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  const s = compile(input.settings);
  const timestamp = String(Math.floor(input.now.getTime() / 1000));
  const id = input.id ?? randomUUID();
  const headers: Record<string, string> = {
    [s.header]: encode(s, mac(s, input.secret, content(s.parts, { body: input.body, timestamp, id }))),
  };
  if (s.timestampHeader !== undefined) headers[s.timestampHeader] = timestamp;
  if (s.idHeader !== undefined) headers[s.idHeader] = id;
  return headers;
}

export const genericHmac: SignatureScheme = {
  name: "generic-hmac",
  provider: {
    title: "Generic HMAC",
    docs: "https://www.rfc-editor.org/rfc/rfc2104",
    sample: {
      contentType: "application/json",
      body: '{"event":"test","data":{"message":"a test webhook from zenmesh"}}',
    },
  },
  settings: genericHmacSettings,
  verify,
  describe,
  sign,
  generateSecret: () => randomBytes(32).toString("hex"),
};
