/**
 * How a destination's secrets are stored: customer credentials and signing
 * secrets are sealed twice. The inner box is sealed to egress's X25519 public
 * key, so only the egress role (which alone holds the private key) can open
 * it; the outer layer is the tenant's ZenLock seal, so a copied database is
 * useless without the master key and a box cannot move between tenants, rows
 * or columns. The backend opens only the outer layer, to hand boxes to
 * egress: it never sees a credential or a signing secret in the clear after
 * the request that brought it. Both layers bind their AAD to the row.
 */
import { X509Certificate } from "node:crypto";
import { ZenError } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import type { SealContext, ZenLock } from "../../zenlock/index.ts";
import { sealBox } from "../box.ts";
import { type CredentialsInput, validationFailed } from "./input.ts";

export const CREDENTIAL_KINDS = ["bearer", "basic", "header", "mtls"] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

/** What one sealed value is bound to, in both layers. */
export interface DoubleSeal {
  outer: SealContext;
  inner: string;
}

export const credentialsSeal = (destinationId: string): DoubleSeal => ({
  outer: { table: "destinations", column: "credentials", rowId: destinationId },
  inner: `destinations:credentials:${destinationId}`,
});

export const secretSeal = (destinationId: string, version: number): DoubleSeal => ({
  outer: { table: "destination_secrets", column: "sealed", rowId: `${destinationId}:v${version}` },
  inner: `destination_secrets:${destinationId}:v${version}`,
});

/** The egress public key, or UNAVAILABLE: nothing is stored that egress could not open. */
export function requireEgressKey(egressBoxKey: () => Buffer | undefined): Buffer {
  const key = egressBoxKey();
  if (key === undefined) throw new ZenError("UNAVAILABLE", { message: "the egress key is not configured" });
  return key;
}

export async function sealTwice(
  zenlock: ZenLock,
  tx: Tx,
  tenantId: string,
  egressKey: Buffer,
  seal: DoubleSeal,
  plaintext: string,
): Promise<string> {
  const inner = sealBox(egressKey, seal.inner, plaintext);
  return zenlock.seal(tx, tenantId, seal.outer, inner);
}

/** Removes the ZenLock layer only; the result is still the box sealed to egress. */
export async function openOuter(
  zenlock: ZenLock,
  tx: Tx,
  tenantId: string,
  seal: DoubleSeal,
  sealed: string,
) {
  return (await zenlock.open(tx, tenantId, seal.outer, sealed)).toString("utf8");
}

export function credentialKinds(c: CredentialsInput): CredentialKind[] {
  const kinds: CredentialKind[] = [];
  if (c.auth) kinds.push(c.auth.type);
  if (c.client_certificate) kinds.push("mtls");
  return kinds;
}

/**
 * Checks that need the clock: a client certificate already expired would
 * fail every delivery, so it is refused when it is brought.
 */
export function checkCredentialsAt(c: CredentialsInput, now: Date): void {
  const pem = c.client_certificate?.cert_pem;
  if (pem !== undefined && new X509Certificate(pem).validToDate.getTime() <= now.getTime()) {
    throw validationFailed([{ path: "credentials.client_certificate.cert_pem", message: "has expired" }]);
  }
}

/** The one JSON document the credentials box holds: `{ auth?, client_certificate? }`. */
export function credentialsDocument(c: CredentialsInput): string | null {
  if (!c.auth && !c.client_certificate) return null;
  return JSON.stringify({
    ...(c.auth ? { auth: c.auth } : {}),
    ...(c.client_certificate ? { client_certificate: c.client_certificate } : {}),
  });
}
