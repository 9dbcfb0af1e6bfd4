import { z } from "zod";
import { ZenError } from "../../core/index.ts";
import type { RouteContext } from "../context.ts";
import { defineRoute } from "../route.ts";

export function healthRoutes(rc: RouteContext, info: { version: string }): void {
  defineRoute(rc, {
    method: "GET",
    url: "/healthz",
    operationId: "health",
    summary: "Liveness and database reachability",
    tag: "system",
    auth: false,
    responses: {
      200: { description: "Healthy", schema: z.object({ status: z.literal("ok"), version: z.string() }) },
    },
    async handler() {
      try {
        await rc.tenancy.db.ping();
      } catch (err) {
        throw new ZenError("UNAVAILABLE", { cause: err, message: "The database is unreachable." });
      }
      return { status: "ok", version: info.version };
    },
  });
}
