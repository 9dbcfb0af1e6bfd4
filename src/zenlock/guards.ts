/** Argument checks and the error shapes ZenLock throws. */
import { ZenError } from "../core/index.ts";
import { KEY_PURPOSES, type KeyPurpose, type SealContext } from "./format.ts";

export type LoadFailure = "missing" | "kek_unavailable" | "unwrap_failed";

export function assertTenant(tenantId: unknown): asserts tenantId is string {
  if (typeof tenantId !== "string" || tenantId.length === 0) {
    throw new ZenError("INTERNAL", { message: "zenlock needs a tenant id" });
  }
}

export function assertContext(ctx: SealContext): void {
  if (
    typeof ctx !== "object" ||
    ctx === null ||
    typeof ctx.table !== "string" ||
    typeof ctx.column !== "string" ||
    typeof ctx.rowId !== "string" ||
    ctx.table.length === 0 ||
    ctx.column.length === 0 ||
    ctx.rowId.length === 0
  ) {
    throw new ZenError("INTERNAL", { message: "zenlock needs a table, column and row id" });
  }
}

export function assertPurpose(purpose: unknown): asserts purpose is KeyPurpose {
  if (!KEY_PURPOSES.includes(purpose as KeyPurpose)) {
    throw new ZenError("INTERNAL", { message: "zenlock: unknown key purpose" });
  }
}

/** One shape for every failed open; the reason goes only to the (logged) cause. */
export function openFailed(reason: string): ZenError {
  return new ZenError("CRYPTO_FAILED", { cause: new Error(`zenlock open failed: ${reason}`) });
}

export function loadFailed(reason: LoadFailure): ZenError {
  switch (reason) {
    case "missing":
      return new ZenError("KEY_UNAVAILABLE", { message: "The tenant has no active key for this purpose." });
    case "kek_unavailable":
      return new ZenError("KEY_UNAVAILABLE", {
        message: "The master key version that wraps this key is not loaded.",
      });
    case "unwrap_failed":
      return new ZenError("CRYPTO_FAILED");
    default: {
      const never: never = reason;
      throw new Error(`unknown failure ${String(never)}`);
    }
  }
}
