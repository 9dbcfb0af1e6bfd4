/**
 * A printable view of the configuration for start-up logs and `zenmesh
 * config`: URL passwords become `***` and the master key shows only whether
 * it is set.
 */
import type { Config } from "./schema.ts";
import { redactUrl } from "./urls.ts";

function url(value: string | undefined): string | undefined {
  return value === undefined ? undefined : redactUrl(value);
}

export function describeConfig(config: Config): Record<string, unknown> {
  return {
    profile: config.profile,
    dataDir: config.dataDir,
    api: { ...config.api },
    database: {
      url: url(config.database.url) ?? "(embedded PGlite)",
      ownerUrl: url(config.database.ownerUrl),
      poolSize: config.database.poolSize,
      caFile: config.database.caFile,
    },
    redis: {
      url: url(config.redis.url),
      ...(config.redis.caFile === undefined ? {} : { caFile: config.redis.caFile }),
    },
    masterKey: config.masterKey === undefined ? "unset" : "set",
    masterKeyFile: config.masterKeyFile,
    log: { ...config.log },
    apiKeys: { ...config.apiKeys },
    sessions: { ...config.sessions },
    auth: { ...config.auth },
    metrics: { ...config.metrics },
  };
}
