/**
 * The one table that names every setting three ways: its path in the config
 * file, its environment variable and (for a few) its command-line flag. Error
 * messages name settings from here so an operator can find what to fix.
 */

export type SettingKind = "string" | "integer" | "boolean";

export interface Setting {
  /** Dotted path in the config file and in `Config`. */
  path: string;
  env: string;
  /** Kebab-case flag name without the leading `--`. */
  flag?: string;
  kind: SettingKind;
  /** Secret values are never echoed, not even in errors. */
  secret?: boolean;
}

export const SETTINGS: readonly Setting[] = [
  { path: "profile", env: "ZENMESH_PROFILE", flag: "profile", kind: "string" },
  { path: "dataDir", env: "ZENMESH_DATA_DIR", flag: "data-dir", kind: "string" },
  { path: "api.host", env: "ZENMESH_API_HOST", flag: "api-host", kind: "string" },
  { path: "api.port", env: "ZENMESH_API_PORT", flag: "api-port", kind: "integer" },
  { path: "api.trustProxy", env: "ZENMESH_API_TRUST_PROXY", kind: "string" },
  { path: "api.headersTimeoutSeconds", env: "ZENMESH_API_HEADERS_TIMEOUT_SECONDS", kind: "integer" },
  { path: "api.requestTimeoutSeconds", env: "ZENMESH_API_REQUEST_TIMEOUT_SECONDS", kind: "integer" },
  { path: "api.maxConnections", env: "ZENMESH_API_MAX_CONNECTIONS", kind: "integer" },
  { path: "database.url", env: "ZENMESH_DATABASE_URL", flag: "database-url", kind: "string", secret: true },
  { path: "database.ownerUrl", env: "ZENMESH_DATABASE_OWNER_URL", kind: "string", secret: true },
  { path: "database.poolSize", env: "ZENMESH_DATABASE_POOL_SIZE", kind: "integer" },
  { path: "database.caFile", env: "ZENMESH_DATABASE_CA_FILE", kind: "string" },
  { path: "redis.url", env: "ZENMESH_REDIS_URL", kind: "string", secret: true },
  { path: "redis.caFile", env: "ZENMESH_REDIS_CA_FILE", kind: "string" },
  { path: "masterKey", env: "ZENMESH_MASTER_KEY", kind: "string", secret: true },
  { path: "masterKeyFile", env: "ZENMESH_MASTER_KEY_FILE", kind: "string" },
  { path: "log.level", env: "ZENMESH_LOG_LEVEL", flag: "log-level", kind: "string" },
  { path: "apiKeys.environment", env: "ZENMESH_API_KEY_ENV", kind: "string" },
  { path: "sessions.idleTimeoutSeconds", env: "ZENMESH_SESSION_IDLE_SECONDS", kind: "integer" },
  { path: "sessions.absoluteTimeoutSeconds", env: "ZENMESH_SESSION_ABSOLUTE_SECONDS", kind: "integer" },
  { path: "auth.failureLimit", env: "ZENMESH_AUTH_FAILURE_LIMIT", kind: "integer" },
  { path: "auth.failureWindowSeconds", env: "ZENMESH_AUTH_FAILURE_WINDOW_SECONDS", kind: "integer" },
  { path: "metrics.enabled", env: "ZENMESH_METRICS_ENABLED", kind: "boolean" },
  { path: "metrics.host", env: "ZENMESH_METRICS_HOST", kind: "string" },
  { path: "metrics.port", env: "ZENMESH_METRICS_PORT", kind: "integer" },
  { path: "metrics.tlsCertFile", env: "ZENMESH_METRICS_TLS_CERT_FILE", kind: "string" },
  { path: "metrics.tlsKeyFile", env: "ZENMESH_METRICS_TLS_KEY_FILE", kind: "string" },
  { path: "metrics.tlsClientCaFile", env: "ZENMESH_METRICS_TLS_CLIENT_CA_FILE", kind: "string" },
  { path: "mesh.trustDomain", env: "ZENMESH_TRUST_DOMAIN", flag: "trust-domain", kind: "string" },
  { path: "mesh.host", env: "ZENMESH_MESH_HOST", kind: "string" },
  {
    path: "mesh.backendPort",
    env: "ZENMESH_BACKEND_INTERNAL_PORT",
    flag: "backend-internal-port",
    kind: "integer",
  },
  {
    path: "mesh.egressPort",
    env: "ZENMESH_EGRESS_INTERNAL_PORT",
    flag: "egress-internal-port",
    kind: "integer",
  },
  { path: "mesh.ingesterPort", env: "ZENMESH_INGESTER_INTERNAL_PORT", kind: "integer" },
  { path: "mesh.bffPort", env: "ZENMESH_BFF_INTERNAL_PORT", kind: "integer" },
  { path: "mesh.joinPort", env: "ZENMESH_JOIN_PORT", kind: "integer" },
  { path: "mesh.svidTtlSeconds", env: "ZENMESH_SVID_TTL_SECONDS", kind: "integer" },
  { path: "mesh.caFile", env: "ZENMESH_CA_FILE", kind: "string" },
  { path: "mesh.backendUrl", env: "ZENMESH_BACKEND_URL", flag: "backend-url", kind: "string" },
  { path: "mesh.joinUrl", env: "ZENMESH_JOIN_URL", kind: "string" },
  { path: "mesh.joinToken", env: "ZENMESH_JOIN_TOKEN", kind: "string", secret: true },
  { path: "mesh.bundleFile", env: "ZENMESH_TRUST_BUNDLE_FILE", kind: "string" },
  { path: "mesh.certFile", env: "ZENMESH_MESH_CERT_FILE", kind: "string" },
  { path: "mesh.keyFile", env: "ZENMESH_MESH_KEY_FILE", kind: "string" },
  { path: "mesh.spireSocket", env: "ZENMESH_SPIRE_SOCKET", kind: "string" },
  { path: "mesh.hopSigning", env: "ZENMESH_HOP_SIGNING", kind: "boolean" },
  { path: "mesh.hopToleranceSeconds", env: "ZENMESH_HOP_TOLERANCE_SECONDS", kind: "integer" },
  { path: "mesh.heartbeatSeconds", env: "ZENMESH_HEARTBEAT_SECONDS", kind: "integer" },
  { path: "ingest.host", env: "ZENMESH_INGEST_HOST", kind: "string" },
  { path: "ingest.port", env: "ZENMESH_INGEST_PORT", flag: "ingest-port", kind: "integer" },
  { path: "ingest.publicUrl", env: "ZENMESH_INGEST_PUBLIC_URL", kind: "string" },
  { path: "ingest.tlsCertFile", env: "ZENMESH_INGEST_TLS_CERT_FILE", kind: "string" },
  { path: "ingest.tlsKeyFile", env: "ZENMESH_INGEST_TLS_KEY_FILE", kind: "string" },
  { path: "ingest.headersTimeoutSeconds", env: "ZENMESH_INGEST_HEADERS_TIMEOUT_SECONDS", kind: "integer" },
  { path: "ingest.requestTimeoutSeconds", env: "ZENMESH_INGEST_REQUEST_TIMEOUT_SECONDS", kind: "integer" },
  { path: "ingest.maxSecretVersions", env: "ZENMESH_INGEST_MAX_SECRET_VERSIONS", kind: "integer" },
  { path: "ingest.maxConnections", env: "ZENMESH_INGEST_MAX_CONNECTIONS", kind: "integer" },
  {
    path: "ingest.maxConnectionsPerClient",
    env: "ZENMESH_INGEST_MAX_CONNECTIONS_PER_CLIENT",
    kind: "integer",
  },
  { path: "ingest.maxInflightBytes", env: "ZENMESH_INGEST_MAX_INFLIGHT_BYTES", kind: "integer" },
  {
    path: "ingest.maxInflightBytesPerClient",
    env: "ZENMESH_INGEST_MAX_INFLIGHT_BYTES_PER_CLIENT",
    kind: "integer",
  },
  { path: "deliver.allowCidrs", env: "ZENMESH_EGRESS_ALLOW_CIDRS", kind: "string" },
  { path: "deliver.egressUrl", env: "ZENMESH_EGRESS_URL", kind: "string" },
  { path: "deliver.egressPublicKey", env: "ZENMESH_EGRESS_PUBLIC_KEY", kind: "string" },
  { path: "deliver.egressKeyFile", env: "ZENMESH_EGRESS_KEY_FILE", kind: "string" },
  { path: "deliver.pollMs", env: "ZENMESH_DELIVER_POLL_MS", kind: "integer" },
  { path: "deliver.leaseSeconds", env: "ZENMESH_DELIVER_LEASE_SECONDS", kind: "integer" },
  { path: "deliver.circuitFailureThreshold", env: "ZENMESH_CIRCUIT_FAILURE_THRESHOLD", kind: "integer" },
  { path: "deliver.circuitCooldownSeconds", env: "ZENMESH_CIRCUIT_COOLDOWN_SECONDS", kind: "integer" },
  { path: "deliver.disableAfterSeconds", env: "ZENMESH_DISABLE_AFTER_SECONDS", kind: "integer" },
  { path: "deliver.egressTenantSharePercent", env: "ZENMESH_EGRESS_TENANT_SHARE_PERCENT", kind: "integer" },
  { path: "quotas.sourcesPerProject", env: "ZENMESH_QUOTA_SOURCES_PER_PROJECT", kind: "integer" },
  { path: "quotas.destinationsPerProject", env: "ZENMESH_QUOTA_DESTINATIONS_PER_PROJECT", kind: "integer" },
  { path: "quotas.subscriptionsPerProject", env: "ZENMESH_QUOTA_SUBSCRIPTIONS_PER_PROJECT", kind: "integer" },
  { path: "quotas.apiKeysPerProject", env: "ZENMESH_QUOTA_API_KEYS_PER_PROJECT", kind: "integer" },
  { path: "quotas.rotationsPerDay", env: "ZENMESH_QUOTA_ROTATIONS_PER_DAY", kind: "integer" },
];

/** Where the config file path comes from, besides `loadConfig({ file })`. */
export const CONFIG_FILE_ENV = "ZENMESH_CONFIG";
export const CONFIG_FILE_FLAG = "config";

const byPath = new Map(SETTINGS.map((s) => [s.path, s]));

export function settingAt(path: string): Setting | undefined {
  return byPath.get(path);
}

/** "ZENMESH_API_PORT (api.port)" for a known setting, the bare path otherwise. */
export function settingName(path: string): string {
  const s = byPath.get(path);
  return s ? `${s.env} (${s.path})` : path === "" ? "(config root)" : path;
}
