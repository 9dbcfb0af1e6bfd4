import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import { type Logger, serializeError } from "../log/index.ts";

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

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** PEM material for the metrics listener; with `clientCa`, scrapers must present a certificate it issued. */
export interface MetricsTls {
  cert: string;
  key: string;
  clientCa?: string | undefined;
}

/**
 * The metrics listener: `GET /metrics` and nothing else, apart from the
 * public API (loopback by default), since route and failure counts are
 * operational detail no API client should read. The API listener's limits
 * against slow clients apply. With `tls` it serves HTTPS only, and with a
 * client CA it refuses at the handshake any scraper without a certificate
 * that CA issued (production requires TLS off loopback).
 */
export async function startMetricsServer(opts: {
  registry: Registry;
  host: string;
  port: number;
  logger: Logger;
  tls?: MetricsTls | undefined;
}): Promise<MetricsServer> {
  const limits = {
    maxHeaderSize: 16 * 1024,
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 1_000,
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "").split("?")[0];
    const answer = (status: number, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-length": "0", ...headers });
      res.end();
    };
    if (path !== "/metrics") return answer(404);
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, { allow: "GET, HEAD" });
    opts.registry.metrics().then(
      (text) => {
        res.writeHead(200, {
          "content-type": opts.registry.contentType,
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (err: unknown) => {
        opts.logger.error({ err: serializeError(err) }, "could not collect metrics");
        answer(500);
      },
    );
  };
  const tls = opts.tls;
  const server =
    tls === undefined
      ? createHttpServer(limits, handler)
      : createHttpsServer(
          {
            ...limits,
            cert: tls.cert,
            key: tls.key,
            minVersion: "TLSv1.2",
            ...(tls.clientCa === undefined
              ? {}
              : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          },
          handler,
        );
  server.maxHeadersCount = 100;
  server.on("clientError", (_err, socket) => {
    if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `${tls === undefined ? "http" : "https"}://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
