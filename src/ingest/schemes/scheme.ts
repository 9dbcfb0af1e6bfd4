/**
 * The one interface every signature scheme implements. Schemes are looked up by
 * name in the registry (index.ts); one shared test suite (shared.test.ts) runs
 * against all of them.
 */
import type { z } from "zod";
import type { EventFacts, SchemeName, VerifyInput, VerifyResult } from "../types.ts";

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
}

/** What people need to know about the provider behind a scheme: for docs, OpenAPI and `zenmesh source` help. */
export interface ProviderInfo {
  /** The provider's own name, e.g. "GitHub". */
  readonly title: string;
  /** The provider's documentation this scheme follows (how it signs). */
  readonly docs: string;
}

export interface SignatureScheme {
  readonly name: SchemeName;
  readonly provider: ProviderInfo;
  /** Validates a source's settings when it is created or updated; `{}` is the default. */
  readonly settings: z.ZodType<SchemeSettings, unknown>;
  /** Expected failures are values; throws only for a broken invariant (settings that never passed `settings`). */
  verify(input: VerifyInput): VerifyResult;
  /** Never throws: garbage in, a fallback type out. */
  describe(input: DescribeInput): EventFacts;
  /** The headers the provider would send for this body, lower-case names. */
  sign(input: SignInput): Record<string, string>;
  /** A fresh secret in the provider's format. */
  generateSecret(): string;
}
