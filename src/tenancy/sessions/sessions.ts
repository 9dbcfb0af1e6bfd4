/**
 * Human sessions: a 256-bit random token in an HttpOnly, Secure, SameSite
 * cookie; the database stores only its SHA-256. Sessions end at an idle
 * timeout, an absolute timeout, or logout (revocation), whichever is first.
 * Login failures do not reveal whether the email exists (a dummy scrypt runs).
 */
import { randomBytes } from "node:crypto";
import { appendAudit, SYSTEM_CHAIN } from "../../audit/index.ts";
import { newId, type Result } from "../../core/index.ts";
import { hashPassword, sha256, verifyPassword } from "../../crypto/index.ts";
import type { TenancyDeps } from "../deps.ts";
import { isRole, type Role } from "../permissions.ts";
import { findUserByEmail } from "../users/users.ts";

export const SESSION_COOKIE = "zm_session";
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface SessionPrincipal {
  kind: "user";
  userId: string;
  sessionId: string;
}

export interface Membership {
  tenantId: string;
  role: Role;
}

interface Meta {
  correlationId: string;
  ip?: string | undefined;
}

let dummyHash: Promise<string> | undefined;

function audit(
  deps: TenancyDeps,
  meta: Meta,
  action: string,
  outcome: "success" | "failure",
  userId?: string,
) {
  return deps.db.withTenant(SYSTEM_CHAIN, (tx) =>
    appendAudit(tx, {
      tenantId: null,
      actor: userId ? { type: "user", id: userId } : { type: "anonymous" },
      action,
      outcome,
      ...(userId ? { target: { type: "user", id: userId } } : {}),
      correlationId: meta.correlationId,
      ...(meta.ip ? { ip: meta.ip } : {}),
    }),
  );
}

export async function login(
  deps: TenancyDeps,
  input: { email: string; password: string },
  meta: Meta,
): Promise<
  Result<{ token: string; sessionId: string; userId: string; expiresAt: Date }, "invalid_credentials">
> {
  const user = await findUserByEmail(deps, input.email);
  // Every attempt pays for one scrypt, so timing does not tell unknown or disabled accounts apart.
  dummyHash ??= hashPassword("zenmesh-timing-equaliser");
  const matches = await verifyPassword(input.password, user?.passwordHash ?? (await dummyHash));
  const ok = user !== undefined && !user.disabled && matches;
  if (!ok || !user) {
    await audit(deps, meta, "auth.login", "failure", user?.id);
    return { ok: false, reason: "invalid_credentials" };
  }
  const token = randomBytes(32).toString("base64url");
  const sessionId = newId("session");
  const now = deps.clock.now();
  const idle = new Date(now.getTime() + deps.sessions.idleTimeoutSeconds * 1000);
  const absolute = new Date(now.getTime() + deps.sessions.absoluteTimeoutSeconds * 1000);
  await deps.db.withGlobal((tx) =>
    tx.query(
      `insert into sessions (id, token_hash, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at)
       values ($1, $2, $3, $4, $4, $5, $6)`,
      [sessionId, sha256(token), user.id, now, idle, absolute],
    ),
  );
  await audit(deps, meta, "auth.login", "success", user.id);
  return {
    ok: true,
    value: { token, sessionId, userId: user.id, expiresAt: idle < absolute ? idle : absolute },
  };
}

export async function authenticateSession(
  deps: TenancyDeps,
  token: string,
): Promise<Result<SessionPrincipal, "malformed" | "unknown" | "expired" | "revoked">> {
  if (!TOKEN_PATTERN.test(token)) return { ok: false, reason: "malformed" };
  const now = deps.clock.now();
  return deps.db.withGlobal(async (tx) => {
    const r = await tx.query<{
      id: string;
      user_id: string;
      last_seen_at: Date;
      idle_expires_at: Date;
      absolute_expires_at: Date;
      revoked_at: Date | null;
    }>(
      `select s.id, s.user_id, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.revoked_at
       from sessions s join users u on u.id = s.user_id and u.disabled_at is null where s.token_hash = $1`,
      [sha256(token)],
    );
    const s = r.rows[0];
    if (!s) return { ok: false, reason: "unknown" };
    if (s.revoked_at !== null) return { ok: false, reason: "revoked" };
    const t = now.getTime();
    if (new Date(s.idle_expires_at).getTime() <= t || new Date(s.absolute_expires_at).getTime() <= t) {
      return { ok: false, reason: "expired" };
    }
    // Slide the idle window, at most once every 30 s, never past the absolute end.
    if (t - new Date(s.last_seen_at).getTime() >= 30_000) {
      const idle = Math.min(
        t + deps.sessions.idleTimeoutSeconds * 1000,
        new Date(s.absolute_expires_at).getTime(),
      );
      await tx.query("update sessions set last_seen_at = $2, idle_expires_at = $3 where id = $1", [
        s.id,
        now,
        new Date(idle),
      ]);
    }
    return { ok: true, value: { kind: "user", userId: s.user_id, sessionId: s.id } };
  });
}

export async function logout(deps: TenancyDeps, principal: SessionPrincipal, meta: Meta): Promise<void> {
  await deps.db.withGlobal((tx) =>
    tx.query("update sessions set revoked_at = $2 where id = $1 and revoked_at is null", [
      principal.sessionId,
      deps.clock.now(),
    ]),
  );
  await audit(deps, meta, "auth.logout", "success", principal.userId);
}

/** The user's memberships across tenants (the user-context RLS policy allows exactly these). */
export async function membershipsOf(deps: TenancyDeps, userId: string): Promise<Membership[]> {
  return deps.db.withUser(userId, async (tx) => {
    const r = await tx.query<{ tenant_id: string; role: string }>(
      "select tenant_id, role from memberships where user_id = $1 order by tenant_id",
      [userId],
    );
    return r.rows.flatMap((m) => (isRole(m.role) ? [{ tenantId: m.tenant_id, role: m.role }] : []));
  });
}
