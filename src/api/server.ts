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
import type { RouteContext } from "./context.ts";

import { toWire, toZenError } from "./errors.ts";
import { createApiMetrics } from "./metrics.ts";
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
  trustProxy: boolean;
  authFailureLimit: number;
  authFailureWindowSeconds: number;
  /** Process-wide metrics (CPU, memory, event loop); off when several servers share a process. */
  defaultMetrics?: boolean;
  bodyLimitBytes?: number;
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
  // Typed as the default instance: route modules need no knowledge of the logger's concrete type.
  const app: FastifyInstance = Fastify({
    loggerInstance: opts.logger,
    // One metadata-only line per response comes from the onResponse hook instead.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: opts.trustProxy,
    bodyLimit: opts.bodyLimitBytes ?? 64 * 1024,
    genReqId: (req) => correlationIdFrom(req.headers),
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 128 },
  }) as unknown as FastifyInstance;
  // The API speaks JSON only; Fastify's built-in text/plain parser would let strings reach validation.
  app.removeContentTypeParser("text/plain");
  const metrics = createApiMetrics({ defaultMetrics: opts.defaultMetrics ?? true });
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
    authenticate: (req) => requirePrincipal(auth, req),
  };

  app.addHook("onRequest", async (req, reply) => {
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
    if (z.code === "FORBIDDEN") await auditDenial(opts, req, z.details);
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

  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  const doc = openApiDocument(registry, { title: "zenmesh control API", version: opts.version });
  app.get("/openapi.json", async () => doc);
  return app;
}

/** Authorization denials are audited in the tenant's chain, outside the failed action's transaction. */
async function auditDenial(
  opts: ApiServerOptions,
  req: FastifyRequest,
  details: Record<string, unknown> | undefined,
) {
  const ctx = lastContext(req);
  if (!ctx) return;
  const permission = typeof details?.permission === "string" ? details.permission : null;
  try {
    await appendAuditIn(opts.tenancy.db, {
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: "authz.denied",
      outcome: "denied",
      ...(ctx.projectId ? { projectId: ctx.projectId } : {}),
      correlationId: ctx.correlationId,
      details: { permission, route: req.routeOptions.url ?? null, method: req.method },
      ...(ctx.ip ? { ip: ctx.ip } : {}),
    });
  } catch (err) {
    req.log.error({ correlation_id: req.id, err, actor: actorId(ctx.actor) }, "could not audit a denial");
  }
}
