/**
 * The Ed25519 engine (RFC 8032): the provider signs `timestamp + body` with its
 * private key and sends the signature and the timestamp in headers; the
 * source's secret is the provider's PUBLIC key, as hex (Discord shows it as
 * "Public Key" on the application's page).
 *
 * Guards against forgery and tampering with body or timestamp (a signature
 * over both, checked against every live key), replay outside the timestamp
 * window (the provider's libraries skip this check; zenmesh does not), and
 * malformed input (hex of exactly 64 bytes, normalised to lower case so the
 * same signature has one replay key). Ed25519 signatures are not malleable
 * under Node's verifier (it rejects non-canonical `S`), so a replayed request
 * inside the window keeps its replay key.
 *
 * A public key cannot be generated (only the provider holds the private
 * half), so entries take PROVIDER_PUBLIC_KEY as their secret and
 * `generateSecret` refuses with SOURCE_SECRET_REQUIRED; `sign`
 * needs the private key (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519`
 * writes it): given the public key a source holds, it refuses with
 * SCHEME_CANNOT_SIGN instead of producing a signature that never verifies.
 */
import { createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { decodeHex, MAX_PLAIN_HEADER } from "../schemes/common.ts";
import type { HandshakeInput, HandshakeResult, SignatureScheme } from "../schemes/scheme.ts";
import {
  type KeyAlgorithm,
  type SignedTimestampEntry,
  signedTimestampScheme,
} from "./engine-signed-timestamp.ts";
import { jsonPointer, registerEntry } from "./entry.ts";

const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

export interface Ed25519Entry extends SignedTimestampEntry {
  readonly engine: "ed25519";
  /**
   * The provider's endpoint check, answered only once the request's own
   * signature verifies: when the body's JSON `pointer` holds `equals`, the
   * answer is `answer` as JSON, status 200.
   */
  readonly handshake?: {
    readonly pointer: string;
    readonly equals: string | number;
    readonly answer: string;
  };
}

/** The public key of a hex secret, or undefined when it is not 32 bytes of hex. */
export function ed25519PublicKey(secret: string): KeyObject | undefined {
  const raw = decodeHex(secret, PUBLIC_KEY_BYTES);
  if (raw === undefined) return undefined;
  try {
    return createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
      format: "jwk",
    });
  } catch {
    return undefined;
  }
}

/** Why a secret cannot be an Ed25519 public key, or undefined. */
export function ed25519SecretProblem(secret: string): string | undefined {
  return ed25519PublicKey(secret) === undefined
    ? "must be the provider's Ed25519 public key: 64 hex characters"
    : undefined;
}

const ED25519: KeyAlgorithm<Buffer> = {
  maxSignatureHeader: MAX_PLAIN_HEADER,
  decode: (value) => decodeHex(value, SIGNATURE_BYTES),
  publicKey: ed25519PublicKey,
  verify: (message, key, signature) => verify(null, message, key, signature),
  // Lower-case hex: one spelling per signature.
  canonical: (signature) => signature.toString("hex"),
  isSigningKey: (key) => key.asymmetricKeyType === "ed25519",
  sign: (message, key) => sign(null, message, key).toString("hex"),
};

export function ed25519Scheme(entry: Ed25519Entry): SignatureScheme {
  const { scheme, verifyRequest } = signedTimestampScheme(entry, ED25519);
  const check = entry.handshake;
  if (check !== undefined) {
    scheme.handshake = (input: HandshakeInput): HandshakeResult => {
      if (input.method !== "POST" || !isCheck(input.body, check)) return undefined;
      const r = verifyRequest({
        headers: input.headers,
        body: input.body,
        secrets: input.secrets,
        settings: input.settings,
        now: input.now,
        toleranceSeconds: input.toleranceSeconds,
      });
      if (!r.ok) return { refused: r.reason };
      return {
        answer: { status: 200, headers: { "content-type": "application/json" }, body: check.answer },
      };
    };
  }
  return registerEntry(scheme, entry);
}

/** Whether the body is the provider's endpoint check; a body that is not JSON is not. */
function isCheck(body: Buffer, check: NonNullable<Ed25519Entry["handshake"]>): boolean {
  // An endpoint check is a few hundred bytes; a large body is an event, parsed later if at all.
  if (body.byteLength > 64 * 1024) return false;
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    return false;
  }
  return jsonPointer(json, check.pointer) === check.equals;
}
