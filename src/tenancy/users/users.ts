import { newId, ZenError } from "../../core/index.ts";
import { hashPassword } from "../../crypto/index.ts";
import { isUniqueViolation } from "../../db/index.ts";
import type { TenancyDeps } from "../deps.ts";

export interface User {
  id: string;
  email: string;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;
export const MIN_PASSWORD_LENGTH = 12;

export function validateCredentials(email: string, password: string): void {
  if (!EMAIL.test(email)) {
    throw new ZenError("VALIDATION_FAILED", {
      message: "email is not a valid address",
      details: { field: "email" },
    });
  }
  if (password.length < MIN_PASSWORD_LENGTH || password.length > 1024) {
    throw new ZenError("VALIDATION_FAILED", {
      message: `password must be ${MIN_PASSWORD_LENGTH} to 1024 characters`,
      details: { field: "password" },
    });
  }
}

/** Users are global identities; what they may do lives in per-tenant memberships. */
export async function createUser(
  deps: TenancyDeps,
  input: { email: string; password: string },
): Promise<User> {
  validateCredentials(input.email, input.password);
  const id = newId("user");
  const passwordHash = await hashPassword(input.password);
  try {
    await deps.db.withGlobal((tx) =>
      tx.query("insert into users (id, email, password_hash) values ($1, $2, $3)", [
        id,
        input.email,
        passwordHash,
      ]),
    );
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ZenError("CONFLICT", { message: "a user with this email already exists" });
    }
    throw err;
  }
  return { id, email: input.email };
}

export async function findUserByEmail(
  deps: TenancyDeps,
  email: string,
): Promise<(User & { passwordHash: string; disabled: boolean }) | undefined> {
  const row = await deps.db.withGlobal(async (tx) => {
    const r = await tx.query<{ id: string; email: string; password_hash: string; disabled_at: Date | null }>(
      "select id, email, password_hash, disabled_at from users where lower(email) = lower($1)",
      [email],
    );
    return r.rows[0];
  });
  if (!row) return undefined;
  return {
    id: row.id,
    email: row.email,
    passwordHash: row.password_hash,
    disabled: row.disabled_at !== null,
  };
}

export async function getUser(deps: TenancyDeps, userId: string): Promise<User | undefined> {
  return deps.db.withGlobal(async (tx) => {
    const r = await tx.query<User>("select id, email from users where id = $1 and disabled_at is null", [
      userId,
    ]);
    return r.rows[0];
  });
}
