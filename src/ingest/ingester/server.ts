/**
 * The public ingest listener: `POST /e/{source_id}`. Guards against forged
 * and replayed webhooks (provider signature schemes with timestamp windows,
 * replay keys checked by the backend), oversized or slow requests (hard body
 * cap, header and request timeouts), wrong media types, plain HTTP where a
 * source did not allow it, and probing for source ids (an unknown source costs
 * the same work as a known one with a bad signature), and floods of large
 * bodies (caps on connections and body bytes in flight, per client and in
 * all; a signature header absent or malformed refused before the body is
 * read; at most the cap of secret versions tried, large bodies verified off
 * the event loop). It answers 202 only
 * after the backend committed the event; when the backend cannot be reached
 * it answers 503 with Retry-After and stores nothing.
 *
 * A provider's endpoint check (Slack url_verification, Meta's GET
 * hub.challenge, …) is answered by the source's own scheme, only when that
 * scheme recognises it and its signature or token checks, and is never
 * handed to the backend: it is not an event. GET reaches only sources whose
 * scheme has a handshake. A redelivery the backend recognises (same delivery
 * id, idempotency key or signature, same body) is answered 202 with the first
 * event's id and `duplicate: true`.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { type Clock, correlationIdFrom, isZenError, ZenError } from "../../core/index.ts";
import { hmacSha256, sha256 } from "../../crypto/index.ts";
import type { Logger } from "../../log/index.ts";
import { type ContentMode, detectMode, ingestFields, parseIncoming } from "../cloudevents/index.ts";
import { MAX_HANDSHAKE_BODY } from "../schemes/handshake.ts";
import { getScheme, type SignatureScheme } from "../schemes/index.ts";
import { headerFailure } from "../schemes/precheck.ts";
import type { HandshakeAnswer, HandshakeRefusal } from "../schemes/scheme.ts";
import type { IngestItem, IngestOutcome, SourceSnapshot, Verified } from "../types.ts";
import type { Batcher } from "./batcher.ts";
import { clientKey, createAdmission, DEFAULT_INGEST_LIMITS, type IngestLimits } from "./limits.ts";
import { headerMap, mediaType, readBody } from "./request.ts";
import type { SourceCache } from "./source-cache.ts";
import { createVerifyPool, type VerifyPool } from "./verify-pool.ts";

const HEALTH_PATH = "/healthz";
const PATH = /^\/e\/([^/?#]{1,64})(?:\?.*)?$/;
const DEFAULT_MAX_BODY = 1024 * 1024;
/** How long a connection over a cap may stay open for its answer. */
const REFUSED_SOCKET_MS = 5_000;
const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json$/;
/** Longest a refusal waits for the backend's latest changes before it is answered from the snapshot held. */
const REFRESH_WAIT_MS = 1_000;
/** Secret versions tried per request unless configured (`ingest.maxSecretVersions`). */
const DEFAULT_MAX_SECRET_VERSIONS = 3;

export interface IngestServerOptions {
  sources: SourceCache;
  batcher: Batcher;
  logger: Logger;
  clock: Clock;
  host: string;
  port: number;
  /** HTTPS with these (production); plain HTTP without (dev, loopback only). */
  tls?: { cert: string; key: string } | undefined;
  /** Whether a source's allow_plain_http may take effect here (dev profile on loopback). */
  plainHttpAllowed: boolean;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Caps on connections and body bytes in flight (default DEFAULT_INGEST_LIMITS). */
  limits?: Partial<IngestLimits>;
  /** Secret versions tried per request, newest first: a source pushed with more is bounded here too. */
  maxSecretVersions?: number;
  /** Threads verifying large bodies (default: the cores but one, 1–4). */
  verifyThreads?: number;
  /**
   * The base URL senders call (`ingest.publicUrl`, what sources show as
   * `ingest_url`; default the listener's own): schemes that sign the URL they
   * called (Twilio) verify against it with the path and query received.
   */
  publicUrl?: string;
  onOutcome?(outcome: string): void;
}

export interface IngestServer {
  url: string;
  /** Connections and body bytes held now (admitted ones), for tests and metrics. */
  load(): { connections: number; inflightBytes: number; clients: number };
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

function fail(res: ServerResponse, err: ZenError, correlationId: string) {
  const headers: Record<string, string> = { "x-correlation-id": correlationId, ...(err.headers ?? {}) };
  // A request whose body we stopped reading (or never read) must not keep the connection.
  if (err.code === "PAYLOAD_TOO_LARGE" || !res.req.complete) headers.connection = "close";
  reply(
    res,
    err.status,
    {
      error: {
        code: err.code,
        message: err.message,
        correlation_id: correlationId,
        ...(err.details && err.status < 500 ? { details: err.details } : {}),
      },
    },
    headers,
  );
}

/** The newest `max` secrets that verify at `now` (the snapshot lists them newest first). */
function validSecrets(source: SourceSnapshot, now: Date, max: number): string[] {
  const out: string[] = [];
  for (const s of source.secrets) {
    if (out.length === max) break;
    if (s.expiresAt === null || Date.parse(s.expiresAt) > now.getTime()) out.push(s.value);
  }
  return out;
}

function checkTransport(req: IncomingMessage, source: SourceSnapshot, opts: IngestServerOptions): void {
  const tls = (req.socket as TLSSocket).encrypted === true;
  if (!tls && !(opts.plainHttpAllowed && source.allowPlainHttp)) throw new ZenError("PLAIN_HTTP_NOT_ALLOWED");
  if (source.clientCertPins.length > 0) {
    const raw = tls ? (req.socket as TLSSocket).getPeerCertificate()?.raw : undefined;
    const fingerprint = raw ? new X509Certificate(raw).fingerprint256.replaceAll(":", "").toLowerCase() : "";
    if (!source.clientCertPins.includes(fingerprint)) throw new ZenError("CLIENT_CERT_REJECTED");
  }
}

/**
 * The source's snapshot once the changes committed until now are in, when it
 * differs from `seen`; undefined when nothing changed (or the backend did not
 * answer in time). A refusal that rests on the snapshot (unknown source,
 * media type, signature) asks this first, so a change made through the API
 * just before the request decides it.
 */
async function fresher(
  sources: SourceCache,
  id: string,
  seen: SourceSnapshot | undefined,
): Promise<SourceSnapshot | undefined> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    sources.refresh(),
    new Promise((r) => {
      timer = setTimeout(r, REFRESH_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
  const now = sources.get(id);
  return now !== undefined && now !== seen ? now : undefined;
}

/** Refuses, before the body is read, a request whose signature headers cannot verify whatever the body. */
function precheck(source: SourceSnapshot, headers: Record<string, string>, now: Date): void {
  if (!source.signatureRequired) return;
  const reason = headerFailure(source.scheme, headers, source.settings, now, source.toleranceSeconds);
  if (reason !== undefined) throw new ZenError("SIGNATURE_INVALID", { details: { reason } });
}

/** The verified signature (undefined when the source verifies none) and the body, which may come back as a new Buffer. */
async function verify(
  pool: VerifyPool,
  source: SourceSnapshot,
  headers: Record<string, string>,
  body: Buffer,
  now: Date,
  maxSecrets: number,
  url: string,
): Promise<{ verified: Verified | undefined; body: Buffer }> {
  if (!source.signatureRequired) return { verified: undefined, body };
  const r = await pool.verify(source.scheme, {
    headers,
    body,
    secrets: validSecrets(source, now, maxSecrets),
    settings: source.settings,
    now,
    toleranceSeconds: source.toleranceSeconds,
    url,
  });
  if (!r.result.ok) throw new ZenError("SIGNATURE_INVALID", { details: { reason: r.result.reason } });
  return { verified: r.result.value, body: r.body };
}

/**
 * The CloudEvents mode this request is read in: only one the source opted
 * into (and which its scheme signs, checked when the source was saved). A
 * CloudEvents media type the source did not opt into is refused; `ce-*`
 * headers on a source that did not opt into binary mode are not read, so an
 * unsigned header can never name the event.
 */
function modeOf(source: SourceSnapshot, headers: Record<string, string>): ContentMode {
  const mode = detectMode(headers);
  const opted = source.cloudevents;
  if (mode === "structured" || mode === "batch") {
    if (opted === "structured" || opted === "any") return mode;
    throw new ZenError("UNSUPPORTED_MEDIA_TYPE");
  }
  return mode === "binary" && (opted === "binary" || opted === "any") ? "binary" : "none";
}

/** The event inside a body its provider wraps (GitHub's form `payload`), once the raw body verified. */
function unwrap(
  scheme: SignatureScheme,
  contentType: string,
  body: Buffer,
): { body: Buffer; contentType: string } {
  const decoded = scheme.decodeBody?.(contentType, body);
  if (decoded === undefined) return { body, contentType };
  if (!decoded.ok) throw new ZenError("MALFORMED_REQUEST", { details: { reason: decoded.reason } });
  return { body: decoded.body, contentType: decoded.contentType };
}

/** Hex SHA-256 of signed attributes that tell events apart beyond their data (see IngestItem.identity). */
const identityOf = (parts: readonly (string | null)[]) => sha256(JSON.stringify(parts)).toString("hex");

function itemsOf(
  source: SourceSnapshot,
  mode: ContentMode,
  headers: Record<string, string>,
  body: Buffer,
  contentType: string,
  verified: Verified | undefined,
  correlationId: string,
  now: Date,
): IngestItem[] {
  const base = {
    sourceId: source.id,
    receivedAt: now.toISOString(),
    correlationId,
    signatureTimestamped: verified?.timestamp !== undefined,
  };
  if (mode !== "none") {
    const parsed = parseIncoming(mode, headers, body);
    if (!parsed.ok) throw new ZenError("CLOUDEVENT_INVALID", { details: { reason: parsed.reason } });
    return parsed.value.map((e, i) => {
      const fields = ingestFields(e, now);
      return {
        ...base,
        ...fields,
        // CloudEvents ids are unique per source (spec 3.1): (source, id) is the replay key, hashed to bound it.
        deliveryId: fields.deliveryId === null ? null : `ce:${sha256(fields.deliveryId).toString("hex")}`,
        // One request, one signature: it is a replay key for the request, not for each event in a batch.
        signature: i === 0 ? (verified?.signature ?? null) : null,
        identity: identityOf(["ce", e.source, e.id, e.type, e.subject ?? null]),
      };
    });
  }
  let json: unknown;
  if (JSON_TYPE.test(contentType)) {
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      throw new ZenError("MALFORMED_JSON");
    }
  }
  const facts = getScheme(source.scheme).describe({ headers, body, json, settings: source.settings });
  return [
    {
      ...base,
      contentType,
      body: body.toString("base64"),
      deliveryId: verified?.deliveryId ?? facts.deliveryId ?? null,
      signature: verified?.signature ?? null,
      idempotencyKey: facts.idempotencyKey ?? null,
      // The provider's type is read from its documented header or the body; only a signed delivery id is added.
      identity:
        verified?.deliveryIdSigned === true && verified.deliveryId !== undefined
          ? identityOf(["delivery", verified.deliveryId])
          : null,
      ce: {
        type: facts.type,
        subject: facts.subject ?? null,
        time: (facts.time ?? now).toISOString(),
        dataschema: null,
        extensions: {},
      },
    },
  ];
}

/** The provider's documented answer to its endpoint check, as the scheme wrote it. */
function replyHandshake(res: ServerResponse, a: HandshakeAnswer, correlationId: string) {
  res.writeHead(a.status, {
    ...a.headers,
    "content-length": Buffer.byteLength(a.body),
    "cache-control": "no-store",
    "x-correlation-id": correlationId,
  });
  res.end(a.body);
}

function handshakeRefused(reason: HandshakeRefusal): ZenError {
  return reason === "malformed_challenge"
    ? new ZenError("MALFORMED_REQUEST", { message: "The challenge cannot be answered.", details: { reason } })
    : new ZenError("SIGNATURE_INVALID", { details: { reason } });
}

/** The query string's parameters; empty without one. */
function queryOf(url: string): URLSearchParams {
  const q = url.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
}

function answer(res: ServerResponse, outcomes: IngestOutcome[], batch: boolean, correlationId: string) {
  const h = { "x-correlation-id": correlationId };
  if (!batch) {
    const o = outcomes[0]!;
    switch (o.status) {
      case "stored":
        return reply(res, 202, { id: o.eventId }, h);
      case "duplicate":
        return reply(res, 202, { id: o.eventId, duplicate: true }, h);
      case "replayed":
        return fail(res, new ZenError("REPLAY_DETECTED"), correlationId);
      case "rejected":
        return fail(
          res,
          new ZenError(o.code === "VALIDATION_FAILED" ? "VALIDATION_FAILED" : "SOURCE_NOT_FOUND"),
          correlationId,
        );
      default: {
        const never: never = o;
        throw new Error(`unknown outcome ${String(never)}`);
      }
    }
  }
  const events = outcomes.map((o) =>
    o.status === "stored"
      ? { id: o.eventId }
      : o.status === "duplicate"
        ? { id: o.eventId, duplicate: true }
        : { error: o.status === "replayed" ? "REPLAY_DETECTED" : o.code },
  );
  reply(res, 202, { events }, h);
}

/**
 * `GET /healthz`, for load balancers: 200 once the source directory is loaded
 * (webhooks can be verified), 503 before. It reads no source, takes no share
 * of the admission caps' body bytes and is not counted as a webhook outcome.
 */
function health(res: ServerResponse, ready: boolean) {
  if (res.req.method === "HEAD") {
    res.writeHead(ready ? 200 : 503, { "cache-control": "no-store" }).end();
    return;
  }
  reply(res, ready ? 200 : 503, { status: ready ? "ok" : "starting" });
}

/**
 * One line per webhook: a refusal at info (an operator wiring a provider sees
 * why it was refused at the default level), an acceptance at debug. Only the
 * source id, scheme, event id and the refusal's code and reason are logged;
 * an unknown source's id is the caller's text and is not repeated.
 */
function logOutcome(
  logger: Logger,
  o: {
    correlationId: string;
    source: SourceSnapshot | undefined;
    eventId: string | undefined;
    outcome: string;
    reason: string | undefined;
    ms: number;
  },
) {
  const fields = {
    correlation_id: o.correlationId,
    source_id: o.source?.id ?? null,
    scheme: o.source?.scheme ?? null,
    ms: o.ms,
  };
  if (o.eventId !== undefined) {
    logger.debug({ ...fields, event_id: o.eventId, outcome: o.outcome }, "webhook accepted");
  } else if (o.outcome === "empty") {
    logger.debug({ ...fields, outcome: o.outcome }, "webhook accepted");
  } else {
    logger.info(
      { ...fields, outcome: o.outcome, ...(o.reason === undefined ? {} : { reason: o.reason }) },
      "webhook refused",
    );
  }
}

export async function startIngestServer(opts: IngestServerOptions): Promise<IngestServer> {
  // Work done for an unknown source, so its answer takes as long as a bad signature's.
  const decoyKey = randomBytes(32);
  const limits: IngestLimits = { ...DEFAULT_INGEST_LIMITS, ...opts.limits };
  const admission = createAdmission(limits);
  const pool = createVerifyPool(opts.verifyThreads === undefined ? {} : { threads: opts.verifyThreads });
  const maxSecrets = opts.maxSecretVersions ?? DEFAULT_MAX_SECRET_VERSIONS;
  // Sockets over a connection cap, by "address:port" (the same for a TLS socket and the TCP one under it).
  const refusedSockets = new Map<string, ZenError>();
  const socketName = (s: Socket) => `${s.remoteAddress}:${s.remotePort}`;
  // Set once listening (the listener's own URL unless configured); no request is handled before.
  let publicBase = opts.publicUrl?.replace(/\/+$/, "") ?? "";

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const correlationId = correlationIdFrom(req.headers);
    const started = performance.now();
    let outcome = "error";
    // What the outcome's log line may say: metadata the server decided, never header values or bodies.
    let known: SourceSnapshot | undefined;
    let eventId: string | undefined;
    let reason: string | undefined;
    const client = clientKey(req.socket.remoteAddress);
    const reservation = admission.reserve(client);
    try {
      const refused = refusedSockets.size === 0 ? undefined : refusedSockets.get(socketName(req.socket));
      if (refused) throw refused;
      const get = req.method === "GET";
      const notAllowed = () => new ZenError("METHOD_NOT_ALLOWED", { headers: { allow: "POST" } });
      if (req.method !== "POST" && !get) throw notAllowed();
      const m = PATH.exec(req.url ?? "");
      if (!m) throw get ? notAllowed() : new ZenError("NOT_FOUND");
      if (!opts.sources.ready()) {
        throw new ZenError("UNAVAILABLE", { headers: { "retry-after": "2" } });
      }
      const id = m[1]!;
      let source = opts.sources.get(id);
      if (!source?.enabled && !get) source = (await fresher(opts.sources, id, source)) ?? source;
      known = source;
      // A GET is a handshake or nothing: only a source whose scheme has one takes it.
      const scheme: SignatureScheme | undefined = source?.enabled ? getScheme(source.scheme) : undefined;
      if (get && scheme?.handshake === undefined) throw notAllowed();
      if (!source?.enabled || scheme === undefined) {
        const body = await readBody(req, DEFAULT_MAX_BODY, reservation);
        hmacSha256(decoyKey, body);
        throw new ZenError("SOURCE_NOT_FOUND");
      }
      checkTransport(req, source, opts);
      const requestType = mediaType(req);
      const accepts = (s: SourceSnapshot) =>
        requestType !== undefined && s.contentTypes.includes(requestType);
      if (!accepts(source)) {
        const newer = await fresher(opts.sources, id, source);
        if (newer?.enabled && accepts(newer)) source = newer;
      }
      const accepted = accepts(source);
      // A provider's check may come in a media type its events do not use: the scheme sees it first.
      if (!accepted && scheme.handshake === undefined) throw new ZenError("UNSUPPORTED_MEDIA_TYPE");
      const headers = headerMap(req);
      const now = opts.clock.now();
      if (!get) precheck(source, headers, now);
      // The URL as the sender called it: the public base (never the Host header, which the sender picks).
      const url = `${publicBase}${req.url ?? ""}`;
      // A body in a media type the source does not take can only be a handshake: a small one.
      const limit = get
        ? 0
        : accepted
          ? source.maxBodyBytes
          : Math.min(source.maxBodyBytes, MAX_HANDSHAKE_BODY);
      const read = await readBody(req, limit, reservation);
      if (scheme.handshake !== undefined && read.length <= MAX_HANDSHAKE_BODY) {
        const h = scheme.handshake({
          method: get ? "GET" : "POST",
          query: queryOf(req.url ?? ""),
          url,
          headers,
          body: read,
          secrets: validSecrets(source, now, maxSecrets),
          settings: source.settings,
          now,
          toleranceSeconds: source.toleranceSeconds,
        });
        if (h !== undefined && "answer" in h) {
          replyHandshake(res, h.answer, correlationId);
          outcome = "handshake";
          return;
        }
        if (h !== undefined) {
          outcome = "handshake_refused";
          fail(res, handshakeRefused(h.refused), correlationId);
          return;
        }
      }
      if (get) throw notAllowed();
      if (!accepted || requestType === undefined) throw new ZenError("UNSUPPORTED_MEDIA_TYPE");
      let mode = modeOf(source, headers);
      let verifiedBody: Awaited<ReturnType<typeof verify>>;
      try {
        verifiedBody = await verify(pool, source, headers, read, now, maxSecrets, url);
      } catch (err) {
        // A secret rotated a moment ago may not be here yet: verify once more with the latest one.
        const newer =
          isZenError(err) && err.code === "SIGNATURE_INVALID"
            ? await fresher(opts.sources, id, source)
            : undefined;
        if (newer?.enabled !== true || !accepts(newer)) throw err;
        source = newer;
        mode = modeOf(source, headers);
        verifiedBody = await verify(pool, source, headers, read, now, maxSecrets, url);
      }
      const { verified } = verifiedBody;
      const { body, contentType } = unwrap(scheme, requestType, verifiedBody.body);
      const items = itemsOf(source, mode, headers, body, contentType, verified, correlationId, now);
      if (items.length === 0) {
        reply(res, 202, { events: [] }, { "x-correlation-id": correlationId });
        outcome = "empty";
        return;
      }
      let outcomes: IngestOutcome[];
      try {
        outcomes = await opts.batcher.submit(items);
      } catch (err) {
        // Not stored, or not known to be: never a 2xx. The sender retries.
        throw new ZenError("UNAVAILABLE", { cause: err, headers: { "retry-after": "5" } });
      }
      outcome = outcomes.length === 1 ? outcomes[0]!.status : "batch";
      const first = outcomes[0];
      if (first && (first.status === "stored" || first.status === "duplicate")) eventId = first.eventId;
      answer(res, outcomes, mode === "batch", correlationId);
    } catch (err) {
      const z = isZenError(err) ? err : new ZenError("INTERNAL", { cause: err });
      outcome = z.code;
      if (typeof z.details?.reason === "string") reason = z.details.reason;
      if (z.status >= 500 && z.code !== "UNAVAILABLE") {
        opts.logger.error({ correlation_id: correlationId, err: z.cause ?? z }, "ingest failed");
      }
      fail(res, z, correlationId);
    } finally {
      reservation.release();
      opts.onOutcome?.(outcome);
      logOutcome(opts.logger, {
        correlationId,
        source: known,
        eventId,
        outcome,
        reason,
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === HEALTH_PATH && (req.method === "GET" || req.method === "HEAD")) {
      health(res, opts.sources.ready());
      return;
    }
    handle(req, res).catch((err: unknown) => {
      opts.logger.error({ err }, "ingest handler crashed");
      if (!res.headersSent) res.destroy();
    });
  };
  const serverOptions = {
    maxHeaderSize: 16 * 1024,
    requestTimeout: opts.requestTimeoutMs ?? 30_000,
    headersTimeout: opts.headersTimeoutMs ?? 10_000,
    keepAliveTimeout: 5_000,
    // Node enforces the two timeouts above only as often as it checks; the default is 30 s.
    connectionsCheckingInterval: 1_000,
  };
  const server: Server = opts.tls
    ? createHttpsServer(
        {
          ...serverOptions,
          cert: opts.tls.cert,
          key: opts.tls.key,
          requestCert: true,
          rejectUnauthorized: false,
        },
        listener,
      )
    : createHttpServer(serverOptions, listener);
  server.maxHeadersCount = 100;
  // Counted on the TCP connection, before TLS: a handshake that never finishes holds a socket too.
  server.on("connection", (socket: Socket) => {
    const client = clientKey(socket.remoteAddress);
    const refused = admission.connect(client);
    if (refused === undefined) {
      socket.once("close", () => admission.closed(client));
      return;
    }
    // Over a cap: its requests are answered at once, without reading a body. Refused sockets are bounded
    // too (as many as the cap), and held at most a few seconds; past that they are dropped unanswered.
    if (refusedSockets.size >= limits.maxConnections) {
      socket.destroy();
      return;
    }
    const name = socketName(socket);
    refusedSockets.set(name, refused);
    socket.setTimeout(REFUSED_SOCKET_MS, () => socket.destroy());
    socket.once("close", () => refusedSockets.delete(name));
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    // A client too slow with its headers or body gets 408; headers over the limit 431; anything else
    // unparsable 400. Never a stack trace.
    const status =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "408 Request Timeout"
        : err.code === "HPE_HEADER_OVERFLOW"
          ? "431 Request Header Fields Too Large"
          : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `${opts.tls ? "https" : "http"}://${host}:${addr.port}`;
  if (publicBase === "") publicBase = url;
  return {
    url,
    load: () => admission.load(),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await pool.close();
    },
  };
}
