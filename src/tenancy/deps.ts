import type { Clock } from "../core/index.ts";
import type { Database } from "../db/index.ts";
import type { ZenLock } from "../zenlock/index.ts";
import type { ProjectQuotas } from "./quotas.ts";

/** Services every tenancy action receives (the per-request part is the ActionContext). */
export interface TenancyDeps {
  db: Database;
  zenlock: ZenLock;
  clock: Clock;
  /** The `<env>` in `zm_<env>_…` that this deployment issues and accepts. */
  apiKeyEnvironment: "live" | "test";
  sessions: { idleTimeoutSeconds: number; absoluteTimeoutSeconds: number };
  /** Per-project limits; absent: the defaults (never unlimited). */
  quotas?: Readonly<ProjectQuotas>;
}
