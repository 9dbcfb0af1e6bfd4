import type { Logger } from "../log/index.ts";
import type { TenancyDeps } from "../tenancy/index.ts";
import type { AuthDeps } from "./auth.ts";
import type { Cursors } from "./cursors.ts";
import type { RouteHost } from "./route.ts";

/** What route modules receive. */
export interface RouteContext extends RouteHost {
  tenancy: TenancyDeps;
  auth: AuthDeps;
  logger: Logger;
  /** Seals and opens the pagination cursors of every list. */
  cursors: Cursors;
}
