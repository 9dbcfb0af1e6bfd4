/**
 * Assembles the backend's services from a parsed Config: the database (PGlite
 * under the data dir, or PostgreSQL), ZenLock with the master key ring, and
 * the tenancy dependencies. Only the backend and operator commands call this:
 * no other role ever holds database credentials.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assertProductionSafe, type Config, checkRuntimeRole } from "../config/index.ts";
import { systemClock, ZenError } from "../core/index.ts";
import { type OpenedDatabase, openDatabase } from "../db/index.ts";
import type { TenancyDeps } from "../tenancy/index.ts";
import { loadMasterKeyRing, ZenLock } from "../zenlock/index.ts";

export interface Services {
  config: Config;
  db: OpenedDatabase;
  zenlock: ZenLock;
  tenancy: TenancyDeps;
  close(): Promise<void>;
}

export function pgliteDir(config: Config): string {
  return join(config.dataDir, "pgdata");
}

export async function openServices(config: Config, opts: { migrate?: boolean } = {}): Promise<Services> {
  assertProductionSafe(config);
  const masterKeys = loadMasterKeyRing({
    profile: config.profile,
    dataDir: config.dataDir,
    key: config.masterKey,
    keyFile: config.masterKeyFile,
  });
  const url = config.database.url;
  const db = url
    ? await openDatabase(
        {
          kind: "postgres",
          url,
          ownerUrl: config.database.ownerUrl,
          poolSize: config.database.poolSize,
          ...(config.database.caFile
            ? { ssl: { ca: readFileSync(config.database.caFile, "utf8"), rejectUnauthorized: true } }
            : {}),
        },
        // Production migrates only when given the owner connection; otherwise `zenmesh migrate` does.
        { migrate: opts.migrate ?? (config.profile === "dev" || config.database.ownerUrl !== undefined) },
      )
    : await openDatabase({ kind: "pglite", dataDir: pgliteDir(config) });
  try {
    if (db.kind === "postgres") {
      const verdict = checkRuntimeRole(await db.inspectRuntimeRole(), config.profile);
      if (!verdict.ok) {
        throw new ZenError("CONFIG_INSECURE", { message: verdict.problems.join("; ") });
      }
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  const zenlock = new ZenLock({ masterKeys });
  const tenancy: TenancyDeps = {
    db,
    zenlock,
    clock: systemClock,
    apiKeyEnvironment: config.apiKeys.environment,
    sessions: config.sessions,
  };
  return { config, db, zenlock, tenancy, close: () => db.close() };
}
