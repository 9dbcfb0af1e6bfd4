import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export interface ApiMetrics {
  registry: Registry;
  requests: Histogram<"method" | "route" | "status">;
  authFailures: Counter<"reason">;
}

/** One registry per server, so several servers in one process (tests) stay apart. */
export function createApiMetrics(opts: { defaultMetrics: boolean }): ApiMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: "zenmesh_" });
  return {
    registry,
    requests: new Histogram({
      name: "zenmesh_http_request_duration_seconds",
      help: "Control API request latency by route template and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: "zenmesh_auth_failures_total",
      help: "Failed authentication attempts by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
  };
}
