/**
 * The backend role: the only process holding database credentials. It serves
 * the control API and, for an embedded data dir, the operator socket.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { buildApiServer } from "../api/server.ts";
import type { Config } from "../config/index.ts";
import type { Logger } from "../log/index.ts";
import { startOperatorSocket } from "./operator-socket.ts";
import { openServices, type Services } from "./services.ts";
import { VERSION } from "./version.ts";

export interface RunningBackend {
  services: Services;
  apiUrl: string;
  close(): Promise<void>;
}

export async function startBackend(config: Config, logger: Logger): Promise<RunningBackend> {
  const services = await openServices(config);
  const api = buildApiServer({
    tenancy: services.tenancy,
    logger,
    version: VERSION,
    trustProxy: config.api.trustProxy,
    authFailureLimit: config.auth.failureLimit,
    authFailureWindowSeconds: config.auth.failureWindowSeconds,
    defaultMetrics: config.metrics.enabled,
  });
  let operator: Server | undefined;
  try {
    await api.listen({ host: config.api.host, port: config.api.port });
    operator = await startOperatorSocket(services, logger);
  } catch (err) {
    await api.close().catch(() => {});
    await services.close();
    throw err;
  }
  const addr = api.server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    services,
    apiUrl: `http://${host}:${addr.port}`,
    async close() {
      await new Promise<void>((resolve) => (operator ? operator.close(() => resolve()) : resolve()));
      await api.close();
      await services.close();
    },
  };
}
