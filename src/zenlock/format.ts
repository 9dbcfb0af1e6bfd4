/**
 * The text forms ZenLock stores, and the additional authenticated data that
 * binds each ciphertext to where it belongs, so a ciphertext copied to another
 * tenant, table, column, row or key slot does not open.
 *
 *   wrapped DEK:  zl:v<kek>:<base64(nonce || ct || tag)>
 *   sealed value: zl:v<kek>:<dek>:<base64(nonce || ct || tag)>
 */
import { GCM_NONCE_LENGTH, GCM_TAG_LENGTH } from "../crypto/index.ts";

export type KeyPurpose = "data" | "fingerprint";

export const KEY_PURPOSES: readonly KeyPurpose[] = ["data", "fingerprint"];

export interface SealContext {
  table: string;
  column: string;
  rowId: string;
}

const VERSION = "([1-9][0-9]{0,8})";
const B64 = "([A-Za-z0-9+/]+={0,2})";
const WRAPPED = new RegExp(`^zl:v${VERSION}:${B64}$`);
const SEALED = new RegExp(`^zl:v${VERSION}:${VERSION}:${B64}$`);
const MIN_SEALED = GCM_NONCE_LENGTH + GCM_TAG_LENGTH;

/** The purpose and version are fixed-format, so the tenant id (the only free field) cannot shift them. */
export function dekAad(tenantId: string, purpose: KeyPurpose, version: number): Buffer {
  return Buffer.from(`zenmesh/dek/v1|${tenantId}|${purpose}|${version}`, "utf8");
}

/**
 * A JSON array of strings is an unambiguous encoding: every field is quoted
 * and escaped, so no two tuples share an encoding.
 */
export function dataAad(tenantId: string, ctx: SealContext): Buffer {
  return Buffer.from(JSON.stringify(["zenmesh/data/v1", tenantId, ctx.table, ctx.column, ctx.rowId]), "utf8");
}

export function formatWrapped(kekVersion: number, sealed: Buffer): string {
  return `zl:v${kekVersion}:${sealed.toString("base64")}`;
}

export function formatSealed(kekVersion: number, dekVersion: number, sealed: Buffer): string {
  return `zl:v${kekVersion}:${dekVersion}:${sealed.toString("base64")}`;
}

/** Only canonical base64 passes, so one ciphertext has exactly one text form. */
function decode(b64: string): Buffer | undefined {
  const bytes = Buffer.from(b64, "base64");
  if (bytes.length < MIN_SEALED || bytes.toString("base64") !== b64) return undefined;
  return bytes;
}

export function parseWrapped(text: string): { kekVersion: number; sealed: Buffer } | undefined {
  const m = WRAPPED.exec(text);
  if (!m) return undefined;
  const sealed = decode(m[2] ?? "");
  return sealed === undefined ? undefined : { kekVersion: Number(m[1]), sealed };
}

export function parseSealed(
  text: string,
): { kekVersion: number; dekVersion: number; sealed: Buffer } | undefined {
  const m = SEALED.exec(text);
  if (!m) return undefined;
  const sealed = decode(m[3] ?? "");
  return sealed === undefined ? undefined : { kekVersion: Number(m[1]), dekVersion: Number(m[2]), sealed };
}
