/**
 * Peer identity on internal connections (ARCHITECTURE.md section 4, SPIFFE
 * X509-SVID spec sections 4 and 5). TLS has already checked the chain against
 * the trust bundle; here the leaf is checked as an SVID (one URI SAN in our
 * trust domain, leaf constraints, validity now) and its SPIFFE ID is matched
 * against an allow-list. Node matches neither URI SANs nor allow-lists, and a
 * resumed TLS session skips `checkServerIdentity`, so this runs on every
 * request and every response, not once per connection.
 */
import type { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { type Clock, type Result, systemClock } from "../core/index.ts";
import { parseSpiffeId, type SvidFailure, SvidLeafCache } from "../identity/index.ts";

export interface PeerIdentity {
  spiffeId: string;
  notAfter: Date;
}

export type PeerFailure = "no_certificate" | SvidFailure;

/**
 * One allow-list entry: an exact SPIFFE ID ("spiffe://td/ingester") or a path
 * prefix ending in "/*" ("spiffe://td/agent/*", matching one or more further
 * segments). Entries must name `trustDomain`; anything else is a
 * configuration error, thrown at startup.
 */
export function compileAllowList(
  allow: readonly string[],
  trustDomain: string,
): (spiffeId: string) => boolean {
  if (allow.length === 0) throw new Error("an internal allow-list must name at least one SPIFFE ID");
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of allow) {
    const wildcard = entry.endsWith("/*");
    const id = wildcard ? entry.slice(0, -2) : entry;
    const parsed = parseSpiffeId(id);
    if (!parsed.ok) throw new Error(`invalid SPIFFE ID in allow-list: ${entry} (${parsed.reason})`);
    if (parsed.value.trustDomain !== trustDomain) {
      throw new Error(`allow-list entry ${entry} is outside trust domain ${trustDomain}`);
    }
    if (wildcard) prefixes.push(`${id}/`);
    else exact.add(id);
  }
  // Matching on parsed IDs only: no dot segments, case tricks or percent-encoding can reach here.
  return (spiffeId) =>
    exact.has(spiffeId) || prefixes.some((p) => spiffeId.startsWith(p) && spiffeId.length > p.length);
}

export interface PeerValidator {
  /** Checks a peer leaf (DER) as an SVID of our trust domain, valid now. */
  check(leafDer: Uint8Array | undefined): Result<PeerIdentity, PeerFailure>;
  /** Forget cached verdicts, e.g. after a trust-bundle change. */
  clear(): void;
}

/** Caches the structural verdict per certificate fingerprint; validity in time is re-checked on every call. */
export function createPeerValidator(opts: { trustDomain: string; clock?: Clock }): PeerValidator {
  const clock = opts.clock ?? systemClock;
  const cache = new SvidLeafCache(1024);
  return {
    check(leafDer) {
      if (leafDer === undefined || leafDer.byteLength === 0) return { ok: false, reason: "no_certificate" };
      return cache.validate(leafDer, { trustDomain: opts.trustDomain, now: clock.now() });
    },
    clear() {
      cache.clear();
    },
  };
}

const peerCertificates = new WeakMap<TLSSocket, X509Certificate | undefined>();

/**
 * The peer's leaf certificate on this connection, read from the TLS stack once
 * per socket. Renegotiation is switched off on the socket before it is read,
 * so the peer cannot present another certificate on it later and the cached
 * one stays the connection's. Callers still check it on every request (its
 * validity in time, the allow-list).
 */
export function peerCertificateOf(socket: TLSSocket): X509Certificate | undefined {
  if (peerCertificates.has(socket)) return peerCertificates.get(socket);
  socket.disableRenegotiation?.();
  const cert = socket.getPeerX509Certificate?.();
  peerCertificates.set(socket, cert);
  return cert;
}
