/**
 * The master key ring (KEKs, versioned). Guards against running production
 * with no key or with a key file other local users can read, and against a
 * malformed key being used or echoed: no error message ever contains key
 * material. In dev a key is generated once into the data dir (mode 0600).
 *
 * Accepted text (ZENMESH_MASTER_KEY or the key file's contents):
 *   <base64 32 bytes>                       version 1
 *   v1:<base64>,v2:<base64>[,active=2]      comma or newline separated; the
 *                                           active version defaults to the highest
 * Lines starting with `#` are comments.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { ZenError } from "../core/index.ts";
import { randomBytes } from "../crypto/index.ts";

export type MasterKeyRing = { active: number; keys: ReadonlyMap<number, Buffer> };

export interface LoadMasterKeyOptions {
  profile: "dev" | "production";
  dataDir: string;
  /** ZENMESH_MASTER_KEY */
  key?: string | undefined;
  /** ZENMESH_MASTER_KEY_FILE */
  keyFile?: string | undefined;
}

export const MASTER_KEY_LENGTH = 32;
export const DEV_MASTER_KEY_FILE = "master.key";
const MAX_VERSION = 1_000_000;
const MAX_FILE_BYTES = 64 * 1024;

// Standard or URL-safe alphabet, optional padding; the decoded length is checked after.
const B64_32 = /^[A-Za-z0-9+/_-]{43}=?$/;

function invalid(source: string, why: string): ZenError {
  return new ZenError("CONFIG_INVALID", { message: `${source}: ${why}` });
}

function decodeKey(text: string, source: string, label: string): Buffer {
  const bytes = B64_32.test(text) ? Buffer.from(text, "base64") : undefined;
  if (bytes === undefined || bytes.length !== MASTER_KEY_LENGTH) {
    throw invalid(source, `${label} is not a base64-encoded ${MASTER_KEY_LENGTH}-byte key`);
  }
  return bytes;
}

function parseVersion(text: string, source: string, label: string): number {
  const n = /^[1-9][0-9]*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > MAX_VERSION) {
    throw invalid(source, `${label} has an invalid version (expected 1..${MAX_VERSION})`);
  }
  return n;
}

/** Parses a key ring; `source` names the setting in error messages. */
export function parseMasterKeyRing(text: string, source: string): MasterKeyRing {
  const entries = text
    .split(/[,\r\n]+/)
    .map((e) => e.trim())
    .filter((e) => e.length > 0 && !e.startsWith("#"));
  if (entries.length === 0) throw invalid(source, "no key is set");
  const only = entries[0];
  if (entries.length === 1 && only !== undefined && !/^(v[^:]*:|active\s*=)/.test(only)) {
    return { active: 1, keys: new Map([[1, decodeKey(only, source, "the key")]]) };
  }
  const keys = new Map<number, Buffer>();
  let active: number | undefined;
  entries.forEach((entry, i) => {
    const label = `entry ${i + 1}`;
    const activeMatch = /^active\s*=\s*(.*)$/.exec(entry);
    if (activeMatch) {
      if (active !== undefined) throw invalid(source, "`active=` is given more than once");
      active = parseVersion(activeMatch[1] ?? "", source, label);
      return;
    }
    const keyMatch = /^v([^:]*):(.*)$/.exec(entry);
    if (!keyMatch) throw invalid(source, `${label} is neither \`v<n>:<base64>\` nor \`active=<n>\``);
    const version = parseVersion(keyMatch[1] ?? "", source, label);
    if (keys.has(version)) throw invalid(source, `version ${version} is given more than once`);
    keys.set(version, decodeKey((keyMatch[2] ?? "").trim(), source, label));
  });
  if (keys.size === 0) throw invalid(source, "no key is set");
  const chosen = active ?? Math.max(...keys.keys());
  if (!keys.has(chosen)) throw invalid(source, `the active version ${chosen} has no key`);
  return { active: chosen, keys };
}

/** A fresh key in the format the loader accepts. */
export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_LENGTH).toString("base64");
}

function readKeyFile(path: string, profile: LoadMasterKeyOptions["profile"]): string {
  const source = "ZENMESH_MASTER_KEY_FILE";
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    throw new ZenError("CONFIG_INVALID", { message: `${source} (${path}) cannot be read`, cause: err });
  }
  if (!st.isFile()) throw invalid(source, `${path} is not a regular file`);
  if (st.size > MAX_FILE_BYTES) throw invalid(source, `${path} is too large to be a key file`);
  if (profile === "production" && (st.mode & 0o077) !== 0) {
    throw new ZenError("CONFIG_INSECURE", {
      message: `${source} (${path}) is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
    });
  }
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ZenError("CONFIG_INVALID", { message: `${source} (${path}) cannot be read`, cause: err });
  }
}

/** Creates `<dataDir>/master.key` if absent (O_EXCL, 0600) and returns its contents. */
function devKeyFile(dataDir: string): { path: string; text: string } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, DEV_MASTER_KEY_FILE);
  let fd: number | undefined;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new ZenError("CONFIG_INVALID", {
        message: `cannot create the dev master key ${path}`,
        cause: err,
      });
    }
  }
  if (fd !== undefined) {
    const text = `${generateMasterKey()}\n`;
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkSync(path);
      throw new ZenError("CONFIG_INVALID", {
        message: `cannot write the dev master key ${path}`,
        cause: err,
      });
    }
    closeSync(fd);
    return { path, text };
  }
  return { path, text: readKeyFile(path, "dev") };
}

export function loadMasterKeyRing(opts: LoadMasterKeyOptions): MasterKeyRing {
  const hasKey = opts.key !== undefined;
  const hasFile = opts.keyFile !== undefined;
  if (hasKey && hasFile) {
    throw new ZenError("CONFIG_INVALID", {
      message: "set only one of ZENMESH_MASTER_KEY and ZENMESH_MASTER_KEY_FILE",
    });
  }
  if (opts.key !== undefined) return parseMasterKeyRing(opts.key, "ZENMESH_MASTER_KEY");
  if (opts.keyFile !== undefined) {
    if (opts.keyFile.length === 0) throw invalid("ZENMESH_MASTER_KEY_FILE", "the path is empty");
    return parseMasterKeyRing(readKeyFile(opts.keyFile, opts.profile), "ZENMESH_MASTER_KEY_FILE");
  }
  if (opts.profile === "production") {
    throw new ZenError("CONFIG_INSECURE", {
      message:
        "the production profile needs a master key: set ZENMESH_MASTER_KEY or ZENMESH_MASTER_KEY_FILE " +
        "(the dev profile generates one into the data dir)",
    });
  }
  const dev = devKeyFile(opts.dataDir);
  return parseMasterKeyRing(dev.text, dev.path);
}
