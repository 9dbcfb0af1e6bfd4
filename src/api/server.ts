/**
 * The backend's control-plane HTTP API. Every request gets a correlation id;
 * every error leaves through one mapping (errors.ts); logs carry metadata
 * only (method, route, status, duration, correlation id), never headers,
 * query strings or bodies.
 */
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from "fastify";
import { appendAuditIn } from "../audit/index.ts";
import { actorId, correlationIdFrom, ZenError } from "../core/index.ts";
import type { Logger } from "../log/index.ts";
import type { TenancyDeps } from "../tenancy/index.ts";
import { type AuthDeps, lastContext, requirePrincipal } from "./auth.ts";
import { parseTrustProxy, rememberClient } from "./client-address.ts";
import type { RouteContext } from "./context.ts";
import { createCursors } from "./cursors.ts";

import { toWire, toZenError } from "./errors.ts";
import { type ApiMetrics, createApiMetrics } from "./metrics.ts";
import { createFailureLimiter } from "./rate-limit.ts";
import { openApiDocument, type RegisteredRoute } from "./route.ts";
import { apiKeyRoutes } from "./routes/api-keys.ts";
import { type DeliveryRouteDeps, deliveryRoutes } from "./routes/deliveries.ts";
import { destinationRoutes } from "./routes/destinations.ts";
import { eventRoutes } from "./routes/events.ts";
import { healthRoutes } from "./routes/health.ts";
import { sessionRoutes } from "./routes/session.ts";
import { sourceRoutes } from "./routes/sources.ts";
import { subscriptionRoutes } from "./routes/subscriptions.ts";
import { tenantRoutes } from "./routes/tenants.ts";

export interface ApiServerOptions {
  tenancy: TenancyDeps;
  logger: Logger;
  version: string;
  /** `ZENMESH_API_TRUST_PROXY`: proxy CIDRs or a hop count; "" trusts no X-Forwarded-For. */
  trustProxy: string;
  authFailureLimit: number;
  authFailureWindowSeconds: number;
  /** Process-wide metrics (CPU, memory, event loop); off when several servers share a process. */
  defaultMetrics?: boolean;
  /**
   * Where the server records its metrics; they are served by the metrics listener
   * (`startMetricsServer`), never on this one. Default: a registry of its own.
   */
  metrics?: ApiMetrics;
  bodyLimitBytes?: number;
  /** A client must finish sending its headers within this (slowloris defence); default 10 s. */
  headersTimeoutMs?: number;
  /** …and its whole request within this; default 30 s. */
  requestTimeoutMs?: number;
  /** Open connections at most; more are dropped as they arrive. Default 1024. */
  maxConnections?: number;
  /** Public base URL of the ingesters, for the ingest URL each source shows. */
  ingestBaseUrl: () => string;
  /** Live secret versions a source may hold (`ingest.maxSecretVersions`). */
  maxSecretVersions?: number;
  /** The egress role's X25519 public key, which destination secrets are sealed to; undefined until known. */
  egressBoxKey?: () => Buffer | undefined;
  /** The delivery queue replays go into, and a nudge for the scheduler. */
  delivery?: DeliveryRouteDeps;
}

export function buildApiServer(opts: ApiServerOptions): FastifyInstance {
  const parsedTrust = parseTrustProxy(opts.trustProxy);
  if (!parsedTrust.ok) {
    throw new ZenError("CONFIG_INVALID", { message: `api.trustProxy: ${parsedTrust.reason}` });
  }
  const trust = parsedTrust.value;
  let warnedForwarded = false;
  // Typed as the default instance: route modules need no knowledge of the logger's concrete type.
  const app: FastifyInstance = Fastify({
    loggerInstance: opts.logger,
    // One metadata-only line per response comes from the onResponse hook instead.
    logController: new LogController({ disableRequestLogging: true }),
    // The client address is worked out here (client-address.ts), never by believing the header.
    trustProxy: false,
    bodyLimit: opts.bodyLimitBytes ?? 64 * 1024,
    genReqId: (req) => correlationIdFrom(req.headers),
    // The same limits as the ingest listener: a slow client is answered 408 and cut at the
    // header or request timeout. An idle socket is closed after 30 s (connectionTimeout); the
    // keep-alive stays long so that clients reusing a connection do not race its closing.
    requestTimeout: opts.requestTimeoutMs ?? 30_000,
    connectionTimeout: 30_000,
    http: {
      headersTimeout: opts.headersTimeoutMs ?? 10_000,
      maxHeaderSize: 16 * 1024,
      // Node enforces the two timeouts only as often as it checks; its default is every 30 s.
      connectionsCheckingInterval: 1_000,
    },
    return503OnClosing: true,
    routerOptions: { maxParamLength: 128 },
  }) as unknown as FastifyInstance;
  app.server.maxHeadersCount = 100;
  app.server.maxConnections = opts.maxConnections ?? 1024;
  // The API speaks JSON only; Fastify's built-in text/plain parser would let strings reach validation.
  app.removeContentTypeParser("text/plain");
  const metrics = opts.metrics ?? createApiMetrics({ defaultMetrics: opts.defaultMetrics ?? true });
  const auth: AuthDeps = {
    tenancy: opts.tenancy,
    limiter: createFailureLimiter({
      limit: opts.authFailureLimit,
      windowSeconds: opts.authFailureWindowSeconds,
    }),
    onFailure: (reason) => metrics.authFailures.inc({ reason }),
  };
  const registry: RegisteredRoute[] = [];
  const rc: RouteContext = {
    app,
    registry,
    tenancy: opts.tenancy,
    auth,
    logger: opts.logger,
    cursors: createCursors(opts.tenancy.zenlock.cursorKey()),
    authenticate: (req) => requirePrincipal(auth, req),
  };

  app.addHook("onRequest", async (req, reply) => {
    rememberClient(req, trust);
    if (trust.kind === "none" && !warnedForwarded && req.headers["x-forwarded-for"] !== undefined) {
      warnedForwarded = true;
      opts.logger.warn(
        "a request came with X-Forwarded-For, which is ignored: ZENMESH_API_TRUST_PROXY is not set, so every client behind that proxy shares its address (one failed-authentication bucket, one address in the audit log)",
      );
    }
    reply.header("x-correlation-id", req.id);
    reply.header("x-content-type-options", "nosniff");
    reply.header("cache-control", "no-store");
  });

  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    metrics.requests.observe(
      { method: req.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    req.log.info(
      {
        correlation_id: req.id,
        method: req.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      "request",
    );
  });

  app.setErrorHandler(async (err, req, reply) => {
    const z = toZenError(err);
    if (z.status >= 500) {
      req.log.error({ correlation_id: req.id, code: z.code, err: z.cause ?? z }, "request failed");
    }
    if (z.code === "FORBIDDEN" || z.code === "REVOKE_BEYOND_PERMISSIONS")
      await auditDenial(opts, req, z.details);
    if (z.code === "NOT_FOUND") await auditProbe(opts, req);
    for (const u of z.unreachable ?? []) {
      await auditRefused(opts, req, {
        action: "authz.unreachable",
        target: { type: u.type, id: u.id },
        details: { field: u.field },
      });
    }
    const wire = toWire(z, String(req.id));
    reply.code(wire.status).headers(wire.headers).send(wire.body);
  });

  app.setNotFoundHandler(async (req, reply) => {
    const wire = toWire(new ZenError("NOT_FOUND"), String(req.id));
    reply.code(wire.status).send(wire.body);
  });

  healthRoutes(rc, { version: opts.version });
  sessionRoutes(rc);
  tenantRoutes(rc);
  apiKeyRoutes(rc);
  sourceRoutes(rc, opts.ingestBaseUrl, opts.maxSecretVersions);
  destinationRoutes(rc, opts.egressBoxKey ?? (() => undefined));
  subscriptionRoutes(rc);
  eventRoutes(rc);
  deliveryRoutes(rc, opts.delivery);

  const doc = openApiDocument(registry, { title: "zenmesh control API", version: opts.version });
  app.get("/openapi.json", async () => doc);
  return app;
}

/**
 * A refused request audited in the caller's tenant chain, outside the failed
 * action's transaction (which rolled back); a failure to audit is logged.
 */
async function auditRefused(
  opts: ApiServerOptions,
  req: FastifyRequest,
  entry: { action: string; target?: { type: string; id: string }; details: Record<string, unknown> },
) {
  const ctx = lastContext(req);
  if (!ctx) return;
  try {
    await appendAuditIn(opts.tenancy.db, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: entry.action,
      outcome: "denied",
      ...(entry.target ? { target: entry.target } : {}),
      ...(ctx.projectId ? { projectId: ctx.projectId } : {}),
      correlationId: ctx.correlationId,
      details: { ...entry.details, route: req.routeOptions.url ?? null, method: req.method },
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
  } catch (err) {
    req.log.error(
      { correlation_id: req.id, err, actor: actorId(ctx.actor), action: entry.action },
      "could not audit",
    );
  }
}

/** Authorization denials: the permission the caller lacked. */
const auditDenial = (
  opts: ApiServerOptions,
  req: FastifyRequest,
  details: Record<string, unknown> | undefined,
) =>
  auditRefused(opts, req, {
    action: "authz.denied",
    details: { permission: typeof details?.permission === "string" ? details.permission : null },
  });

// Route parameters that name a resource inside the project or tenant, by the target type audited.
const PROBED: Record<string, string> = { key_id: "api_key", job_id: "replay_job" };

/**
 * A resource id the caller's own project or tenant does not hold (another
 * project's, another tenant's, or none at all) is answered 404 and audited
 * like a probe of a foreign project or tenant: `authz.unreachable` in the
 * caller's chain. Only after the caller's context was established, so the
 * project- and tenant-level probes are not audited twice. Ids named in a
 * body (a subscription's destination and sources) are audited the same way
 * from the error's `unreachable` list, one entry per id, with the field.
 */
function auditProbe(opts: ApiServerOptions, req: FastifyRequest) {
  const params = (req.params ?? {}) as Record<string, unknown>;
  const name = Object.keys(params)
    .filter((k) => k.endsWith("_id") && k !== "project_id" && k !== "tenant_id")
    .at(-1);
  const id = name === undefined ? undefined : params[name];
  if (name === undefined || typeof id !== "string") return;
  return auditRefused(opts, req, {
    action: "authz.unreachable",
    target: { type: PROBED[name] ?? name.slice(0, -3), id },
    details: {},
  });
}
