/**
 * One outbound webhook attempt: check the destination, connect to exactly the
 * checked address, send, read a bounded excerpt of the answer.
 *
 * Guards against SSRF by DNS rebinding (the socket goes to the address the
 * guard checked; nothing is resolved again at connect time), redirects into
 * internal networks (3xx is an answer, never followed), receivers that hold a
 * worker with endless or trickling bodies (one deadline for the whole attempt,
 * a byte cap on the read), terminal escapes in stored excerpts, and
 * credentials leaking into outcomes (header values never appear in a detail).
 * TLS verifies the URL's host name (SNI per RFC 6066 for names only; an IP
 * literal is checked against the certificate's IP SANs, RFC 6125).
 */
import { getCACertificates } from "node:tls";
import { buildConnector, Pool } from "undici";
import { sha256 } from "../../crypto/index.ts";
import {
  checkDestinationUrl,
  DEFAULT_LOOKUP_TIMEOUT_MS,
  type GuardRefusal,
  type Lookup,
  systemLookup,
} from "../ssrf/guard.ts";
import { type Cidr, parseIpLiteral } from "../ssrf/ip.ts";
import type { ListenerAddress } from "../ssrf/system-listeners.ts";

export interface OutboundRequest {
  url: string;
  method: "POST" | "PUT" | "PATCH";
  /** Complete (signature, content type, credentials); lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
  /** The whole attempt: connect, send, response headers and the capped body read. */
  timeoutMs: number;
  /** mTLS to the target. */
  clientCert?: { certPem: string; keyPem: string } | undefined;
  allowPlainHttp: boolean;
}

export interface SenderOptions {
  lookup?: Lookup;
  allowCidrs?: readonly Cidr[];
  /** zenmesh's own listeners, as known now (they can change while egress runs): never contacted. */
  systemListeners?: () => readonly ListenerAddress[];
  /** Bytes of the response body read before the stream is dropped. Default 64 KiB. */
  maxResponseBytes?: number;
  /** Characters of the body kept as the excerpt. Default 512. */
  excerptChars?: number;
  /** Extra trust roots (PEM), added to the default ones. */
  ca?: string;
  /** Connection pools kept at once. Default 256. */
  maxPools?: number;
  /** A pool unused this long is closed. Default 60 s. */
  poolIdleMs?: number;
}

export type AttemptOutcome =
  | { kind: "response"; status: number; retryAfter: string | undefined; excerpt: string; latencyMs: number }
  | { kind: "refused"; reason: GuardRefusal; detail: string; latencyMs: number }
  | {
      kind: "error";
      errorClass: "connect" | "tls" | "timeout" | "network";
      detail: string;
      latencyMs: number;
    };

export interface Sender {
  send(req: OutboundRequest): Promise<AttemptOutcome>;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;

// Escape sequences are dropped whole (CSI, OSC, two-byte ESC forms), then any
// remaining C0/C1 control, DEL, bidi override and line separator is replaced.
// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what it removes
const ESCAPES = /\u001b(?:\[[0-?]*[ -/]*[@-~]?|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[ -/]*[0-~]?)/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** The first `chars` characters of a body, safe to store and print. */
export function sanitizeExcerpt(body: Buffer, chars: number): string {
  const text = body.toString("utf8").replace(ESCAPES, "").replace(UNSAFE, "\uFFFD");
  return Array.from(text).slice(0, chars).join("");
}

const TIMEOUT_CODES = new Set([
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EADDRNOTAVAIL",
]);
const TLS_CODE = /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|EPROTO$)/;
// Errors undici raises for a malformed request are bugs in the caller, not delivery outcomes.
const BUG_CODES = new Set([
  "UND_ERR_INVALID_ARG",
  "UND_ERR_NOT_SUPPORTED",
  "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
]);

function codes(err: unknown, depth = 0): string[] {
  if (typeof err !== "object" || err === null || depth > 3) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === "string" && /^[A-Z0-9_]{1,60}$/.test(e.code) ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => codes(x, depth + 1)) : [];
  return [...own, ...nested, ...codes(e.cause, depth + 1)];
}

function oneLine(text: string): string {
  const clean = text.replace(UNSAFE, " ").replace(/\s+/g, " ").trim();
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

type ErrorClass = "connect" | "tls" | "timeout" | "network";

function classify(err: unknown, target: string): { errorClass: ErrorClass; detail: string } {
  const all = codes(err);
  const code = all.find((c) => TIMEOUT_CODES.has(c) || CONNECT_CODES.has(c) || TLS_CODE.test(c)) ?? all[0];
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return { errorClass: "timeout", detail: `${code} at ${target}` };
  }
  if (code !== undefined && CONNECT_CODES.has(code)) {
    return { errorClass: "connect", detail: `could not connect to ${target} (${code})` };
  }
  if (code !== undefined && TLS_CODE.test(code)) {
    // Node's TLS messages name certificates and hosts, never request headers.
    const message = err instanceof Error ? `: ${oneLine(err.message)}` : "";
    return { errorClass: "tls", detail: `TLS with ${target} failed (${code})${message}` };
  }
  return { errorClass: "network", detail: `${code ?? "network error"} with ${target}` };
}

interface PoolEntry {
  pool: Pool;
  lastUsed: number;
  inFlight: number;
}

export function createSender(opts: SenderOptions = {}): Sender {
  const lookup = opts.lookup ?? systemLookup;
  const allowCidrs = opts.allowCidrs ?? [];
  const systemListeners = opts.systemListeners ?? (() => []);
  const maxBytes = opts.maxResponseBytes ?? 64 * 1024;
  const excerptChars = opts.excerptChars ?? 512;
  const maxPools = opts.maxPools ?? 256;
  const idleMs = opts.poolIdleMs ?? 60_000;
  const ca = opts.ca === undefined ? undefined : [...getCACertificates("default"), opts.ca];
  // Map order is recency order: an entry is re-inserted on every use.
  const pools = new Map<string, PoolEntry>();
  let closed = false;
  let lastSweep = performance.now();

  function retire(key: string, entry: PoolEntry): void {
    pools.delete(key);
    entry.pool.close().catch(() => {});
  }

  function poolFor(url: URL, hostname: string, address: string, req: OutboundRequest): PoolEntry {
    const cert = req.clientCert;
    const certId = cert === undefined ? "-" : sha256(`${cert.certPem}\n${cert.keyPem}`).toString("hex");
    const key = `${url.origin} ${address} ${certId}`;
    const now = performance.now();
    const found = pools.get(key);
    if (found !== undefined) pools.delete(key);
    if (found === undefined || now - lastSweep > 1000) {
      lastSweep = now;
      for (const [k, e] of pools) {
        if (e.inFlight === 0 && (now - e.lastUsed > idleMs || pools.size >= maxPools)) retire(k, e);
      }
    }
    if (found !== undefined) {
      pools.set(key, found);
      return found;
    }
    const tls = url.protocol === "https:";
    const base = buildConnector({
      timeout: CONNECT_TIMEOUT_MS,
      allowH2: false,
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert: cert.certPem, key: cert.keyPem }),
    });
    const isIp = parseIpLiteral(hostname) !== null;
    const pool = new Pool(url.origin, {
      // The pin: whatever the URL names, the socket goes to the checked address.
      connect: (o, cb) =>
        base({ ...o, hostname: address, ...(tls && !isIp ? { servername: hostname } : {}) }, cb),
      allowH2: false,
      pipelining: 1,
      connections: 16,
    });
    const entry: PoolEntry = { pool, lastUsed: now, inFlight: 0 };
    pools.set(key, entry);
    return entry;
  }

  async function send(req: OutboundRequest): Promise<AttemptOutcome> {
    if (closed) throw new Error("the sender is closed");
    if (!(req.timeoutMs > 0 && req.timeoutMs <= 2_147_483_647))
      throw new Error("timeoutMs must be a positive number");
    const started = performance.now();
    const latency = (): number => Math.round((performance.now() - started) * 1000) / 1000;
    const checked = await checkDestinationUrl(req.url, {
      lookup,
      allowCidrs,
      allowPlainHttp: req.allowPlainHttp,
      systemListeners: systemListeners(),
      lookupTimeoutMs: Math.min(DEFAULT_LOOKUP_TIMEOUT_MS, req.timeoutMs),
    });
    if (!checked.ok) {
      return { kind: "refused", reason: checked.reason, detail: checked.detail, latencyMs: latency() };
    }
    const { url, hostname, address, family } = checked.value;
    const target = `${family === 6 ? `[${address}]` : address}:${url.port || (url.protocol === "https:" ? 443 : 80)}`;
    const entry = poolFor(url, hostname, address, req);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      // The Host header (and with it SNI) always comes from the checked URL.
      if (name.toLowerCase() !== "host") headers[name] = value;
    }
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error("attempt deadline")), req.timeoutMs);
    entry.inFlight++;
    try {
      const res = await entry.pool.request({
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers,
        body: req.body,
        signal: deadline.signal,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
      const chunks: Buffer[] = [];
      let read = 0;
      // Leaving the loop destroys the stream: the rest is never read.
      for await (const chunk of res.body) {
        if (read >= maxBytes) break;
        const buf = (chunk as Buffer).subarray(0, maxBytes - read);
        chunks.push(buf);
        read += buf.length;
        if (read >= maxBytes) break;
      }
      const ra = res.headers["retry-after"];
      const retryAfter = Array.isArray(ra) ? ra[0] : ra;
      return {
        kind: "response",
        status: res.statusCode,
        retryAfter: retryAfter === undefined ? undefined : oneLine(retryAfter).slice(0, 100),
        excerpt: sanitizeExcerpt(Buffer.concat(chunks), excerptChars),
        latencyMs: latency(),
      };
    } catch (err) {
      if (deadline.signal.aborted) {
        return {
          kind: "error",
          errorClass: "timeout",
          detail: `no complete answer from ${target} within ${req.timeoutMs} ms`,
          latencyMs: latency(),
        };
      }
      if (codes(err).some((c) => BUG_CODES.has(c))) throw err;
      return { kind: "error", ...classify(err, target), latencyMs: latency() };
    } finally {
      clearTimeout(timer);
      entry.inFlight--;
      entry.lastUsed = performance.now();
    }
  }

  async function close(): Promise<void> {
    closed = true;
    const all = [...pools.values()];
    pools.clear();
    await Promise.all(all.map((e) => e.pool.destroy().catch(() => {})));
  }

  return { send, close };
}
