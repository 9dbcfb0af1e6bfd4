import { z } from "zod";
import { ZenError } from "../../core/index.ts";
import { getUser, login, logout, membershipsOf, SESSION_COOKIE } from "../../tenancy/index.ts";
import { checkNotBlocked, recordFailure, requirePrincipal } from "../auth.ts";
import { clientIp } from "../client-address.ts";
import type { RouteContext } from "../context.ts";
import { defineRoute } from "../route.ts";

function cookie(value: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
}

const me = z.union([
  z.object({
    type: z.literal("api_key"),
    key_id: z.string(),
    tenant_id: z.string(),
    project_id: z.string(),
    permissions: z.array(z.string()),
  }),
  z.object({
    type: z.literal("user"),
    user_id: z.string(),
    email: z.string(),
    memberships: z.array(z.object({ tenant_id: z.string(), role: z.string() })),
  }),
]);

export function sessionRoutes(rc: RouteContext): void {
  defineRoute(rc, {
    method: "POST",
    url: "/v1/auth/login",
    operationId: "login",
    summary: "Sign in with email and password; sets the session cookie",
    tag: "auth",
    auth: false,
    body: z.strictObject({ email: z.string().max(320), password: z.string().max(1024) }),
    responses: {
      200: { description: "Signed in", schema: z.object({ user_id: z.string(), expires_at: z.string() }) },
    },
    async handler(req, reply, { body }) {
      checkNotBlocked(rc.auth, req);
      const r = await login(rc.tenancy, body, { correlationId: String(req.id), ip: clientIp(req) });
      if (!r.ok) {
        recordFailure(rc.auth, req, "login");
        throw new ZenError("UNAUTHENTICATED", { message: "Invalid email or password." });
      }
      reply.header("set-cookie", cookie(r.value.token, rc.tenancy.sessions.absoluteTimeoutSeconds));
      reply.header("cache-control", "no-store");
      return { user_id: r.value.userId, expires_at: r.value.expiresAt.toISOString() };
    },
  });

  defineRoute(rc, {
    method: "POST",
    url: "/v1/auth/logout",
    operationId: "logout",
    summary: "End the current session",
    tag: "auth",
    auth: true,
    responses: { 204: { description: "Signed out" } },
    async handler(req, reply) {
      const p = await requirePrincipal(rc.auth, req);
      if (p.kind !== "user")
        throw new ZenError("VALIDATION_FAILED", { message: "API keys have no session to end." });
      await logout(rc.tenancy, p, { correlationId: String(req.id), ip: clientIp(req) });
      reply.header("set-cookie", cookie("", 0));
      return undefined;
    },
  });

  defineRoute(rc, {
    method: "GET",
    url: "/v1/me",
    operationId: "me",
    summary: "The calling principal",
    tag: "auth",
    auth: true,
    responses: { 200: { description: "The principal", schema: me } },
    async handler(req) {
      const p = await requirePrincipal(rc.auth, req);
      if (p.kind === "api_key") {
        return {
          type: "api_key",
          key_id: p.keyId,
          tenant_id: p.tenantId,
          project_id: p.projectId,
          permissions: [...p.permissions].sort(),
        };
      }
      const user = await getUser(rc.tenancy, p.userId);
      if (!user) throw new ZenError("UNAUTHENTICATED");
      const memberships = await membershipsOf(rc.tenancy, p.userId);
      return {
        type: "user",
        user_id: user.id,
        email: user.email,
        memberships: memberships.map((m) => ({ tenant_id: m.tenantId, role: m.role })),
      };
    },
  });
}
