/**
 * The CA state file: mode 0600 in a 0700 directory, written atomically
 * (temporary file, fsync, then link or rename) so a crash never leaves a
 * half-written CA, and first creation is exclusive so two processes starting
 * at once end up with one CA. A file others can read is refused: it holds
 * sealed CA keys, and the master key may sit next to it.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { ZenError } from "../core/index.ts";

const MAX_FILE_BYTES = 1024 * 1024;

/** The file's JSON, or undefined if there is no file. */
export function readCaStateFile(file: string): unknown {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ZenError("CONFIG_INVALID", { message: `the CA file ${file} cannot be read`, cause: err });
  }
  if (!st.isFile() || st.size > MAX_FILE_BYTES) {
    throw new ZenError("CONFIG_INVALID", { message: `the CA file ${file} is not a CA state file` });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new ZenError("CONFIG_INSECURE", {
      message: `the CA file ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
    });
  }
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ZenError("CONFIG_INVALID", { message: `the CA file ${file} is not valid JSON`, cause: err });
  }
}

function writeTemp(file: string, text: string): string {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw new ZenError("CONFIG_INVALID", { message: `cannot write the CA file ${file}`, cause: err });
  }
  closeSync(fd);
  return tmp;
}

function syncDir(file: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dirname(file), "r");
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Creates the file only if absent; false if another writer created it first. */
export function createCaStateFile(file: string, state: unknown): boolean {
  const tmp = writeTemp(file, `${JSON.stringify(state, null, 2)}\n`);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new ZenError("CONFIG_INVALID", { message: `cannot create the CA file ${file}`, cause: err });
  } finally {
    unlinkSync(tmp);
  }
  syncDir(file);
  return true;
}

/** Replaces the file atomically (after a rotation). */
export function replaceCaStateFile(file: string, state: unknown): void {
  const tmp = writeTemp(file, `${JSON.stringify(state, null, 2)}\n`);
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw new ZenError("CONFIG_INVALID", { message: `cannot replace the CA file ${file}`, cause: err });
  }
  syncDir(file);
}
