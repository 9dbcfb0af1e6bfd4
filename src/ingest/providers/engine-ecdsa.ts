/**
 * The ECDSA P-256 engine (FIPS 186-4, SHA-256): the provider signs
 * `timestamp + body` with its private key and sends a base64 DER signature
 * and the timestamp in headers; the source's secret is the provider's PUBLIC
 * key, base64 DER SubjectPublicKeyInfo (what SendGrid shows as the
 * "Verification Key").
 *
 * Guards against forgery and tampering with body or timestamp, replay
 * outside the timestamp window (the provider's libraries do not check it),
 * and signature malleability: ECDSA's `(r, s)` and `(r, n − s)` both verify,
 * so the DER is parsed strictly (minimal integers, nothing trailing) and the
 * replay key is `r` with the low `s`; a re-encoded copy of a request inside
 * the window is still the same signature seen twice.
 *
 * As for every public-key scheme, entries take PROVIDER_PUBLIC_KEY as their
 * secret, so `generateSecret` refuses with SOURCE_SECRET_REQUIRED, and `sign`
 * needs the private key (PKCS#8 PEM):
 * given the public key it refuses with SCHEME_CANNOT_SIGN.
 */
import { createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { decodeBase64 } from "../schemes/common.ts";
import type { SignatureScheme } from "../schemes/scheme.ts";
import {
  type KeyAlgorithm,
  type SignedTimestampEntry,
  signedTimestampScheme,
} from "./engine-signed-timestamp.ts";
import { registerEntry } from "./entry.ts";

/** The order of the P-256 group. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** A DER ECDSA-Sig-Value over P-256 is at most 72 bytes; its base64 at most 96 characters. */
const MAX_SIGNATURE_BASE64 = 96;

export interface EcdsaEntry extends SignedTimestampEntry {
  readonly engine: "ecdsa-p256";
}

/** The P-256 public key of a base64 DER SPKI secret, or undefined. */
export function p256PublicKey(secret: string): KeyObject | undefined {
  const der = decodeBase64(secret);
  if (der === undefined) return undefined;
  try {
    const key = createPublicKey({ key: der, format: "der", type: "spki" });
    return isP256(key) ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Why a secret cannot be a P-256 public key, or undefined. */
export function p256SecretProblem(secret: string): string | undefined {
  return p256PublicKey(secret) === undefined
    ? "must be the provider's ECDSA P-256 public key: base64 DER (SubjectPublicKeyInfo)"
    : undefined;
}

/** One DER INTEGER at `at`, minimally encoded and positive, as a bigint, and where it ends. */
function derInteger(der: Buffer, at: number): { value: bigint; end: number } | undefined {
  if (der[at] !== 0x02) return undefined;
  const length = der[at + 1];
  if (length === undefined || length === 0 || length > 33 || at + 2 + length > der.length) return undefined;
  const bytes = der.subarray(at + 2, at + 2 + length);
  // Negative, or a leading zero that is not needed for the sign: not DER.
  if ((bytes[0]! & 0x80) !== 0) return undefined;
  if (bytes[0] === 0 && (length === 1 || (bytes[1]! & 0x80) === 0)) return undefined;
  return { value: BigInt(`0x${bytes.toString("hex")}`), end: at + 2 + length };
}

/** `(r, s)` of a strict DER ECDSA-Sig-Value over P-256, or undefined. */
export function parseEcdsaDer(der: Buffer): { r: bigint; s: bigint } | undefined {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return undefined;
  const r = derInteger(der, 2);
  if (r === undefined) return undefined;
  const s = derInteger(der, r.end);
  if (s === undefined || s.end !== der.length) return undefined;
  if (r.value === 0n || r.value >= N || s.value === 0n || s.value >= N) return undefined;
  return { r: r.value, s: s.value };
}

const hex32 = (n: bigint) => n.toString(16).padStart(64, "0");

const isP256 = (key: KeyObject) =>
  key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";

/** The signature as sent (DER) and as parsed; refused unless strict DER. */
interface EcdsaSignature {
  der: Buffer;
  r: bigint;
  s: bigint;
}

const P256: KeyAlgorithm<EcdsaSignature> = {
  maxSignatureHeader: MAX_SIGNATURE_BASE64,
  decode(value) {
    const der = decodeBase64(value);
    const rs = der === undefined ? undefined : parseEcdsaDer(der);
    return der === undefined || rs === undefined ? undefined : { der, ...rs };
  },
  publicKey: p256PublicKey,
  verify: (message, key, signature) => verify("sha256", message, { key, dsaEncoding: "der" }, signature.der),
  // `r` with the low `s`: the malleated twin `(r, n − s)` has the same replay key.
  canonical: ({ r, s }) => `${hex32(r)}${hex32(s > N / 2n ? N - s : s)}`,
  isSigningKey: isP256,
  sign: (message, key) => sign("sha256", message, { key, dsaEncoding: "der" }).toString("base64"),
};

export function ecdsaScheme(entry: EcdsaEntry): SignatureScheme {
  const { scheme } = signedTimestampScheme(entry, P256);
  return registerEntry(scheme, entry);
}
