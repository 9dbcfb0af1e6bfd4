/**
 * Turns a request into a principal and a principal into an ActionContext for
 * the resource it names. Credentials: `Authorization: Bearer <api key>` or the
 * session cookie. A project or tenant the principal cannot reach answers 404
 * (never 403), so ids of other tenants cannot be probed. Failed attempts are
 * counted per client address and refused over the limit.
 */
import type { FastifyRequest } from "fastify";
import { appendAuditIn } from "../audit/index.ts";
import { type ActionContext, ZenError } from "../core/index.ts";
import {
  type ApiKeyPrincipal,
  authenticateApiKey,
  authenticateSession,
  getProject,
  membershipsOf,
  permissionsForRole,
  SESSION_COOKIE,
  type SessionPrincipal,
  type TenancyDeps,
} from "../tenancy/index.ts";
import { clientBucket, clientIp } from "./client-address.ts";
import type { FailureLimiter } from "./rate-limit.ts";

export type Principal = ApiKeyPrincipal | SessionPrincipal;

export interface AuthDeps {
  tenancy: TenancyDeps;
  limiter: FailureLimiter;
  onFailure?(reason: string): void;
}

const cache = new WeakMap<FastifyRequest, Principal>();
const contexts = new WeakMap<FastifyRequest, ActionContext>();

/** The context the request's action ran under, for auditing a denial after the fact. */
export function lastContext(req: FastifyRequest): ActionContext | undefined {
  return contexts.get(req);
}

function remember(req: FastifyRequest, ctx: ActionContext): ActionContext {
  contexts.set(req, ctx);
  return ctx;
}

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== "string") return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function checkNotBlocked(deps: AuthDeps, req: FastifyRequest): void {
  const wait = deps.limiter.blockedFor(clientBucket(clientIp(req)), deps.tenancy.clock.now().getTime());
  if (wait > 0) {
    throw new ZenError("RATE_LIMITED", {
      message: "Too many failed authentication attempts.",
      headers: { "retry-after": String(wait) },
    });
  }
}

export function recordFailure(deps: AuthDeps, req: FastifyRequest, reason: string): void {
  deps.limiter.fail(clientBucket(clientIp(req)), deps.tenancy.clock.now().getTime());
  deps.onFailure?.(reason);
}

export async function requirePrincipal(deps: AuthDeps, req: FastifyRequest): Promise<Principal> {
  const known = cache.get(req);
  if (known) return known;
  checkNotBlocked(deps, req);
  const meta = { correlationId: String(req.id), ip: clientIp(req) };
  const authz = req.headers.authorization;
  let principal: Principal | undefined;
  if (authz !== undefined) {
    // The scheme name is case-insensitive (RFC 9110 section 11.1).
    const m = /^Bearer ([^\s]{1,256})$/i.exec(authz);
    if (!m) {
      recordFailure(deps, req, "malformed_header");
      throw new ZenError("UNAUTHENTICATED", { message: "Authorization must be `Bearer <api key>`." });
    }
    const r = await authenticateApiKey(deps.tenancy, m[1]!, meta);
    if (!r.ok) {
      recordFailure(deps, req, r.reason);
      throw new ZenError("UNAUTHENTICATED", { message: "The API key is not valid." });
    }
    principal = r.value;
  } else {
    const token = readCookie(req, SESSION_COOKIE);
    if (token === undefined) throw new ZenError("UNAUTHENTICATED");
    const r = await authenticateSession(deps.tenancy, token);
    if (!r.ok) {
      recordFailure(deps, req, `session_${r.reason}`);
      throw new ZenError("UNAUTHENTICATED", { message: "The session is not valid." });
    }
    principal = r.value;
    assertSameOrigin(req);
  }
  cache.set(req, principal);
  return principal;
}

/**
 * Cookie-authenticated writes must come from our own origin. SameSite=Strict
 * already keeps the cookie off cross-site requests; this is the second fence.
 */
function assertSameOrigin(req: FastifyRequest): void {
  if (req.method === "GET" || req.method === "HEAD") return;
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new ZenError("FORBIDDEN", { message: "Cross-origin request refused." });
  }
  if (host !== req.headers.host)
    throw new ZenError("FORBIDDEN", { message: "Cross-origin request refused." });
}

/**
 * A principal naming a project or tenant it cannot reach gets 404 — and the
 * attempt is audited (the key's own tenant chain, or the system chain for a
 * user), since probing other tenants' ids is what an attacker does.
 */
async function unreachable(
  deps: AuthDeps,
  req: FastifyRequest,
  p: Principal,
  target: { type: string; id: string },
) {
  await appendAuditIn(deps.tenancy.db, {
    tenantId: p.kind === "api_key" ? p.tenantId : null,
    actor:
      p.kind === "api_key"
        ? { type: "api_key", id: p.keyId, projectId: p.projectId }
        : { type: "user", id: p.userId },
    action: "authz.unreachable",
    outcome: "denied",
    target,
    correlationId: String(req.id),
    ip: clientIp(req),
    details: { route: req.routeOptions.url ?? null, method: req.method },
  });
  return new ZenError("NOT_FOUND");
}

function base(req: FastifyRequest) {
  return { correlationId: String(req.id), ip: clientIp(req) };
}

/** Context for `/v1/projects/{project_id}/…`: the project must be the key's, or in one of the user's tenants. */
export async function projectContext(
  deps: AuthDeps,
  req: FastifyRequest,
  projectId: string,
): Promise<ActionContext> {
  const p = await requirePrincipal(deps, req);
  if (p.kind === "api_key") {
    if (p.projectId !== projectId) throw await unreachable(deps, req, p, { type: "project", id: projectId });
    return remember(req, {
      ...base(req),
      tenantId: p.tenantId,
      projectId,
      actor: { type: "api_key", id: p.keyId, projectId },
      permissions: p.permissions,
    });
  }
  for (const m of await membershipsOf(deps.tenancy, p.userId)) {
    try {
      await getProject(deps.tenancy, m.tenantId, projectId);
    } catch (err) {
      if (err instanceof ZenError && err.code === "NOT_FOUND") continue;
      throw err;
    }
    return remember(req, {
      ...base(req),
      tenantId: m.tenantId,
      projectId,
      actor: { type: "user", id: p.userId },
      permissions: permissionsForRole(m.role),
    });
  }
  throw await unreachable(deps, req, p, { type: "project", id: projectId });
}

/** Context for `/v1/tenants/{tenant_id}/…`: members only; API keys never manage tenants. */
export async function tenantContext(
  deps: AuthDeps,
  req: FastifyRequest,
  tenantId: string,
): Promise<ActionContext> {
  const p = await requirePrincipal(deps, req);
  if (p.kind === "api_key") {
    if (p.tenantId !== tenantId) throw await unreachable(deps, req, p, { type: "tenant", id: tenantId });
    return remember(req, {
      ...base(req),
      tenantId,
      projectId: p.projectId,
      actor: { type: "api_key", id: p.keyId, projectId: p.projectId },
      permissions: p.permissions,
    });
  }
  const m = (await membershipsOf(deps.tenancy, p.userId)).find((x) => x.tenantId === tenantId);
  if (!m) throw await unreachable(deps, req, p, { type: "tenant", id: tenantId });
  return remember(req, {
    ...base(req),
    tenantId,
    actor: { type: "user", id: p.userId },
    permissions: permissionsForRole(m.role),
  });
}
