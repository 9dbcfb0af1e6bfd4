/**
 * One process owns an embedded data dir at a time: PGlite has no multi-process
 * safety, so a second opener would corrupt it. The lock file holds the owner's
 * pid; a lock left by a dead process is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
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

export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = lockPath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
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
      rmSync(path, { force: true });
    }
  }
  throw new ZenError("DATA_DIR_LOCKED", { message: `could not lock the data dir ${dataDir}` });
}
