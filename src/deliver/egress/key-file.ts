/**
 * Egress's private box key on disk (production): the one key that opens
 * destination secrets. The file holds the raw X25519 private key as base64url
 * on one line; it is refused when group or others can read it, and it is
 * created with 0600 and never overwritten.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { ZenError } from "../../core/index.ts";
import { type BoxKeyPair, boxKeyPairFromPrivate, encodeBoxPublicKey, generateBoxKeyPair } from "../box.ts";

const SETTING = "ZENMESH_EGRESS_KEY_FILE (deliver.egressKeyFile)";

export function readEgressKeyFile(path: string): BoxKeyPair {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new ZenError("CONFIG_INVALID", { message: `${SETTING}: ${path} cannot be read`, cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new ZenError("CONFIG_INSECURE", {
      message: `${SETTING}: ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); use 0600 or 0400`,
    });
  }
  const raw = Buffer.from(readFileSync(path, "utf8").trim(), "base64url");
  if (raw.length !== 32) {
    throw new ZenError("CONFIG_INVALID", { message: `${SETTING}: ${path} does not hold an egress box key` });
  }
  return boxKeyPairFromPrivate(raw);
}

/** Creates a new key file (never replacing one) and returns the public key to give the backend. */
export function createEgressKeyFile(path: string): { publicKey: string; keyId: string } {
  const pair = generateBoxKeyPair();
  try {
    writeFileSync(path, `${pair.privateKey.toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    throw new ZenError("CONFLICT", {
      message: `${path} exists or cannot be created; it is never overwritten`,
      cause: err,
    });
  } finally {
    pair.privateKey.fill(0);
  }
  return { publicKey: encodeBoxPublicKey(pair.publicKey), keyId: pair.keyId };
}
