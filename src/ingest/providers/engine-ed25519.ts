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
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { z } from "zod";
import { ZenError } from "../../core/index.ts";
import {
  assertTolerance,
  checkWindow,
  decodeHex,
  fail,
  MAX_PLAIN_HEADER,
  parseUnixSeconds,
  pass,
  readHeader,
} from "../schemes/common.ts";
import type { HandshakeInput, HandshakeResult, SignatureScheme } from "../schemes/scheme.ts";
import type { Verified, VerifyInput, VerifyResult } from "../types.ts";
import {
  describeFacts,
  jsonPointer,
  type ProviderEntryBase,
  parseJson,
  registerEntry,
  withDeliveryId,
} from "./entry.ts";

const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

export interface Ed25519Entry extends ProviderEntryBase {
  readonly engine: "ed25519";
  /** Lower-case header names. */
  readonly signatureHeader: string;
  readonly timestampHeader: string;
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

function signingKey(secret: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: secret, format: "pem" });
  } catch {
    throw new ZenError("SCHEME_CANNOT_SIGN");
  }
  if (key.asymmetricKeyType !== "ed25519") throw new ZenError("SCHEME_CANNOT_SIGN");
  return key;
}

export function ed25519Scheme(entry: Ed25519Entry): SignatureScheme {
  const verifyRequest = (input: VerifyInput): VerifyResult => {
    assertTolerance(input.toleranceSeconds);
    if (input.secrets.length === 0) return fail("no_secret");
    const sig = readHeader(input.headers, entry.signatureHeader, MAX_PLAIN_HEADER);
    if (sig.kind === "absent") return fail("missing_signature");
    const ts = readHeader(input.headers, entry.timestampHeader, MAX_PLAIN_HEADER);
    if (ts.kind === "absent") return fail("missing_timestamp");
    if (sig.kind === "oversized" || ts.kind === "oversized") return fail("malformed_signature");
    const signature = decodeHex(sig.value, SIGNATURE_BYTES);
    const timestamp = parseUnixSeconds(ts.value);
    if (signature === undefined || timestamp === undefined) return fail("malformed_signature");

    const keys = input.secrets.map(ed25519PublicKey).filter((k) => k !== undefined);
    if (keys.length === 0) return fail("no_secret");
    const message = Buffer.concat([Buffer.from(ts.value, "utf8"), input.body]);
    // Every key is tried: which of the source's keys matched shows in no timing.
    let matched = false;
    for (const key of keys) {
      const ok = verify(null, message, key, signature);
      matched = matched || ok;
    }
    if (!matched) return fail("bad_signature");
    const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
    if (window !== undefined) return fail(window);
    const value: Verified = { signature: signature.toString("hex"), timestamp: new Date(timestamp * 1000) };
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
      const signature = sign(null, Buffer.concat([Buffer.from(timestamp, "utf8"), input.body]), key);
      return { [entry.signatureHeader]: signature.toString("hex"), [entry.timestampHeader]: timestamp };
    },
    generateSecret: entry.secret.generate,
  };
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
