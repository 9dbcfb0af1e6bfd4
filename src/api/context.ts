import type { FastifyInstance } from "fastify";
import type { Logger } from "../log/index.ts";
import type { TenancyDeps } from "../tenancy/index.ts";
import type { AuthDeps } from "./auth.ts";
import type { RegisteredRoute } from "./route.ts";

/** What route modules receive. */
export interface RouteContext {
  app: FastifyInstance;
  registry: RegisteredRoute[];
  tenancy: TenancyDeps;
  auth: AuthDeps;
  logger: Logger;
}
