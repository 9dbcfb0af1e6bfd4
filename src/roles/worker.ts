/**
 * The ingester, egress and bff roles as processes. Each holds only its SVID
 * and its hop key — no database or Redis credentials — listens on an
 * internal mTLS port, and reports to the backend over mTLS with signed
 * heartbeats. Their data paths (ingest, delivery, dashboard) plug in here.
 */
import type { Config, RoleName } from "../config/index.ts";
import { systemClock, ZenError } from "../core/index.ts";
import type { BoxKeyPair } from "../deliver/box.ts";
import type { RunningEgress } from "../deliver/egress/index.ts";
import type { DispatchBatch } from "../deliver/types.ts";
import type { IdentitySource } from "../identity/types.ts";
import type { Logger } from "../log/index.ts";
import {
  createHopSigner,
  createInternalClient,
  createInternalServer,
  type InternalClient,
} from "../mesh/index.ts";
import { createFastPath } from "./fast-path.ts";
import type { PeerUrl } from "./peer-url.ts";
import { createSystemListeners, type SystemListeners } from "./system-listeners.ts";
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
  /** Where egress listens (the ingester's fast path). */
  egressUrl?: PeerUrl | undefined;
  /** Egress's box key (egress only). */
  egressBox?: BoxKeyPair | undefined;
  /** zenmesh's own listeners, which egress never delivers to; default: those the configuration names. */
  systemListeners?: SystemListeners | undefined;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const td = opts.config.mesh.trustDomain;
  const id = (path: string) => `spiffe://${td}/${path}`;
  const startedAt = new Date().toISOString();
  const backend = createInternalClient({
    identity: opts.identity,
    trustDomain: td,
    baseUrl: opts.backendUrl,
    expectServer: id("backend"),
    hopSigner: createHopSigner({ keyId: opts.hop.keyId, key: opts.hop.key }),
  });
  let egress: RunningEgress | undefined;
  let systemListeners: SystemListeners | undefined;
  if (opts.role === "egress") {
    if (!opts.egressBox) {
      throw new ZenError("CONFIG_INVALID", { message: "egress needs its box key (ZENMESH_EGRESS_KEY_FILE)" });
    }
    // Each role loads only its own data path.
    const { startEgress } = await import("../deliver/egress/index.ts");
    const { parseCidrList } = await import("../deliver/ssrf/ip.ts");
    const { systemLookup } = await import("../deliver/ssrf/guard.ts");
    const text = opts.config.deliver.allowCidrs;
    const cidrs = text.trim() === "" ? { ok: true as const, value: [] } : parseCidrList(text);
    if (!cidrs.ok)
      throw new ZenError("CONFIG_INVALID", { message: `ZENMESH_EGRESS_ALLOW_CIDRS: ${cidrs.reason}` });
    const own = opts.systemListeners ?? createSystemListeners(opts.config);
    systemListeners = own;
    const unresolved = await own.resolveNames(systemLookup, 5000);
    if (unresolved.length > 0) {
      opts.logger.warn(
        { hosts: unresolved },
        "egress could not resolve these names of zenmesh's own listeners: their addresses are not known as its own",
      );
    }
    egress = startEgress({
      systemListeners: () => own.list(),
      backend: () => backend,
      box: opts.egressBox,
      allowCidrs: cidrs.value,
      trustDomain: td,
      logger: opts.logger,
      clock: systemClock,
      userAgent: `zenmesh/${VERSION}`,
      tenantSharePercent: opts.config.deliver.egressTenantSharePercent,
    });
  }
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
      ...(egress?.routes ?? []),
    ],
    // Dispatch batches carry payloads (up to 16 MiB each, base64 in JSON).
    ...(egress ? { maxBodyBytes: 64 * 1024 * 1024 } : {}),
  });
  systemListeners?.add(server.url);
  const fastPath =
    opts.role === "ingester"
      ? createFastPath({
          backend,
          egressUrl: opts.egressUrl,
          identity: opts.identity,
          trustDomain: td,
          logger: opts.logger,
        })
      : undefined;
  const ingester =
    opts.role === "ingester"
      ? await (await import("../ingest/ingester/index.ts")).startIngester({
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
          limits: {
            maxConnections: opts.config.ingest.maxConnections,
            maxConnectionsPerClient: opts.config.ingest.maxConnectionsPerClient,
            maxInflightBytes: opts.config.ingest.maxInflightBytes,
            maxInflightBytesPerClient: opts.config.ingest.maxInflightBytesPerClient,
          },
          maxSecretVersions: opts.config.ingest.maxSecretVersions,
          publicUrl: opts.config.ingest.publicUrl,
          ...(fastPath ? { onDispatch: (batch: DispatchBatch) => fastPath.send(batch) } : {}),
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
      await fastPath?.close();
      await egress?.close();
      await backend.close();
      await server.close();
    },
  };
}
