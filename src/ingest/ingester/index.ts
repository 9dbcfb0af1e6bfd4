/**
 * The ingester role's data path: a source snapshot pushed from the backend,
 * a batcher towards the backend's internal events API, and the public
 * listener. It holds no database credentials: durability is the backend's.
 */
import { readFileSync } from "node:fs";
import type { Clock } from "../../core/index.ts";
import type { DispatchBatch } from "../../deliver/types.ts";
import type { Logger } from "../../log/index.ts";
import type { InternalClient } from "../../mesh/index.ts";
import { createBatcher } from "./batcher.ts";
import type { IngestLimits } from "./limits.ts";
import { type IngestServer, startIngestServer } from "./server.ts";
import { createSourceCache, type SourceCache } from "./source-cache.ts";

export { type Batcher, createBatcher } from "./batcher.ts";
export { clientKey, DEFAULT_INGEST_LIMITS, type IngestLimits } from "./limits.ts";
export { type IngestServer, startIngestServer } from "./server.ts";
export { createSourceCache, type SourceCache, type SourceChanges } from "./source-cache.ts";

export interface RunningIngester {
  url: string;
  sources: SourceCache;
  close(): Promise<void>;
}

export async function startIngester(opts: {
  backend: InternalClient;
  logger: Logger;
  clock: Clock;
  host: string;
  port: number;
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
  plainHttpAllowed: boolean;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  limits?: Partial<IngestLimits>;
  maxSecretVersions?: number;
  /** The base URL senders call (`ingest.publicUrl`); default the listener's own. */
  publicUrl?: string | undefined;
  /** The fast path: deliveries the backend leased with a committed batch. */
  onDispatch?(batch: DispatchBatch): void;
}): Promise<RunningIngester> {
  const sources = createSourceCache({ backend: opts.backend, logger: opts.logger });
  const batcher = createBatcher({
    backend: opts.backend,
    ...(opts.onDispatch ? { onDispatch: opts.onDispatch } : {}),
  });
  let server: IngestServer;
  try {
    server = await startIngestServer({
      sources,
      batcher,
      logger: opts.logger,
      clock: opts.clock,
      host: opts.host,
      port: opts.port,
      tls:
        opts.tlsCertFile && opts.tlsKeyFile
          ? { cert: readFileSync(opts.tlsCertFile, "utf8"), key: readFileSync(opts.tlsKeyFile, "utf8") }
          : undefined,
      plainHttpAllowed: opts.plainHttpAllowed,
      ...(opts.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: opts.headersTimeoutMs }),
      ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: opts.requestTimeoutMs }),
      ...(opts.limits === undefined ? {} : { limits: opts.limits }),
      ...(opts.maxSecretVersions === undefined ? {} : { maxSecretVersions: opts.maxSecretVersions }),
      ...(opts.publicUrl === undefined ? {} : { publicUrl: opts.publicUrl }),
    });
  } catch (err) {
    sources.close();
    throw err;
  }
  return {
    url: server.url,
    sources,
    async close() {
      await server.close();
      sources.close();
    },
  };
}
