/**
 * One-time join tokens: how a role joining a production installation proves
 * it was invited before it receives its first SVID (ARCHITECTURE.md section 4).
 * Guards against token theft from the database (only SHA-256 of the token is
 * stored; 256 random bits make the unsalted hash safe), replay (single use,
 * enforced by one conditional UPDATE, so two concurrent redeems cannot both
 * win) and stale invitations (short expiry, at most a day). Creation and every
 * redeem attempt are audited on the system chain in the same transaction as
 * the change they record.
 */

import { appendAudit, SYSTEM_CHAIN } from "../audit/index.ts";
import { type Clock, type Result, randomBase62, ZenError } from "../core/index.ts";
import { randomBytes, sha256 } from "../crypto/index.ts";
import type { Database, Tx } from "../db/index.ts";

export const JOIN_TOKEN_PREFIX = "zmjt_";
export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 600;
export const MAX_JOIN_TOKEN_TTL_SECONDS = 86_400;
const TOKEN_PATTERN = /^zmjt_[A-Za-z0-9_-]{43}$/;
// The join_tokens.workload CHECK constraint, so a bad name fails here with a clear message.
const WORKLOAD_PATTERN = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const MAX_WORKLOAD_LENGTH = 255;

export type JoinTokenFailure = "unknown" | "expired" | "used";

export interface CreateJoinTokenInput {
  /** The workload path the token admits, e.g. "ingester" or "agent/cluster-1". */
  workload: string;
  ttlSeconds?: number;
  /** The operator who created it. */
  createdBy: string;
  correlationId: string;
  clock: Clock;
}

export interface CreatedJoinToken {
  id: string;
  /** Shown once; only its hash is stored. */
  token: string;
  expiresAt: Date;
}

export interface RedeemJoinTokenInput {
  token: string;
  correlationId: string;
  clock: Clock;
  ip?: string;
}

export interface RedeemedJoinToken {
  workload: string;
  tokenId: string;
}

function inSystemChain<T>(db: Database, fn: (tx: Tx) => Promise<T>): Promise<T> {
  // join_tokens has no tenant column and no RLS; the system chain's fence lets the audit entry share the transaction.
  return db.withTenant(SYSTEM_CHAIN, fn);
}

export async function createJoinToken(db: Database, input: CreateJoinTokenInput): Promise<CreatedJoinToken> {
  const workload = input.workload;
  if (
    typeof workload !== "string" ||
    workload.length > MAX_WORKLOAD_LENGTH ||
    !WORKLOAD_PATTERN.test(workload)
  ) {
    throw new ZenError("VALIDATION_FAILED", {
      message:
        "workload must be lower-case path segments of [a-z0-9._-], e.g. 'ingester' or 'agent/cluster-1'",
    });
  }
  const ttl = input.ttlSeconds ?? DEFAULT_JOIN_TOKEN_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_JOIN_TOKEN_TTL_SECONDS) {
    throw new ZenError("VALIDATION_FAILED", {
      message: `ttlSeconds must be a whole number between 1 and ${MAX_JOIN_TOKEN_TTL_SECONDS}`,
    });
  }
  const token = `${JOIN_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  const id = `jtk_${randomBase62(22)}`;
  const now = input.clock.now();
  const expiresAt = new Date(now.getTime() + ttl * 1000);
  await inSystemChain(db, async (tx) => {
    await tx.query(
      `insert into join_tokens (id, token_hash, workload, created_by, created_at, expires_at)
       values ($1, $2, $3, $4, $5, $6)`,
      [id, sha256(token), workload, input.createdBy, now, expiresAt],
    );
    await appendAudit(tx, {
      tenantId: null,
      actor: { type: "operator", id: input.createdBy },
      action: "join_token.create",
      outcome: "success",
      target: { type: "join_token", id },
      correlationId: input.correlationId,
      details: { workload, expires_at: expiresAt.toISOString() },
      at: now,
    });
  });
  return { id, token, expiresAt };
}

export async function redeemJoinToken(
  db: Database,
  input: RedeemJoinTokenInput,
): Promise<Result<RedeemedJoinToken, JoinTokenFailure>> {
  const now = input.clock.now();
  const wellFormed = typeof input.token === "string" && TOKEN_PATTERN.test(input.token);
  return inSystemChain(db, async (tx) => {
    let outcome: Result<RedeemedJoinToken, JoinTokenFailure> = { ok: false, reason: "unknown" };
    let tokenId: string | undefined;
    if (wellFormed) {
      const hash = sha256(input.token);
      const won = await tx.query<{ id: string; workload: string }>(
        `update join_tokens set used_at = $2, used_by = $3
          where token_hash = $1 and used_at is null and expires_at > $2
          returning id, workload`,
        [hash, now, input.ip ?? null],
      );
      const row = won.rows[0];
      if (row) {
        tokenId = row.id;
        outcome = { ok: true, value: { workload: row.workload, tokenId: row.id } };
      } else {
        const seen = await tx.query<{ id: string; used_at: Date | string | null }>(
          "select id, used_at from join_tokens where token_hash = $1",
          [hash],
        );
        const found = seen.rows[0];
        if (found) {
          tokenId = found.id;
          outcome = { ok: false, reason: found.used_at === null ? "expired" : "used" };
        }
      }
    }
    await appendAudit(tx, {
      tenantId: null,
      actor: { type: "anonymous" },
      action: "join_token.redeem",
      outcome: outcome.ok ? "success" : "failure",
      ...(tokenId ? { target: { type: "join_token", id: tokenId } } : {}),
      correlationId: input.correlationId,
      ...(input.ip ? { ip: input.ip } : {}),
      details: outcome.ok ? { workload: outcome.value.workload } : { reason: outcome.reason },
      at: now,
    });
    return outcome;
  });
}
