/**
 * Assembles the backend's services from a parsed Config: the database (PGlite
 * under the data dir, or PostgreSQL), ZenLock with the master key ring, and
 * the tenancy dependencies. Only the backend and operator commands call this:
 * no other role ever holds database credentials.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import {
  assertMigrationSafe,
  assertProductionSafe,
  type Config,
  checkRuntimeRole,
  runtimeRoleWarnings,
} from "../config/index.ts";
import { systemClock, ZenError } from "../core/index.ts";
import { type DatabaseOptions, type OpenedDatabase, openDatabase, tenantFence } from "../db/index.ts";
import type { TenancyDeps } from "../tenancy/index.ts";
import { loadMasterKeyRing, type MasterKeyRing, ZenLock } from "../zenlock/index.ts";

export interface Services {
  config: Config;
  masterKeys: MasterKeyRing;
  db: OpenedDatabase;
  zenlock: ZenLock;
  tenancy: TenancyDeps;
  /** What the production profile would refuse of the database login, said at start-up in dev. */
  databaseWarnings: string[];
  /** Present when ZENMESH_REDIS_URL is set (rediss:// in production). */
  redis?: Redis | undefined;
  close(): Promise<void>;
}

export function pgliteDir(config: Config): string {
  return join(config.dataDir, "pgdata");
}

/**
 * The CA bundle travels as `sslrootcert` in the URL: pg lets the parsed URL
 * override an explicit `ssl` option, so a CA passed beside it would be
 * silently dropped. pg reads the file itself.
 */
export function withRootCert(url: string, caFile: string | undefined): string {
  if (caFile === undefined) return url;
  const u = new URL(url);
  u.searchParams.set("sslrootcert", caFile);
  return u.toString();
}

function loadMasterKeys(config: Config): MasterKeyRing {
  return loadMasterKeyRing({
    profile: config.profile,
    dataDir: config.dataDir,
    key: config.masterKey,
    keyFile: config.masterKeyFile,
  });
}

/**
 * Applies migrations with the owner connection. Needs the master key ring: migrating stores
 * the tenant fence's key of each master key version (derived from it, never the master key
 * itself), which only the owner can read and without which the runtime's context is refused.
 */
export async function migrateDatabase(config: Config): Promise<void> {
  assertMigrationSafe(config);
  const db = await openDatabase(databaseOptions(config, loadMasterKeys(config)), { migrate: true });
  await db.close();
}

function databaseOptions(config: Config, masterKeys: MasterKeyRing): DatabaseOptions {
  const fence = tenantFence(masterKeys);
  const url = config.database.url;
  if (!url) return { kind: "pglite", dataDir: pgliteDir(config), fence };
  return {
    kind: "postgres",
    url: withRootCert(url, config.database.caFile),
    ownerUrl: config.database.ownerUrl && withRootCert(config.database.ownerUrl, config.database.caFile),
    poolSize: config.database.poolSize,
    fence,
  };
}

/**
 * The backend's Redis connection, when configured. A rediss:// server is
 * verified against the default roots, or only against ZENMESH_REDIS_CA_FILE
 * when that is set (a private CA), never not at all.
 */
export async function openRedis(config: Config): Promise<Redis | undefined> {
  if (!config.redis.url) return undefined;
  let ca: Buffer | undefined;
  if (config.redis.caFile !== undefined) {
    try {
      ca = readFileSync(config.redis.caFile);
    } catch (err) {
      throw new ZenError("CONFIG_INVALID", {
        message: `ZENMESH_REDIS_CA_FILE (redis.caFile): cannot read ${config.redis.caFile}`,
        cause: err,
      });
    }
  }
  const redis = new Redis(config.redis.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    // Fail fast rather than queue: a signed hop must not wait for Redis to come back.
    enableOfflineQueue: false,
    connectTimeout: 5_000,
    // Only reached with a rediss:// URL (the configuration refuses a CA file beside redis://).
    ...(ca === undefined ? {} : { tls: { ca } }),
  });
  // Connection errors surface per command (and fail hops closed); the event must not crash the process.
  redis.on("error", () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new ZenError("UNAVAILABLE", { message: "Redis is unreachable (ZENMESH_REDIS_URL)", cause: err });
  }
  return redis;
}

export async function openServices(config: Config, opts: { migrate?: boolean } = {}): Promise<Services> {
  assertProductionSafe(config);
  const masterKeys = loadMasterKeys(config);
  const db = await openDatabase(databaseOptions(config, masterKeys), {
    // Production migrates only when given the owner connection; otherwise `zenmesh migrate` does.
    migrate: opts.migrate ?? (config.profile === "dev" || config.database.ownerUrl !== undefined),
  });
  let databaseWarnings: string[] = [];
  try {
    if (db.kind === "postgres") {
      const report = await db.inspectRuntimeRole();
      const verdict = checkRuntimeRole(report, config.profile);
      if (!verdict.ok) {
        throw new ZenError("CONFIG_INSECURE", { message: verdict.problems.join("; ") });
      }
      databaseWarnings = runtimeRoleWarnings(report, config.profile);
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
    quotas: {
      sources: config.quotas.sourcesPerProject,
      destinations: config.quotas.destinationsPerProject,
      subscriptions: config.quotas.subscriptionsPerProject,
      apiKeys: config.quotas.apiKeysPerProject,
      rotationsPerDay: config.quotas.rotationsPerDay,
    },
  };
  let redis: Redis | undefined;
  try {
    redis = await openRedis(config);
  } catch (err) {
    await db.close();
    throw err;
  }
  return {
    config,
    masterKeys,
    db,
    zenlock,
    tenancy,
    redis,
    databaseWarnings,
    async close() {
      redis?.disconnect();
      await db.close();
    },
  };
}
