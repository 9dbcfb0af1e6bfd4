/**
 * The ingest pipeline's shared shapes: what the ingester knows of a source
 * (pushed by the backend, secrets in memory only), what a signature scheme
 * answers, and what travels from the ingester to the backend.
 */
import type { Result } from "../core/index.ts";

export const SCHEME_NAMES = [
  "github",
  "gitlab",
  "stripe",
  "slack",
  "shopify",
  "standard-webhooks",
  "generic-hmac",
  "zenmesh",
  // Asymmetric and special providers: public-key signatures, URL-and-parameters signing, Basic auth, Svix headers.
  "discord",
  "sendgrid",
  "twilio",
  "postmark",
  "clerk",
  "resend",
  "mandrill",
  // Providers as entries over the HMAC engine (src/ingest/providers/).
  "paddle",
  "lemon-squeezy",
  "square",
  "razorpay",
  "coinbase-commerce",
  "linear",
  "intercom",
  "hubspot",
  "typeform",
  "calendly",
  "bitbucket",
  "sentry",
  "vercel",
  "woocommerce",
  "jira",
  "zendesk",
  "webflow",
  "pagerduty",
  "mux",
  "gitea",
  "heroku",
  // Providers with an endpoint check (handshake) answered by their scheme.
  "zoom",
  "twitch",
  "meta",
  // Microsoft Graph change notifications: clientState in the body, validationToken check.
  "microsoft-graph",
] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

/**
 * Which CloudEvents input modes a source takes: `structured` reads the body
 * (structured and batched events), `binary` reads `ce-*` headers, `any` both.
 * A mode is allowed only where the source's scheme signs what it reads.
 */
export const CLOUDEVENTS_MODES = ["off", "structured", "binary", "any"] as const;
export type CloudEventsMode = (typeof CLOUDEVENTS_MODES)[number];

/** A source as the ingester holds it. Secrets are plaintext here: memory only, never logged. */
export interface SourceSnapshot {
  id: string;
  tenantId: string;
  projectId: string;
  scheme: SchemeName;
  settings: Readonly<Record<string, unknown>>;
  signatureRequired: boolean;
  allowPlainHttp: boolean;
  /** Lower-case hex SHA-256 fingerprints of client certificates the source must present (empty: not pinned). */
  clientCertPins: readonly string[];
  maxBodyBytes: number;
  /** Media types accepted (`application/json`, …), without parameters. */
  contentTypes: readonly string[];
  toleranceSeconds: number;
  /** CloudEvents input modes the source opted into (`off`: none; `ce-*` headers are then not read). */
  cloudevents: CloudEventsMode;
  enabled: boolean;
  /** Valid secrets, newest first; an older one carries the end of its overlap. */
  secrets: readonly { version: number; value: string; expiresAt: string | null }[];
  revision: number;
}

export interface VerifyInput {
  /** Lower-case header names; a repeated header's values joined with ", ". */
  headers: Readonly<Record<string, string | undefined>>;
  body: Buffer;
  /** Secrets valid now, newest first. */
  secrets: readonly string[];
  settings: Readonly<Record<string, unknown>>;
  now: Date;
  toleranceSeconds: number;
  /**
   * The URL the provider called, as it called it (the source's public ingest
   * URL with the query received), for schemes that sign it (Twilio).
   */
  url?: string;
}

export interface Verified {
  /** The provider's id for this delivery (X-GitHub-Delivery, webhook-id, …), for replay detection. */
  deliveryId?: string;
  /** The signature that matched, as sent (for "the same signature seen twice"). */
  signature: string;
  /** The signed timestamp, for schemes that sign one. */
  timestamp?: Date;
  /** The delivery id is part of what the signature covers (signed header, or the signed body). */
  deliveryIdSigned?: true;
}

export type VerifyFailure =
  | "missing_signature"
  | "malformed_signature"
  | "bad_signature"
  | "missing_timestamp"
  | "stale"
  | "future"
  | "no_secret";

export type VerifyResult = Result<Verified, VerifyFailure>;

/** What a provider says about an event, from its headers and body. */
export interface EventFacts {
  /** CloudEvents `type`, e.g. `com.github.push`. */
  type: string;
  subject?: string;
  /** The provider's id for the delivery or the event, when it gives one. */
  deliveryId?: string;
  /**
   * The provider's id for the event itself, the same across the provider's
   * retries of it (Stripe's event id, Slack's event_id, GitHub's delivery id),
   * when it gives one: a retry is answered as the first delivery was.
   */
  idempotencyKey?: string;
  time?: Date;
}

/** One verified request, as the ingester hands it to the backend (`POST /internal/events`). */
export interface IngestItem {
  sourceId: string;
  receivedAt: string;
  correlationId: string;
  contentType: string | null;
  /** The raw body (for CloudEvents: the event's data), base64. */
  body: string;
  /** Replay keys: the delivery id and the matched signature (null when the source verifies none). */
  deliveryId: string | null;
  signature: string | null;
  /**
   * The provider's id for the event, the same across its retries
   * (EventFacts.idempotencyKey): remembered for the whole dedupe window, so a
   * retry with a fresh signature is answered with the first event's id and a
   * different body under it is refused. Absent means null.
   */
  idempotencyKey?: string | null;
  /**
   * Whether the signature covers a timestamp. Without one the same request
   * verifies forever, so its signature is remembered for the whole dedupe
   * window. Absent means false.
   */
  signatureTimestamped?: boolean;
  /**
   * Lower-case hex SHA-256 of what tells this event apart beyond its data,
   * from signed material only: a CloudEvent's source, id, type and subject, a
   * provider's signed delivery id. Part of the duplicate fingerprint; null
   * when there is nothing signed to add.
   */
  identity?: string | null;
  ce: {
    type: string;
    subject: string | null;
    time: string;
    dataschema: string | null;
    /** Extension attributes carried over from an incoming CloudEvent (lower-case names). */
    extensions: Record<string, string>;
  };
}

export type IngestOutcome =
  | { status: "stored"; eventId: string }
  | { status: "duplicate"; eventId: string }
  | { status: "replayed" }
  | { status: "rejected"; code: "SOURCE_NOT_FOUND" | "SOURCE_DISABLED" | "VALIDATION_FAILED" };
