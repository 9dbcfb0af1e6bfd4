/**
 * What the public-key engines share (Ed25519, ECDSA P-256): the provider signs
 * `timestamp + body` with its private key and sends the signature and the
 * timestamp in headers of its own; the source's secrets are the provider's
 * public keys. Each engine says only how its signature is read, checked,
 * spelled for the replay key and made; this module reads the headers, tries
 * every live key (which one matched shows in no timing), checks the window
 * and builds the scheme from the entry.
 *
 * Such a scheme cannot sign with what a source holds (`signs: false`): `sign`
 * takes the provider's private key (PKCS#8 PEM) and refuses anything else
 * with SCHEME_CANNOT_SIGN.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { z } from "zod";
import { ZenError } from "../../core/index.ts";
import {
  assertTolerance,
  checkWindow,
  fail,
  MAX_PLAIN_HEADER,
  parseUnixSeconds,
  pass,
  readHeader,
} from "../schemes/common.ts";
import type { SignatureScheme } from "../schemes/scheme.ts";
import type { Verified, VerifyInput, VerifyResult } from "../types.ts";
import { describeFacts, type ProviderEntryBase, parseJson, withDeliveryId } from "./entry.ts";

export interface SignedTimestampEntry extends ProviderEntryBase {
  /** Lower-case header names. */
  readonly signatureHeader: string;
  readonly timestampHeader: string;
}

/** One public-key algorithm, as the shared engine needs it. */
export interface KeyAlgorithm<S> {
  /** The longest signature header value read (longer is malformed). */
  readonly maxSignatureHeader: number;
  /** The signature in the header's value, or undefined when it is malformed. */
  decode(value: string): S | undefined;
  /** The public key a secret holds, or undefined (a secret of the wrong kind never verifies). */
  publicKey(secret: string): KeyObject | undefined;
  verify(message: Buffer, key: KeyObject, signature: S): boolean;
  /** The one spelling of a signature, so a re-encoded copy has the same replay key. */
  canonical(signature: S): string;
  /** Whether a private key is of this algorithm (anything else cannot sign for it). */
  isSigningKey(key: KeyObject): boolean;
  /** The signature header's value for `message`. */
  sign(message: Buffer, key: KeyObject): string;
}

const signedMessage = (timestamp: string, body: Buffer) =>
  Buffer.concat([Buffer.from(timestamp, "utf8"), body]);

function privateKey<S>(alg: KeyAlgorithm<S>, secret: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: secret, format: "pem" });
  } catch {
    throw new ZenError("SCHEME_CANNOT_SIGN");
  }
  if (!alg.isSigningKey(key)) throw new ZenError("SCHEME_CANNOT_SIGN");
  return key;
}

/** The request's verification, and the scheme built from the entry (not registered: the engine adds its own). */
export function signedTimestampScheme<S>(
  entry: SignedTimestampEntry,
  alg: KeyAlgorithm<S>,
): { scheme: SignatureScheme; verifyRequest: (input: VerifyInput) => VerifyResult } {
  const verifyRequest = (input: VerifyInput): VerifyResult => {
    assertTolerance(input.toleranceSeconds);
    if (input.secrets.length === 0) return fail("no_secret");
    const sig = readHeader(input.headers, entry.signatureHeader, alg.maxSignatureHeader);
    if (sig.kind === "absent") return fail("missing_signature");
    const ts = readHeader(input.headers, entry.timestampHeader, MAX_PLAIN_HEADER);
    if (ts.kind === "absent") return fail("missing_timestamp");
    if (sig.kind === "oversized" || ts.kind === "oversized") return fail("malformed_signature");
    const signature = alg.decode(sig.value);
    const timestamp = parseUnixSeconds(ts.value);
    if (signature === undefined || timestamp === undefined) return fail("malformed_signature");

    const keys = input.secrets.map((s) => alg.publicKey(s)).filter((k) => k !== undefined);
    if (keys.length === 0) return fail("no_secret");
    const message = signedMessage(ts.value, input.body);
    // Every key is tried: which of the source's keys matched shows in no timing.
    let matched = false;
    for (const key of keys) {
      const ok = alg.verify(message, key, signature);
      matched = matched || ok;
    }
    if (!matched) return fail("bad_signature");
    const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
    if (window !== undefined) return fail(window);
    const value: Verified = { signature: alg.canonical(signature), timestamp: new Date(timestamp * 1000) };
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
      const key = privateKey(alg, input.secret);
      const timestamp = String(Math.floor(input.now.getTime() / 1000));
      return {
        [entry.signatureHeader]: alg.sign(signedMessage(timestamp, input.body), key),
        [entry.timestampHeader]: timestamp,
      };
    },
    generateSecret: entry.secret.generate,
  };
  return { scheme, verifyRequest };
}
