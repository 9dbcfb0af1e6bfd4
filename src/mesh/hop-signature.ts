/**
 * Signed internal hops: the `X-Zen-Signature` header (ARCHITECTURE.md section 5).
 *
 *   X-Zen-Signature: t=<unix seconds>,n=<nonce>,k=<key id>,v1=<base64url HMAC-SHA256>
 *   signed string:   "v1\n" METHOD "\n" path-with-query "\n" t "\n" n "\n" hex(SHA-256(body))
 *
 * Guards a hop against forgery (HMAC, RFC 2104, compared in constant time),
 * tampering with method, path, query or body, and replay: a timestamp window
 * (default ±300 s) plus a single-use nonce per key id, remembered for longer
 * than a timestamp stays acceptable: the tolerance on each side, plus the one
 * second a whole-second timestamp adds, plus a margin (NONCE_MARGIN_SECONDS)
 * for the nonce store's clock and the time between check and claim. The nonce is claimed only after the MAC verifies, so a forger cannot
 * burn a legitimate signer's nonces. A nonce store that cannot answer makes
 * verification fail closed.
 */
import { randomBytes } from "node:crypto";
import { type Clock, type Result, systemClock } from "../core/index.ts";
import { hmacSha256, sha256, timingSafeEqualBytes } from "../crypto/index.ts";
import type { NonceStore } from "./nonce-store.ts";

export const HOP_SIGNATURE_HEADER = "x-zen-signature";
export const DEFAULT_HOP_TOLERANCE_SECONDS = 300;
const DEFAULT_STORE_TIMEOUT_MS = 2000;
/** Seconds a nonce is kept beyond the widest window its timestamp is accepted in. */
export const NONCE_MARGIN_SECONDS = 5;

/**
 * How long a nonce must be remembered: a timestamp t is accepted while the
 * verifier's whole second lies in [t - tolerance, t + tolerance], that is
 * for up to 2 × tolerance + 1 seconds after the first accepted moment.
 */
export function hopNonceTtlMs(toleranceSeconds: number): number {
  return (2 * toleranceSeconds + 1 + NONCE_MARGIN_SECONDS) * 1000;
}

export type HopRejectReason =
  | "missing"
  | "malformed"
  | "unknown_key"
  | "foreign_key"
  | "stale"
  | "future"
  | "bad_signature"
  | "replayed"
  | "store_unavailable";

export interface HopSignatureParts {
  timestamp: number;
  nonce: string;
  keyId: string;
  /** The decoded MAC (32 bytes). */
  mac: Buffer;
}

export interface VerifiedHop {
  keyId: string;
  timestamp: number;
  nonce: string;
}

export interface HopRejectionMeta {
  method: string;
  path: string;
  keyId?: string;
}

export interface HopSigner {
  readonly keyId: string;
  /** The header value for one request. Every call draws a fresh nonce. */
  sign(method: string, path: string, body: Uint8Array): string;
}

export interface HopVerifier {
  /**
   * `ownKey` says whether a key id belongs to the caller (the peer of the
   * connection); a key it refuses is `foreign_key`, before any MAC work or
   * nonce is spent.
   */
  verify(
    method: string,
    path: string,
    body: Uint8Array,
    header: string | undefined,
    ownKey?: (keyId: string) => boolean,
  ): Promise<Result<VerifiedHop, HopRejectReason>>;
}

const TIMESTAMP = /^[0-9]{1,12}$/;
// 128 bits are 22 base64url symbols; longer nonces are accepted, shorter never.
const NONCE = /^[A-Za-z0-9_-]{22,128}$/;
const KEY_ID = /^[A-Za-z0-9._:/-]{1,128}$/;
// 32 bytes, unpadded base64url.
const MAC = /^[A-Za-z0-9_-]{43}$/;
const MAX_HEADER_LENGTH = 512;

export function hopSignedString(
  method: string,
  path: string,
  timestamp: number,
  nonce: string,
  body: Uint8Array,
): string {
  return `v1\n${method.toUpperCase()}\n${path}\n${timestamp}\n${nonce}\n${sha256(body).toString("hex")}`;
}

export function formatHopSignature(parts: HopSignatureParts): string {
  return `t=${parts.timestamp},n=${parts.nonce},k=${parts.keyId},v1=${parts.mac.toString("base64url")}`;
}

/** Strict: each of t, n, k, v1 exactly once, nothing else. */
export function parseHopSignature(header: string): HopSignatureParts | undefined {
  if (header.length > MAX_HEADER_LENGTH) return undefined;
  const fields = new Map<string, string>();
  for (const item of header.split(",")) {
    const eq = item.indexOf("=");
    if (eq <= 0) return undefined;
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (fields.has(name)) return undefined;
    fields.set(name, value);
  }
  if (fields.size !== 4) return undefined;
  const t = fields.get("t");
  const n = fields.get("n");
  const k = fields.get("k");
  const v1 = fields.get("v1");
  if (t === undefined || n === undefined || k === undefined || v1 === undefined) return undefined;
  if (!TIMESTAMP.test(t) || !NONCE.test(n) || !KEY_ID.test(k) || !MAC.test(v1)) return undefined;
  const mac = Buffer.from(v1, "base64url");
  if (mac.byteLength !== 32) return undefined;
  return { timestamp: Number(t), nonce: n, keyId: k, mac };
}

export function createHopSigner(opts: { keyId: string; key: Uint8Array; clock?: Clock }): HopSigner {
  if (!KEY_ID.test(opts.keyId)) throw new Error("hop signer: malformed key id");
  if (opts.key.byteLength < 16) throw new Error("hop signer: key too short");
  const key = Buffer.from(opts.key);
  const clock = opts.clock ?? systemClock;
  return {
    keyId: opts.keyId,
    sign(method, path, body) {
      const timestamp = Math.floor(clock.now().getTime() / 1000);
      const nonce = randomBytes(16).toString("base64url");
      const mac = hmacSha256(key, hopSignedString(method, path, timestamp, nonce, body));
      return formatHopSignature({ timestamp, nonce, keyId: opts.keyId, mac });
    },
  };
}

export interface HopVerifierOptions {
  /** The key for a key id, or undefined when the id is not (or no longer) trusted. */
  keys: (keyId: string) => Uint8Array | undefined;
  nonces: NonceStore;
  toleranceSeconds?: number;
  clock?: Clock;
  /** A nonce store slower than this counts as unavailable (fail closed). Default 2000 ms. */
  storeTimeoutMs?: number;
  onRejected?: (reason: HopRejectReason, meta: HopRejectionMeta) => void;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("nonce store timed out")), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export function createHopVerifier(opts: HopVerifierOptions): HopVerifier {
  const tolerance = opts.toleranceSeconds ?? DEFAULT_HOP_TOLERANCE_SECONDS;
  if (!Number.isInteger(tolerance) || tolerance < 1) throw new Error("hop verifier: bad tolerance");
  const clock = opts.clock ?? systemClock;
  const storeTimeoutMs = opts.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  const nonceTtlMs = hopNonceTtlMs(tolerance);

  return {
    async verify(method, path, body, header, ownKey) {
      const reject = (reason: HopRejectReason, keyId?: string): { ok: false; reason: HopRejectReason } => {
        opts.onRejected?.(reason, keyId === undefined ? { method, path } : { method, path, keyId });
        return { ok: false, reason };
      };
      if (header === undefined || header === "") return reject("missing");
      const parts = parseHopSignature(header);
      if (parts === undefined) return reject("malformed");
      const key = opts.keys(parts.keyId);
      if (key === undefined) return reject("unknown_key", parts.keyId);
      if (ownKey !== undefined && !ownKey(parts.keyId)) return reject("foreign_key", parts.keyId);
      const expected = hmacSha256(key, hopSignedString(method, path, parts.timestamp, parts.nonce, body));
      if (!timingSafeEqualBytes(expected, parts.mac)) return reject("bad_signature", parts.keyId);
      const now = Math.floor(clock.now().getTime() / 1000);
      if (parts.timestamp < now - tolerance) return reject("stale", parts.keyId);
      if (parts.timestamp > now + tolerance) return reject("future", parts.keyId);
      let first: boolean;
      try {
        first = await withTimeout(opts.nonces.claim(parts.keyId, parts.nonce, nonceTtlMs), storeTimeoutMs);
      } catch {
        return reject("store_unavailable", parts.keyId);
      }
      if (!first) return reject("replayed", parts.keyId);
      return { ok: true, value: { keyId: parts.keyId, timestamp: parts.timestamp, nonce: parts.nonce } };
    },
  };
}
