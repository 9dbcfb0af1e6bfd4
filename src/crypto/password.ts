/**
 * Password storage with scrypt (RFC 7914). Guards stored credentials against
 * offline guessing after a database leak, and the login path against timing
 * and against stored hashes whose parameters would exhaust memory or CPU.
 *
 * Encoding: `scrypt$<log2 N>$<r>$<p>$<base64 salt>$<base64 hash>` (unpadded
 * standard base64), so parameters can be raised later without a migration.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { ZenError } from "../core/index.ts";

const LOG_N = 15;
const R = 8;
const P = 1;
const SALT_LENGTH = 16;
const HASH_LENGTH = 32;

// Bounds for parameters read back from storage: below them the hash is too
// weak to trust, above them one login could take gigabytes or minutes.
const MIN_LOG_N = 14;
const MAX_LOG_N = 17;
const MAX_R = 16;
const MAX_P = 4;
const MAX_MEMORY = 128 * 2 ** MAX_LOG_N * MAX_R * MAX_P;

/** Longer inputs are refused: scrypt's PBKDF2 pre-pass is linear in the password length. */
export const MAX_PASSWORD_BYTES = 1024;

interface Params {
  logN: number;
  r: number;
  p: number;
}

function derive(password: string, salt: Buffer, params: Params, length: number): Promise<Buffer> {
  const N = 2 ** params.logN;
  // scrypt needs 128 * N * r * p bytes for its working array, plus slack.
  const maxmem = 128 * N * params.r * params.p + 2 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N, r: params.r, p: params.p, maxmem }, (err, key) =>
      err ? reject(new ZenError("CRYPTO_FAILED", { message: "Password hashing failed." })) : resolve(key),
    );
  });
}

// Unicode NFC (RFC 8265 OpaqueString) so the same password typed on two systems matches.
function normalize(password: string): string {
  return password.normalize("NFC");
}

function encodeB64(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "");
}

/** Strict: only canonical unpadded base64 of exactly `length` bytes. */
function decodeB64(text: string, length: number): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]+$/.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  if (bytes.length !== length || encodeB64(bytes) !== text) return undefined;
  return bytes;
}

function parseInteger(text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined || !/^[1-9][0-9]{0,2}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

interface Parsed extends Params {
  salt: Buffer;
  hash: Buffer;
}

function parse(encoded: string): Parsed | undefined {
  if (encoded.length > 200) return undefined;
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const logN = parseInteger(parts[1], MIN_LOG_N, MAX_LOG_N);
  const r = parseInteger(parts[2], 1, MAX_R);
  const p = parseInteger(parts[3], 1, MAX_P);
  if (logN === undefined || r === undefined || p === undefined) return undefined;
  if (128 * 2 ** logN * r * p > MAX_MEMORY) return undefined;
  const salt = decodeB64(parts[4] ?? "", SALT_LENGTH);
  const hash = decodeB64(parts[5] ?? "", HASH_LENGTH);
  if (salt === undefined || hash === undefined) return undefined;
  return { logN, r, p, salt, hash };
}

export async function hashPassword(password: string): Promise<string> {
  const normalized = normalize(password);
  const size = Buffer.byteLength(normalized, "utf8");
  if (size === 0 || size > MAX_PASSWORD_BYTES) {
    throw new ZenError("VALIDATION_FAILED", {
      message: `A password must be between 1 and ${MAX_PASSWORD_BYTES} bytes.`,
    });
  }
  const salt = randomBytes(SALT_LENGTH);
  const hash = await derive(normalized, salt, { logN: LOG_N, r: R, p: P }, HASH_LENGTH);
  return `scrypt$${LOG_N}$${R}$${P}$${encodeB64(salt)}$${encodeB64(hash)}`;
}

/** False for a wrong password and for any malformed or out-of-bounds encoding; never throws for input. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (typeof password !== "string" || typeof encoded !== "string") return false;
  const parsed = parse(encoded);
  if (parsed === undefined) return false;
  const normalized = normalize(password);
  if (Buffer.byteLength(normalized, "utf8") > MAX_PASSWORD_BYTES) return false;
  const candidate = await derive(normalized, parsed.salt, parsed, HASH_LENGTH);
  return timingSafeEqual(candidate, parsed.hash);
}

/** True when a stored hash uses other parameters than today's: rehash it after a successful login. */
export function passwordNeedsRehash(encoded: string): boolean {
  const parsed = parse(encoded);
  return parsed === undefined || parsed.logN !== LOG_N || parsed.r !== R || parsed.p !== P;
}
