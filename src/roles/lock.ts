/**
 * One process owns an embedded data dir at a time: PGlite has no multi-process
 * safety, so a second opener would corrupt it. The lock file holds the owner's
 * pid; a lock left by a dead process is taken over.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ZenError } from "../core/index.ts";

export interface DataDirLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function lockPath(dataDir: string): string {
  return join(dataDir, "zenmesh.lock");
}

/** The pid holding the data dir, if a live process does. */
export function lockHolder(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(lockPath(dataDir), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

const TAKEOVER_STALE_MS = 10_000;

/**
 * Creates the lock file with the pid already in it: written under a private
 * name, then hard-linked into place (fails if the lock exists). A lock file is
 * never seen empty, which a racer would take for a dead holder's.
 */
function createWithPid(path: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
  writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600, flag: "wx" });
  try {
    linkSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes a lock left by a dead process. Only the holder of the exclusively
 * created takeover file may remove it, and it re-checks the holder first, so
 * two starters that both saw a dead pid cannot remove each other's new lock.
 */
function takeOverStaleLock(dataDir: string): void {
  const takeover = `${lockPath(dataDir)}.takeover`;
  let fd: number;
  try {
    fd = openSync(takeover, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    // Another starter is taking over; one that crashed mid-way leaves a file that goes stale.
    try {
      if (Date.now() - statSync(takeover).mtimeMs > TAKEOVER_STALE_MS) rmSync(takeover, { force: true });
    } catch {
      // gone already
    }
    return;
  }
  try {
    if (lockHolder(dataDir) === undefined) rmSync(lockPath(dataDir), { force: true });
  } finally {
    closeSync(fd);
    rmSync(takeover, { force: true });
  }
}

export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = lockPath(dataDir);
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      createWithPid(path);
      return {
        release() {
          if (lockHolder(dataDir) === process.pid) rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = lockHolder(dataDir);
      if (holder !== undefined) {
        throw new ZenError("DATA_DIR_LOCKED", {
          message: `the data dir ${dataDir} is in use by process ${holder}`,
        });
      }
      takeOverStaleLock(dataDir);
      pause(20 + Math.floor(Math.random() * 30));
    }
  }
  throw new ZenError("DATA_DIR_LOCKED", { message: `could not lock the data dir ${dataDir}` });
}
