/**
 * The ingester, egress and bff roles as processes. Each holds only its SVID
 * and its hop key — no database or Redis credentials — listens on an
 * internal mTLS port, and reports to the backend over mTLS with signed
 * heartbeats. Their data paths (ingest, delivery, dashboard) plug in here.
 */
import type { Config, RoleName } from "../config/index.ts";
import { systemClock } from "../core/index.ts";
import type { IdentitySource } from "../identity/types.ts";
import { startIngester } from "../ingest/ingester/index.ts";
import type { Logger } from "../log/index.ts";
import {
  createHopSigner,
  createInternalClient,
  createInternalServer,
  type InternalClient,
} from "../mesh/index.ts";
import { VERSION } from "./version.ts";

export interface RunningWorker {
  internalUrl: string;
  publicUrls: Record<string, string>;
  backend: InternalClient;
  close(): Promise<void>;
}

export interface WorkerOptions {
  role: Exclude<RoleName, "backend">;
  config: Config;
  logger: Logger;
  identity: IdentitySource;
  hop: { keyId: string; key: Buffer };
  backendUrl: string;
  internalPort: number;
  /** The public ingest port (ingester only); a restart reuses the first start's. */
  ingestPort?: number | undefined;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const td = opts.config.mesh.trustDomain;
  const id = (path: string) => `spiffe://${td}/${path}`;
  const startedAt = new Date().toISOString();
  const server = await createInternalServer({
    identity: opts.identity,
    trustDomain: td,
    logger: opts.logger,
    host: opts.config.mesh.host,
    port: opts.internalPort,
    routes: [
      {
        method: "GET",
        path: "/internal/health",
        allow: [id("backend"), id("operator")],
        signed: "none",
        async handler() {
          return { status: 200, body: { status: "ok", role: opts.role, version: VERSION } };
        },
      },
    ],
  });
  const backend = createInternalClient({
    identity: opts.identity,
    trustDomain: td,
    baseUrl: opts.backendUrl,
    expectServer: id("backend"),
    hopSigner: createHopSigner({ keyId: opts.hop.keyId, key: opts.hop.key }),
  });
  const ingester =
    opts.role === "ingester"
      ? await startIngester({
          backend,
          logger: opts.logger,
          clock: systemClock,
          host: opts.config.ingest.host,
          port: opts.ingestPort ?? opts.config.ingest.port,
          tlsCertFile: opts.config.ingest.tlsCertFile,
          tlsKeyFile: opts.config.ingest.tlsKeyFile,
          // Plain HTTP exists only in the dev profile, which binds loopback only.
          plainHttpAllowed: opts.config.profile === "dev",
          headersTimeoutMs: opts.config.ingest.headersTimeoutSeconds * 1000,
          requestTimeoutMs: opts.config.ingest.requestTimeoutSeconds * 1000,
        })
      : undefined;
  let warned = false;
  let failures = 0;
  const beat = async () => {
    try {
      const r = await backend.request("POST", "/internal/heartbeat", {
        pid: process.pid,
        version: VERSION,
        started_at: startedAt,
        failures,
      });
      if (r.status !== 204) throw new Error(`heartbeat answered ${r.status}`);
      if (warned) opts.logger.info({ role: opts.role }, "backend reachable again");
      warned = false;
    } catch (err) {
      failures++;
      if (!warned) opts.logger.warn({ role: opts.role, err }, "backend unreachable; retrying");
      warned = true;
    }
  };
  await beat();
  const timer = setInterval(beat, opts.config.mesh.heartbeatSeconds * 1000);
  timer.unref();
  return {
    internalUrl: server.url,
    publicUrls: ingester ? { ingest: ingester.url } : {},
    backend,
    async close() {
      clearInterval(timer);
      await ingester?.close();
      await backend.close();
      await server.close();
    },
  };
}
