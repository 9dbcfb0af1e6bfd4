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
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { z } from "zod";
import { ZenError } from "../../core/index.ts";
import {
  assertTolerance,
  checkWindow,
  decodeBase64,
  fail,
  MAX_PLAIN_HEADER,
  parseUnixSeconds,
  pass,
  readHeader,
} from "../schemes/common.ts";
import type { SignatureScheme } from "../schemes/scheme.ts";
import type { VerifyInput, VerifyResult } from "../types.ts";
import { describeFacts, type ProviderEntryBase, parseJson, registerEntry, withDeliveryId } from "./entry.ts";

/** The order of the P-256 group. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** A DER ECDSA-Sig-Value over P-256 is at most 72 bytes; its base64 at most 96 characters. */
const MAX_SIGNATURE_BASE64 = 96;

export interface EcdsaEntry extends ProviderEntryBase {
  readonly engine: "ecdsa-p256";
  /** Lower-case header names. */
  readonly signatureHeader: string;
  readonly timestampHeader: string;
}

/** The P-256 public key of a base64 DER SPKI secret, or undefined. */
export function p256PublicKey(secret: string): KeyObject | undefined {
  const der = decodeBase64(secret);
  if (der === undefined) return undefined;
  try {
    const key = createPublicKey({ key: der, format: "der", type: "spki" });
    return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1"
      ? key
      : undefined;
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

function signingKey(secret: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: secret, format: "pem" });
  } catch {
    throw new ZenError("SCHEME_CANNOT_SIGN");
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new ZenError("SCHEME_CANNOT_SIGN");
  }
  return key;
}

export function ecdsaScheme(entry: EcdsaEntry): SignatureScheme {
  const verifyRequest = (input: VerifyInput): VerifyResult => {
    assertTolerance(input.toleranceSeconds);
    if (input.secrets.length === 0) return fail("no_secret");
    const sig = readHeader(input.headers, entry.signatureHeader, MAX_SIGNATURE_BASE64);
    if (sig.kind === "absent") return fail("missing_signature");
    const ts = readHeader(input.headers, entry.timestampHeader, MAX_PLAIN_HEADER);
    if (ts.kind === "absent") return fail("missing_timestamp");
    if (sig.kind === "oversized" || ts.kind === "oversized") return fail("malformed_signature");
    const der = decodeBase64(sig.value);
    const rs = der === undefined ? undefined : parseEcdsaDer(der);
    const timestamp = parseUnixSeconds(ts.value);
    if (der === undefined || rs === undefined || timestamp === undefined) return fail("malformed_signature");

    const keys = input.secrets.map(p256PublicKey).filter((k) => k !== undefined);
    if (keys.length === 0) return fail("no_secret");
    const message = Buffer.concat([Buffer.from(ts.value, "utf8"), input.body]);
    let matched = false;
    for (const key of keys) {
      const ok = verify("sha256", message, { key, dsaEncoding: "der" }, der);
      matched = matched || ok;
    }
    if (!matched) return fail("bad_signature");
    const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
    if (window !== undefined) return fail(window);
    const lowS = rs.s > N / 2n ? N - rs.s : rs.s;
    const value = { signature: `${hex32(rs.r)}${hex32(lowS)}`, timestamp: new Date(timestamp * 1000) };
    return pass(withDeliveryId(entry.facts, value, input, { bodySigned: true }));
  };

  const scheme: SignatureScheme = {
    name: entry.name,
    provider: { title: entry.title, docs: entry.docs, sample: entry.sample },
    // The source holds the provider's public key: only the provider signs (test sends are refused).
    signs: false,
    settings: z.strictObject({}).prefault({}),
    verify: verifyRequest,
    describe: (input) => describeFacts(entry.facts, input.headers, input.json ?? parseJson(input.body)),
    sign(input) {
      const key = signingKey(input.secret);
      const timestamp = String(Math.floor(input.now.getTime() / 1000));
      const message = Buffer.concat([Buffer.from(timestamp, "utf8"), input.body]);
      const signature = sign("sha256", message, { key, dsaEncoding: "der" });
      return { [entry.signatureHeader]: signature.toString("base64"), [entry.timestampHeader]: timestamp };
    },
    generateSecret: entry.secret.generate,
  };
  return registerEntry(scheme, entry);
}
