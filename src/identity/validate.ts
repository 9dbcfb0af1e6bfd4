/**
 * Checks a presented leaf against the SPIFFE X509-SVID specification; the
 * chain itself is verified by TLS against the trust bundle. Rules (X509-SVID
 * spec section 2: exactly one URI SAN holding the SPIFFE ID; section 4.1:
 * leaf basic constraints cA=false; section 4.3: key usage with
 * digitalSignature and neither keyCertSign nor cRLSign; section 5.2: the ID's
 * trust domain must be the expected one) plus RFC 5280 section 4.1.2.5
 * validity and section 4.2 (no extension twice).
 *
 * Decisions stricter than the letter of the spec, because every issuer we
 * accept (this CA, SPIRE) sets these: a leaf WITHOUT a basic constraints
 * extension is refused (RFC 5280 would read it as cA=false, but the X509-SVID
 * spec says leaves MUST set cA=false), a leaf without a key usage extension is
 * refused, and a leaf whose SPIFFE ID is the bare trust domain (no workload
 * path) is refused.
 */
import { createHash } from "node:crypto";
import type { Result } from "../core/index.ts";
import { parseSpiffeId } from "./spiffe-id.ts";
import { OID, pemCertificates, x509 } from "./x509.ts";

export type SvidFailure =
  | "malformed"
  | "no_uri_san"
  | "multiple_uri_sans"
  | "invalid_spiffe_id"
  | "wrong_trust_domain"
  | "basic_constraints_missing"
  | "ca_certificate"
  | "key_usage_missing"
  | "key_usage_no_digital_signature"
  | "key_usage_cert_sign"
  | "key_usage_crl_sign"
  | "not_yet_valid"
  | "expired";

export interface SvidLeafInfo {
  spiffeId: string;
  notAfter: Date;
}

export interface ValidateSvidOptions {
  trustDomain: string;
  now: Date;
}

interface Structural {
  spiffeId: string;
  notBefore: number;
  notAfter: number;
}

function toDer(leaf: Uint8Array | string): Uint8Array | undefined {
  if (typeof leaf !== "string") return leaf;
  return pemCertificates(leaf)[0];
}

function checkStructure(der: Uint8Array, trustDomain: string): Result<Structural, SvidFailure> {
  const fail = (reason: SvidFailure): Result<Structural, SvidFailure> => ({ ok: false, reason });
  let cert: x509.X509Certificate;
  let uris: string[];
  let bc: x509.BasicConstraintsExtension | null;
  let ku: x509.KeyUsagesExtension | null;
  try {
    cert = new x509.X509Certificate(der);
    const seen = new Set<string>();
    for (const ext of cert.extensions) {
      if (seen.has(ext.type)) return fail("malformed");
      seen.add(ext.type);
    }
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    uris = san ? san.names.items.filter((n) => n.type === "url").map((n) => n.value) : [];
    bc = cert.getExtension(x509.BasicConstraintsExtension);
    ku = cert.getExtension(x509.KeyUsagesExtension);
    if (seen.has(OID.subjectAltName) && san === null) return fail("malformed");
  } catch {
    // Includes SAN entries @peculiar/x509 cannot represent (otherName, x400Address): fail closed.
    return fail("malformed");
  }
  if (uris.length === 0) return fail("no_uri_san");
  if (uris.length > 1) return fail("multiple_uri_sans");
  const spiffeId = uris[0] ?? "";
  const id = parseSpiffeId(spiffeId);
  if (!id.ok || id.value.path === "") return fail("invalid_spiffe_id");
  if (id.value.trustDomain !== trustDomain) return fail("wrong_trust_domain");
  if (bc === null) return fail("basic_constraints_missing");
  if (bc.ca) return fail("ca_certificate");
  if (ku === null) return fail("key_usage_missing");
  if ((ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0) return fail("key_usage_cert_sign");
  if ((ku.usages & x509.KeyUsageFlags.cRLSign) !== 0) return fail("key_usage_crl_sign");
  if ((ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) return fail("key_usage_no_digital_signature");
  return {
    ok: true,
    value: { spiffeId, notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() },
  };
}

function checkTime(s: Structural, now: Date): Result<SvidLeafInfo, SvidFailure> {
  const t = now.getTime();
  if (!(t >= s.notBefore)) return { ok: false, reason: "not_yet_valid" };
  if (!(t <= s.notAfter)) return { ok: false, reason: "expired" };
  return { ok: true, value: { spiffeId: s.spiffeId, notAfter: new Date(s.notAfter) } };
}

/** `leaf` is the DER (e.g. `socket.getPeerCertificate().raw`) or a PEM whose first certificate is the leaf. */
export function validateSvidLeaf(
  leaf: Uint8Array | string,
  opts: ValidateSvidOptions,
): Result<SvidLeafInfo, SvidFailure> {
  const der = toDer(leaf);
  if (der === undefined || der.byteLength === 0) return { ok: false, reason: "malformed" };
  const s = checkStructure(der, opts.trustDomain);
  return s.ok ? checkTime(s.value, opts.now) : s;
}

export const DEFAULT_SVID_CACHE_ENTRIES = 4096;

/**
 * A bounded LRU of verdicts keyed by SHA-256 of the DER and the expected
 * trust domain. Only the time-independent verdict is cached; validity is
 * re-checked against `now` on every hit, so an entry never outlives its leaf.
 */
export class SvidLeafCache {
  readonly maxEntries: number;
  #entries = new Map<string, Result<Structural, SvidFailure>>();

  constructor(maxEntries = DEFAULT_SVID_CACHE_ENTRIES) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be ≥ 1");
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  validate(leaf: Uint8Array | string, opts: ValidateSvidOptions): Result<SvidLeafInfo, SvidFailure> {
    const der = toDer(leaf);
    if (der === undefined || der.byteLength === 0) return { ok: false, reason: "malformed" };
    const key = `${createHash("sha256").update(der).digest("hex")}|${opts.trustDomain}`;
    let s = this.#entries.get(key);
    if (s === undefined) {
      s = checkStructure(der, opts.trustDomain);
      if (this.#entries.size >= this.maxEntries) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
      }
    } else {
      this.#entries.delete(key);
    }
    this.#entries.set(key, s);
    return s.ok ? checkTime(s.value, opts.now) : s;
  }

  clear(): void {
    this.#entries.clear();
  }
}

const shared = new SvidLeafCache();

/** validateSvidLeaf through a process-wide cache, for the per-connection path. */
export function validateSvidLeafCached(
  leaf: Uint8Array | string,
  opts: ValidateSvidOptions,
): Result<SvidLeafInfo, SvidFailure> {
  return shared.validate(leaf, opts);
}
