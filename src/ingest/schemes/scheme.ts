/**
 * The one interface every signature scheme implements. Schemes are looked up by
 * name in the registry (index.ts); one shared test suite (shared.test.ts) runs
 * against all of them.
 */
import type { z } from "zod";
import type { EventFacts, SchemeName, VerifyFailure, VerifyInput, VerifyResult } from "../types.ts";

export type RequestHeaders = VerifyInput["headers"];
export type SchemeSettings = Readonly<Record<string, unknown>>;

export interface DescribeInput {
  /** Lower-case header names, as in VerifyInput. */
  headers: RequestHeaders;
  body: Buffer;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
  /** The source's settings; only generic-hmac reads them (id and type headers). */
  settings?: SchemeSettings;
}

export interface SignInput {
  secret: string;
  body: Buffer;
  now: Date;
  settings?: SchemeSettings;
  /** The delivery id to send, for schemes whose provider sends one; random otherwise. */
  id?: string;
  /** The URL the request is sent to, for schemes whose provider signs it (Twilio, Mandrill, Square, HubSpot); as in VerifyInput. */
  url?: string;
}

/** A representative event of the provider, for test sends and guides: signed with `sign()` when sent. */
export interface ProviderSample {
  /** The media type the provider sends it with (what a source of this provider should accept). */
  readonly contentType: string;
  /** The body, as the provider would send it. */
  readonly body: string;
  /** Unsigned headers the provider sends beside its signature (e.g. GitHub's `x-github-event`), lower-case names. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The body as the provider would send it at `now`, for providers whose
   * signed timestamp sits in the body (Linear's webhookTimestamp): a test send
   * uses this, or the fixed body would be refused as stale.
   */
  readonly bodyAt?: (now: Date) => string;
}

/** What people need to know about the provider behind a scheme: for docs, OpenAPI, test sends and the CLI. */
export interface ProviderInfo {
  /** The provider's own name, e.g. "GitHub". */
  readonly title: string;
  /** The provider's documentation this scheme follows (how it signs). */
  readonly docs: string;
  readonly sample: ProviderSample;
}

/** A request that may be a provider's endpoint check (Slack url_verification, Meta hub.challenge, …). */
export interface HandshakeInput {
  /** Upper-case HTTP method. */
  method: string;
  /** The query string's parameters (GET handshakes carry their challenge there). */
  query: URLSearchParams;
  headers: RequestHeaders;
  /** Empty for a GET. */
  body: Buffer;
  /** Secrets valid now, newest first. */
  secrets: readonly string[];
  settings: SchemeSettings;
  now: Date;
  toleranceSeconds: number;
  /** The URL the provider called, as in VerifyInput, for schemes that sign it (Mandrill's check). */
  url?: string;
}

/** The provider's documented answer to its endpoint check. Never stored as an event. */
export interface HandshakeAnswer {
  status: number;
  /** Lower-case names; the content type among them. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Why a handshake was refused: its own signature failed, its verify token did
 * not match (both answered 401), or its challenge is not one that may be
 * reflected (too long, or characters outside the provider's alphabet: 400).
 */
export type HandshakeRefusal = VerifyFailure | "wrong_verify_token" | "malformed_challenge";

/**
 * What a scheme's handshake says of a request: not a handshake (`undefined`:
 * verify it as an event), a handshake answered, or a handshake refused because
 * its own signature or token did not check (never stored).
 */
export type HandshakeResult = undefined | { answer: HandshakeAnswer } | { refused: HandshakeRefusal };

/** An event body the provider wraps (GitHub's form-encoded `payload`), unwrapped for storing. */
export type DecodedBody = { ok: true; body: Buffer; contentType: string } | { ok: false; reason: string };

export interface SignatureScheme {
  readonly name: SchemeName;
  readonly provider: ProviderInfo;
  /** Recognises and answers the provider's endpoint check, for providers that have one. */
  handshake?(input: HandshakeInput): HandshakeResult;
  /**
   * The media types a new source of this provider accepts when its creator
   * names none: what the provider sends by default. Absent: `application/json`.
   */
  readonly contentTypes?: readonly string[];
  /**
   * Unwraps the event from a body the provider wraps, after its signature
   * (over the raw body, as the provider signs) verified; undefined when the
   * body is stored as received. `contentType` is the request's, without
   * parameters.
   */
  decodeBody?(contentType: string, body: Buffer): DecodedBody | undefined;
  /** Validates a source's settings when it is created or updated; `{}` is the default. */
  readonly settings: z.ZodType<SchemeSettings, unknown>;
  /** Expected failures are values; throws only for a broken invariant (settings that never passed `settings`). */
  verify(input: VerifyInput): VerifyResult;
  /** Never throws: garbage in, a fallback type out. */
  describe(input: DescribeInput): EventFacts;
  /**
   * `false` for a scheme zenmesh cannot sign for: one whose source holds only
   * what verifies (an asymmetric provider's public key), not what signs.
   * Test sends refuse such a source with SCHEME_CANNOT_SIGN, and `sign()` is
   * then only ever called by tests holding the provider's private key.
   * Absent: the source's secret signs, and `sign()` signs like the provider.
   */
  readonly signs?: false;
  /** The headers the provider would send for this body, lower-case names. */
  sign(input: SignInput): Record<string, string>;
  /**
   * For a provider whose proof travels in the body (Microsoft Graph's
   * clientState): the body it would send, `input.body` with the secret put
   * in its place, to be sent (and passed to `sign`) instead. Such a scheme
   * has no header a check before the body could refuse. Absent: the body is
   * sent as given.
   */
  signBody?(input: SignInput): Buffer;
  /** A fresh secret in the provider's format. */
  generateSecret(): string;
}
