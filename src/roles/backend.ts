/**
 * The backend role: the only process holding database, Redis and master-key
 * credentials. It serves the public control API and the internal (mTLS)
 * API the other roles and the operator use.
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { trustProxyNotice } from "../api/client-address.ts";
import { createApiMetrics, type MetricsServer, type MetricsTls, startMetricsServer } from "../api/metrics.ts";
import { buildApiServer } from "../api/server.ts";
import type { Config } from "../config/index.ts";
import type { CertificateAuthority } from "../identity/index.ts";
import type { IdentitySource } from "../identity/types.ts";
import { type Logger, serializeError } from "../log/index.ts";
import { startBackendDelivery } from "./backend-deliver.ts";
import { type BackendMesh, startBackendMesh } from "./backend-mesh.ts";
import { type JoinServer, startJoinServer } from "./join.ts";
import type { PeerUrl } from "./peer-url.ts";
import { openServices, type Services } from "./services.ts";
import { VERSION } from "./version.ts";

export interface RunningBackend {
  services: Services;
  mesh: BackendMesh;
  apiUrl: string;
  internalUrl: string;
  publicUrls: Record<string, string>;
  close(): Promise<void>;
}

/** The metrics listener's TLS material, read from the configured files (none: plain HTTP, loopback only in production). */
function metricsTls(config: Config): MetricsTls | undefined {
  const m = config.metrics;
  if (m.tlsCertFile === undefined || m.tlsKeyFile === undefined) return undefined;
  return {
    cert: readFileSync(m.tlsCertFile, "utf8"),
    key: readFileSync(m.tlsKeyFile, "utf8"),
    clientCa: m.tlsClientCaFile === undefined ? undefined : readFileSync(m.tlsClientCaFile, "utf8"),
  };
}

export async function startBackend(
  config: Config,
  logger: Logger,
  opts: {
    identity: IdentitySource;
    apiPort: number;
    /** The metrics listener's port; default `metrics.port`. */
    metricsPort?: number | undefined;
    internalPort: number;
    ca?: CertificateAuthority | undefined;
    /** Where the ingesters listen, for the ingest URLs sources show. */
    ingestBaseUrl: () => string;
    /** Where egress listens, once known. */
    egressUrl?: PeerUrl | undefined;
    /** Egress's public box key: destination secrets are sealed to it. */
    egressBoxPublicKey?: Buffer | undefined;
    /** False: the migrations ran before this process started; only check the schema is current. */
    migrate?: boolean;
  },
): Promise<RunningBackend> {
  const services = await openServices(config, opts.migrate === false ? { migrate: false } : {});
  const maintenance = startMaintenance(services, logger);
  const delivery = startBackendDelivery(services, config, logger, opts.identity);
  opts.egressUrl?.onChange((url) => delivery.setEgressUrl(url));
  const metrics = createApiMetrics({ defaultMetrics: config.metrics.enabled });
  const api = buildApiServer({
    tenancy: services.tenancy,
    logger,
    version: VERSION,
    trustProxy: config.api.trustProxy,
    headersTimeoutMs: config.api.headersTimeoutSeconds * 1000,
    requestTimeoutMs: config.api.requestTimeoutSeconds * 1000,
    maxConnections: config.api.maxConnections,
    authFailureLimit: config.auth.failureLimit,
    authFailureWindowSeconds: config.auth.failureWindowSeconds,
    metrics,
    ingestBaseUrl: opts.ingestBaseUrl,
    maxSecretVersions: config.ingest.maxSecretVersions,
    egressBoxKey: () => opts.egressBoxPublicKey,
    delivery: { queue: delivery.queue, kick: () => delivery.scheduler.kick() },
  });
  let mesh: BackendMesh | undefined;
  let join: JoinServer | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    mesh = await startBackendMesh(services, config, logger, opts.identity, {
      port: opts.internalPort,
      redis: services.redis,
      ca: opts.ca,
      delivery,
    });
    if (opts.ca) {
      join = await startJoinServer({
        svc: services,
        ca: opts.ca,
        identity: opts.identity,
        logger,
        host: config.mesh.host,
        port: config.mesh.joinPort,
        svidTtlSeconds: config.mesh.svidTtlSeconds,
      });
    }
    await api.listen({ host: config.api.host, port: opts.apiPort });
    const notice = trustProxyNotice(config.api.trustProxy, config.api.host);
    if (notice) logger.warn(notice);
    for (const warning of services.databaseWarnings) logger.warn(warning);
    if (config.metrics.enabled) {
      metricsServer = await startMetricsServer({
        registry: metrics.registry,
        host: config.metrics.host,
        port: opts.metricsPort ?? config.metrics.port,
        logger,
        tls: metricsTls(config),
      });
    }
  } catch (err) {
    await metricsServer?.close().catch(() => {});
    await join?.close().catch(() => {});
    await mesh?.close().catch(() => {});
    await api.close().catch(() => {});
    await delivery.close().catch(() => {});
    await maintenance.stop();
    await services.close();
    throw err;
  }
  const addr = api.server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const running = mesh;
  const joinServer = join;
  const metricsListener = metricsServer;
  const apiUrl = `http://${host}:${addr.port}`;
  return {
    services,
    mesh: running,
    apiUrl,
    internalUrl: running.server.url,
    publicUrls: {
      api: apiUrl,
      ...(joinServer ? { join: joinServer.url } : {}),
      ...(metricsListener ? { metrics: metricsListener.url } : {}),
    },
    async close() {
      await metricsListener?.close();
      await joinServer?.close();
      await api.close();
      await delivery.close();
      await running.close();
      await maintenance.stop();
      await services.close();
    },
  };
}

const MAINTAIN_FIRST_MS = 60_000;
const MAINTAIN_EVERY_MS = 10 * 60_000;

/**
 * The embedded database has no autovacuum: the backend vacuums and analyzes
 * its churning tables a minute after start and every ten minutes after. A
 * failed run is logged and tried again next time; stopping waits for a run
 * in progress, so the database is never closed under it.
 */
function startMaintenance(services: Services, logger: Logger): { stop(): Promise<void> } {
  if (services.db.kind !== "pglite") return { stop: async () => {} };
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = () => {
    if (stopped || running) return;
    running = services.db
      .maintain()
      .then(({ ms, tables }) => logger.info({ ms, tables }, "embedded database vacuumed and analyzed"))
      .catch((err: unknown) =>
        logger.warn({ err: serializeError(err) }, "embedded database maintenance failed"),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const first = setTimeout(run, MAINTAIN_FIRST_MS);
  const every = setInterval(run, MAINTAIN_EVERY_MS);
  first.unref();
  every.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(every);
      await running;
    },
  };
}
