/**
 * Turns an X509SVID message from the SPIFFE Workload API into zenmesh's Svid,
 * refusing one that could not work in a TLS handshake or that names another
 * identity. Follows the SPIFFE ID spec (syntax, trust domain) and the
 * X509-SVID spec (exactly one URI SAN equal to the SPIFFE ID, leaf is not a
 * CA, intermediates are CAs, the chain leads to the trust domain's bundle).
 *
 * The agent is trusted, so these checks guard against misconfiguration and
 * selection mistakes (a workload entitled to several identities picking the
 * wrong one), not against a hostile agent. Failure reasons never include key
 * material.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Clock } from "../../core/index.ts";
import { parseSpiffeId } from "../spiffe-id.ts";
import type { Svid } from "../types.ts";
import { certificateToPem, concatDer, DerError, pemToDer, pkcs8ToPem, splitDerSequences } from "./der.ts";
import type { X509SvidMessage, X509SvidResponse } from "./proto.ts";

export type SvidRejection =
  | "no_svids"
  | "no_matching_svid"
  | "invalid_spiffe_id"
  | "malformed_chain"
  | "malformed_bundle"
  | "malformed_key"
  | "uri_san_mismatch"
  | "leaf_is_ca"
  | "key_mismatch"
  | "not_yet_valid"
  | "expired"
  | "chain_untrusted";

export type SvidSelection = { ok: true; svid: Svid } | { ok: false; reason: SvidRejection; message: string };

export interface SvidSelector {
  /** Use the SVID with exactly this SPIFFE ID. */
  spiffeId?: string;
  /** Use only SVIDs of this trust domain. */
  trustDomain?: string;
}

/** The trust domain of a SPIFFE ID valid per the SPIFFE ID spec, or null. */
export function spiffeIdTrustDomain(id: string): string | null {
  const parsed = parseSpiffeId(id);
  return parsed.ok ? parsed.value.trustDomain : null;
}

function reject(reason: SvidRejection, message: string): SvidSelection {
  return { ok: false, reason, message };
}

/** URI SANs of a certificate, from node's `subjectAltName` rendering. */
function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san === undefined) return [];
  // Values that need quoting are JSON-quoted by node; a valid SPIFFE ID never does,
  // so a quoted URI is kept verbatim and can never equal the expected ID.
  return san
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice(4));
}

function parseCerts(der: Uint8Array): X509Certificate[] {
  return splitDerSequences(der).map((c) => new X509Certificate(c));
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

function select(response: X509SvidResponse, selector: SvidSelector): X509SvidMessage | SvidSelection {
  if (response.svids.length === 0) return reject("no_svids", "the Workload API response carries no SVID");
  const match = response.svids.find(
    (s) =>
      (selector.spiffeId === undefined || s.spiffeId === selector.spiffeId) &&
      (selector.trustDomain === undefined || spiffeIdTrustDomain(s.spiffeId) === selector.trustDomain),
  );
  if (match !== undefined) return match;
  const want = [
    selector.spiffeId === undefined ? null : `SPIFFE ID ${selector.spiffeId}`,
    selector.trustDomain === undefined ? null : `trust domain ${selector.trustDomain}`,
  ]
    .filter((x) => x !== null)
    .join(" in ");
  const offered = response.svids.map((s) => s.spiffeId).join(", ");
  return reject("no_matching_svid", `no SVID for ${want}; the agent offered: ${offered}`);
}

/** Picks the SVID the selector asks for (the first one otherwise) and checks it is usable now. */
export function selectSvid(response: X509SvidResponse, selector: SvidSelector, clock: Clock): SvidSelection {
  const picked = select(response, selector);
  if ("ok" in picked) return picked;
  return toSvid(picked, clock);
}

export function toSvid(msg: X509SvidMessage, clock: Clock): SvidSelection {
  const id = msg.spiffeId;
  if (spiffeIdTrustDomain(id) === null) return reject("invalid_spiffe_id", `invalid SPIFFE ID ${id}`);

  let chain: X509Certificate[];
  let chainDer: Uint8Array[];
  try {
    chainDer = splitDerSequences(msg.x509Svid);
    chain = chainDer.map((c) => new X509Certificate(c));
  } catch (err) {
    return reject("malformed_chain", `SVID chain for ${id} does not parse: ${describe(err)}`);
  }
  const leaf = chain[0];
  if (leaf === undefined) return reject("malformed_chain", `SVID for ${id} has no certificate`);

  let bundle: X509Certificate[];
  try {
    bundle = parseCerts(msg.bundle);
  } catch (err) {
    return reject("malformed_bundle", `trust bundle for ${id} does not parse: ${describe(err)}`);
  }
  if (bundle.length === 0) return reject("malformed_bundle", `trust bundle for ${id} is empty`);

  const uris = uriSans(leaf);
  if (uris.length !== 1 || uris[0] !== id) {
    return reject("uri_san_mismatch", `leaf URI SANs [${uris.join(", ")}] do not equal exactly ${id}`);
  }
  if (leaf.ca) return reject("leaf_is_ca", `leaf certificate for ${id} is a CA`);

  let keyMatches: boolean;
  try {
    const key = createPrivateKey({ key: Buffer.from(msg.x509SvidKey), format: "der", type: "pkcs8" });
    keyMatches = leaf.checkPrivateKey(key);
  } catch {
    // The parser's message could quote key bytes, so it is not passed on.
    return reject("malformed_key", `private key for ${id} is not an unencrypted PKCS#8 key`);
  }
  if (!keyMatches) return reject("key_mismatch", `private key does not match the leaf for ${id}`);

  const now = clock.now().getTime();
  if (now < leaf.validFromDate.getTime()) {
    return reject("not_yet_valid", `SVID for ${id} is valid only from ${leaf.validFromDate.toISOString()}`);
  }
  if (now > leaf.validToDate.getTime()) {
    return reject("expired", `SVID for ${id} expired at ${leaf.validToDate.toISOString()}`);
  }

  if (!chainLeadsToBundle(chain, bundle)) {
    return reject("chain_untrusted", `SVID chain for ${id} does not lead to its trust bundle`);
  }

  return {
    ok: true,
    svid: {
      spiffeId: id,
      certChainPem: chainDer.map(certificateToPem).join(""),
      keyPem: pkcs8ToPem(msg.x509SvidKey),
      bundlePem: splitDerSequences(msg.bundle).map(certificateToPem).join(""),
      notBefore: leaf.validFromDate,
      notAfter: leaf.validToDate,
    },
  };
}

function chainLeadsToBundle(chain: X509Certificate[], bundle: X509Certificate[]): boolean {
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    // Some agents append the root itself; reaching a bundle member ends the walk.
    if (i > 0 && bundle.some((root) => root.fingerprint256 === cert.fingerprint256)) return true;
    const next = chain[i + 1];
    if (next === undefined) return bundle.some((root) => issuedBy(cert, root));
    if (!next.ca || !issuedBy(cert, next)) return false;
  }
  return false;
}

/**
 * The inverse of toSvid: an Svid as a Workload API X509SVID message, for a
 * server that hands out identities from the built-in CA.
 */
export function svidToMessage(svid: Svid, hint = ""): X509SvidMessage {
  const key = pemToDer(svid.keyPem, "PRIVATE KEY");
  if (key.length !== 1) throw new Error("the SVID key must be exactly one PKCS#8 PEM block");
  return {
    spiffeId: svid.spiffeId,
    x509Svid: concatDer(pemToDer(svid.certChainPem, "CERTIFICATE")),
    x509SvidKey: key[0]!,
    bundle: concatDer(pemToDer(svid.bundlePem, "CERTIFICATE")),
    hint,
  };
}

function describe(err: unknown): string {
  if (err instanceof DerError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
