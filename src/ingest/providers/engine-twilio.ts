/**
 * The URL-and-parameters engine (Twilio, Mailchimp Transactional): the
 * provider signs the full URL it called followed by the POST parameters
 * sorted by name, each as `name + value`, with HMAC-SHA1 keyed by the
 * account's token, base64:
 *
 *   signature = base64(HMAC-SHA1(token, url + k1 + v1 + k2 + v2 + …))
 *
 * For a JSON body Twilio instead adds `bodySHA256=<hex SHA-256 of the body>`
 * to the URL's query and signs the URL alone; the body must then hash to it.
 *
 * Guards against forgery and tampering with the parameters, the body (JSON
 * mode) and the URL (a request replayed to another source's URL fails), every
 * candidate compared in constant time with every token. It does NOT bind the
 * form body's bytes: the provider signs the decoded parameters, so another
 * encoding or order of the same parameters verifies too (the event means the
 * same; the stored body is what was received). Nothing is timestamped: inside
 * the dedupe window the same signature is refused as a replay.
 *
 * The URL is the one the ingester was called at (`VerifyInput.url`: the
 * source's public ingest URL with the query received). Without it nothing can
 * verify, so the request is refused. Twilio signs the URL as it configured it,
 * with or without the default port, so both forms are tried, as Twilio's own
 * libraries do.
 */
import { createHmac } from "node:crypto";
import { z } from "zod";
import { sha256, timingSafeEqualBytes } from "../../crypto/index.ts";
import { decodeBase64, fail, matchAny, pass, plainText, readHeader } from "../schemes/common.ts";
import type { DescribeInput, HandshakeInput, HandshakeResult, SignatureScheme } from "../schemes/scheme.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import { describeFacts, type ProviderEntryBase, registerEntry, withDeliveryId } from "./entry.ts";

const SHA1_BYTES = 20;
const FORM = "application/x-www-form-urlencoded";
/** Longest URL signed; a provider's webhook URL is far shorter. */
const MAX_URL = 4096;

export interface UrlParamsEntry extends ProviderEntryBase {
  readonly engine: "url-params";
  /** Lower-case header name. */
  readonly signatureHeader: string;
  /** The query parameter carrying the body's hex SHA-256 when the body is not a form (Twilio's `bodySHA256`). */
  readonly bodyHashParam?: string;
  /** Also try the URL with its default port added or its port removed (Twilio signs either). */
  readonly portVariants: boolean;
  /**
   * Facts of a form body, which JSON pointers cannot reach: the event type by
   * the form field present (the first listed that the body has; else the
   * type `facts` gives) and the subject from a field.
   */
  readonly form?: {
    readonly typeByField?: readonly (readonly [field: string, type: string])[];
    readonly subjectField?: string;
  };
  /**
   * The provider's endpoint check: a POST whose form holds `field` = `value`
   * and nothing else, signed with the provider's published generic `key` (not
   * the source's), answered 200 and never stored. Anyone can sign it; it
   * reveals only that the URL answers, and carries nothing.
   */
  readonly handshake?: { readonly field: string; readonly value: string; readonly key: string };
}

/** The URL as given, and with the default port added or the port removed. */
export function urlVariants(url: string): string[] {
  const m = /^(https?:\/\/)([^/?#:@]+)(?::([0-9]{1,5}))?([/?#].*)?$/i.exec(url);
  if (m === null) return [url];
  const [, scheme, host, port, rest = ""] = m;
  const fallback = scheme!.toLowerCase() === "https://" ? "443" : "80";
  const out = new Set([url, `${scheme}${host}${rest}`, `${scheme}${host}:${port ?? fallback}${rest}`]);
  return [...out];
}

/** `name + value` for every parameter, names sorted, each name's distinct values sorted. */
export function sortedParams(params: URLSearchParams): string {
  const byName = new Map<string, Set<string>>();
  for (const [name, value] of params) {
    const values = byName.get(name) ?? new Set<string>();
    values.add(value);
    byName.set(name, values);
  }
  let out = "";
  for (const name of [...byName.keys()].sort()) {
    for (const value of [...byName.get(name)!].sort()) out += name + value;
  }
  return out;
}

function mediaType(headers: VerifyInput["headers"]): string {
  return (headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

/** What the signature covers after the URL, or undefined when the body cannot be signed this way. */
function signedTail(entry: UrlParamsEntry, url: URL, headers: VerifyInput["headers"], body: Buffer) {
  const hashParam = entry.bodyHashParam;
  if (hashParam !== undefined && url.searchParams.has(hashParam)) {
    const expected = Buffer.from(sha256(body).toString("hex"));
    const given = Buffer.from(url.searchParams.get(hashParam) ?? "");
    return timingSafeEqualBytes(expected, given) ? "" : undefined;
  }
  if (body.length > 0 && mediaType(headers) !== FORM) return undefined;
  return sortedParams(new URLSearchParams(body.toString("utf8")));
}

function parsedUrl(url: string | undefined): URL | undefined {
  if (url === undefined || url.length > MAX_URL) return undefined;
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

const mac = (token: string, data: string) => createHmac("sha1", token).update(data, "utf8").digest();

export function urlParamsScheme(entry: UrlParamsEntry): SignatureScheme {
  const verify = (input: VerifyInput): VerifyResult => {
    if (input.secrets.length === 0) return fail("no_secret");
    const sig = readHeader(input.headers, entry.signatureHeader);
    if (sig.kind === "absent") return fail("missing_signature");
    if (sig.kind === "oversized") return fail("malformed_signature");
    const candidate = decodeBase64(sig.value, SHA1_BYTES);
    if (candidate === undefined) return fail("malformed_signature");
    const url = parsedUrl(input.url);
    if (url === undefined) return fail("bad_signature");
    const tail = signedTail(entry, url, input.headers, input.body);
    if (tail === undefined) return fail("bad_signature");
    const urls = entry.portVariants ? urlVariants(input.url!) : [input.url!];
    const expected = input.secrets.flatMap((token) => urls.map((u) => mac(token, u + tail)));
    if (matchAny(expected, [candidate]) < 0) return fail("bad_signature");
    // The parameters are signed, not the body's bytes: an id read from the body is not reported as signed.
    return pass(withDeliveryId(entry.facts, { signature: sig.value }, input, { bodySigned: false }));
  };

  const describe = (input: DescribeInput): EventFacts => {
    // Only what the ingester parsed as JSON is read as JSON: a form body (which may happen to parse) is read as a form.
    const facts = describeFacts(entry.facts, input.headers, input.json);
    const fields = entry.form;
    if (input.json !== undefined || fields === undefined) return facts;
    const form = new URLSearchParams(input.body.toString("utf8"));
    const hit = fields.typeByField?.find(([field]) => form.has(field));
    if (hit !== undefined) facts.type = `${entry.facts.type.prefix}.${hit[1]}`;
    const subject = fields.subjectField === undefined ? undefined : plainText(form.get(fields.subjectField));
    if (subject !== undefined) facts.subject = subject;
    return facts;
  };

  const check = entry.handshake;
  const handshake =
    check === undefined
      ? undefined
      : (input: HandshakeInput): HandshakeResult => {
          if (input.method !== "POST" || input.body.length > 1024) return undefined;
          const form = [...new URLSearchParams(input.body.toString("utf8"))];
          if (form.length !== 1 || form[0]![0] !== check.field || form[0]![1] !== check.value)
            return undefined;
          const r = verify({
            headers: input.headers,
            body: input.body,
            secrets: [check.key],
            settings: input.settings,
            now: input.now,
            toleranceSeconds: input.toleranceSeconds,
            ...(input.url === undefined ? {} : { url: input.url }),
          });
          // Not signed with the generic key: an ordinary request, verified with the source's own secrets.
          if (!r.ok) return undefined;
          return { answer: { status: 200, headers: { "content-type": "text/plain" }, body: "ok" } };
        };

  const scheme: SignatureScheme = {
    name: entry.name,
    provider: { title: entry.title, docs: entry.docs, sample: entry.sample },
    settings: z.strictObject({}).prefault({}),
    ...(handshake === undefined ? {} : { handshake }),
    verify,
    describe,
    sign(input) {
      const url = parsedUrl(input.url);
      if (url === undefined) throw new Error(`${entry.name}: signing needs the URL the request is sent to`);
      // The URL names the mode: with the body's hash in it, the URL alone is signed; else the body is a form.
      const hashParam = entry.bodyHashParam;
      if (hashParam !== undefined && url.searchParams.has(hashParam)) {
        return { [entry.signatureHeader]: mac(input.secret, input.url!).toString("base64") };
      }
      const tail = sortedParams(new URLSearchParams(input.body.toString("utf8")));
      return {
        "content-type": FORM,
        [entry.signatureHeader]: mac(input.secret, input.url! + tail).toString("base64"),
      };
    },
    generateSecret: entry.secret.generate,
  };
  return registerEntry(scheme, entry);
}
