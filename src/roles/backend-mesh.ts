/**
 * The backend's internal (mTLS) API: what the other roles and the operator
 * may ask of it. Every route names the workloads it admits; hops from the
 * roles are signed (X-Zen-Signature) and the signing key must belong to the
 * same workload as the client certificate (the internal server checks it on
 * every signed route). Refused hops are audited in the
 * system chain.
 */
import type { Redis } from "ioredis";
import { appendAuditIn } from "../audit/index.ts";
import { type OperatorRequest, runOperation } from "../cli/operations.ts";
import type { Config, RoleName } from "../config/index.ts";
import { isZenError, ZenError } from "../core/index.ts";
import { type CertificateAuthority, parseSpiffeId } from "../identity/index.ts";
import type { IdentitySource } from "../identity/types.ts";
import type { Logger } from "../log/index.ts";
import {
  createDbNonceStore,
  createHopVerifier,
  createInternalServer,
  createRedisNonceStore,
  deriveHopKey,
  deriveMasterHopKey,
  type InternalRequest,
  type InternalRoute,
  type InternalServer,
  SYSTEM_HOP_TENANT,
  systemHopKeyId,
} from "../mesh/index.ts";
import type { BackendDelivery } from "./backend-deliver.ts";
import { ingestRoutes } from "./backend-ingest.ts";
import type { Services } from "./services.ts";
import { VERSION } from "./version.ts";

export interface Heartbeat {
  role: string;
  pid: number;
  version: string;
  startedAt: string;
  receivedAt: string;
  /** Heartbeats the role could not deliver since it started. */
  failures: number;
}

export interface BackendMesh {
  server: InternalServer;
  /** What each internal route admits, for tests and docs. */
  routes: { method: string; path: string; allow: string[] }[];
  heartbeats: Map<string, Heartbeat>;
  close(): Promise<void>;
}

const ROLE_PEERS: RoleName[] = ["ingester", "egress", "bff"];

function json<T>(req: InternalRequest): T {
  try {
    return JSON.parse(req.body.toString("utf8")) as T;
  } catch (err) {
    throw new ZenError("MALFORMED_REQUEST", { cause: err });
  }
}

/** The workload path of a peer (`spiffe://td/ingester` → `ingester`). */
function peerPath(spiffeId: string): string {
  const p = parseSpiffeId(spiffeId);
  return p.ok ? p.value.path.replace(/^\//, "") : "";
}

/** Renewal over mTLS: a workload proves its current identity and gets a new SVID for that identity only. */
function renewRoute(ca: CertificateAuthority, allow: string[], ttlSeconds: number): InternalRoute {
  return {
    method: "POST",
    path: "/internal/svid",
    allow,
    signed: "none",
    async handler(req) {
      const body = json<{ csr?: unknown }>(req);
      if (typeof body.csr !== "string")
        throw new ZenError("VALIDATION_FAILED", { message: "csr is required" });
      const signed = await ca.signCsr({ csrPem: body.csr, path: peerPath(req.peer.spiffeId), ttlSeconds });
      return { status: 200, body: { cert_chain_pem: signed.certChainPem, bundle_pem: ca.bundlePem() } };
    },
  };
}

export async function startBackendMesh(
  svc: Services,
  config: Config,
  logger: Logger,
  identity: IdentitySource,
  opts: {
    port: number;
    redis?: Redis | undefined;
    ca?: CertificateAuthority | undefined;
    delivery?: BackendDelivery | undefined;
  },
): Promise<BackendMesh> {
  const td = config.mesh.trustDomain;
  const id = (path: string) => `spiffe://${td}/${path}`;
  const hopMaster = deriveMasterHopKey(svc.masterKeys);
  const keys = new Map<string, Buffer>();
  for (const role of ROLE_PEERS) {
    keys.set(systemHopKeyId(role), deriveHopKey(hopMaster, SYSTEM_HOP_TENANT, role));
  }
  const nonces = opts.redis ? createRedisNonceStore(opts.redis, "zenmesh:hop:") : createDbNonceStore(svc.db);
  const hopVerifier = createHopVerifier({
    keys: (keyId) => keys.get(keyId),
    nonces,
    toleranceSeconds: config.mesh.hopToleranceSeconds,
  });
  const heartbeats = new Map<string, Heartbeat>();
  const startedAt = new Date().toISOString();
  const signed = config.mesh.hopSigning ? "required" : "optional";

  /** Whose each hop key is: the server refuses, on every signed route, a key that is not the peer's. */
  const keyOwners = new Map<string, string>(ROLE_PEERS.map((role) => [systemHopKeyId(role), id(role)]));

  let closing = false;
  const routes: InternalRoute[] = [
    ...ingestRoutes({
      closing: () => closing,
      db: svc.db,
      zenlock: svc.zenlock,
      clock: svc.tenancy.clock,
      trustDomain: td,
      signed,
      maxSecretVersions: config.ingest.maxSecretVersions,
      ...(opts.delivery ? { fanOut: opts.delivery.fanOut } : {}),
    }),
    ...(opts.delivery?.routes ?? []),
    {
      method: "GET",
      path: "/internal/health",
      allow: [...ROLE_PEERS.map(id), id("operator")],
      signed: "none",
      async handler() {
        await svc.db.ping();
        return { status: 200, body: { status: "ok" } };
      },
    },
    {
      method: "POST",
      path: "/internal/heartbeat",
      allow: ROLE_PEERS.map(id),
      signed,
      async handler(req) {
        const body = json<{ pid?: unknown; version?: unknown; started_at?: unknown; failures?: unknown }>(
          req,
        );
        const role = peerPath(req.peer.spiffeId);
        heartbeats.set(role, {
          role,
          pid: typeof body.pid === "number" ? body.pid : 0,
          version: typeof body.version === "string" ? body.version.slice(0, 32) : "",
          startedAt: typeof body.started_at === "string" ? body.started_at.slice(0, 40) : "",
          receivedAt: new Date().toISOString(),
          failures: typeof body.failures === "number" ? body.failures : 0,
        });
        return { status: 204 };
      },
    },
    {
      method: "GET",
      path: "/internal/hop-key",
      allow: ROLE_PEERS.map(id),
      signed: "none",
      async handler(req) {
        // Each workload receives only its own key, derived for its own SPIFFE path.
        const keyId = systemHopKeyId(peerPath(req.peer.spiffeId));
        const key = keys.get(keyId);
        if (!key)
          return {
            status: 404,
            body: {
              error: { code: "NOT_FOUND", message: "Not found.", correlation_id: req.correlationId },
            },
          };
        return { status: 200, body: { key_id: keyId, key: key.toString("base64") } };
      },
    },
    ...(opts.ca ? [renewRoute(opts.ca, ROLE_PEERS.map(id), config.mesh.svidTtlSeconds)] : []),
    {
      method: "POST",
      path: "/internal/operator",
      allow: [id("operator")],
      signed: "none",
      async handler(req) {
        const op = json<OperatorRequest>(req);
        try {
          // The backend answers for itself: it sends no heartbeat, yet it is a role like the others.
          const self: Heartbeat = {
            role: "backend",
            pid: process.pid,
            version: VERSION,
            startedAt,
            receivedAt: new Date().toISOString(),
            failures: 0,
          };
          // Roles not heard from are named too: a missing role must not look like one never configured.
          const status = () => ({
            roles: [self, ...heartbeats.values()],
            silent: ROLE_PEERS.filter((r) => !heartbeats.has(r)),
          });
          return { status: 200, body: await runOperation(svc, op, { status }) };
        } catch (err) {
          const z = isZenError(err) ? err : new ZenError("INTERNAL", { cause: err });
          if (z.status >= 500) logger.error({ code: z.code, err }, "operator request failed");
          return {
            status: z.status,
            body: { error: { code: z.code, message: z.message, correlation_id: req.correlationId } },
          };
        }
      },
    },
  ];
  const server = await createInternalServer({
    identity,
    trustDomain: td,
    logger,
    host: config.mesh.host,
    port: opts.port,
    // Ingesters send batches of up to 8 MiB of events, base64 in JSON; egress sends results.
    maxBodyBytes: 32 * 1024 * 1024,
    hopVerifier,
    hopKeyOwner: (keyId) => keyOwners.get(keyId),
    async audit(entry) {
      await appendAuditIn(svc.db, {
        tenantId: null,
        actor: { type: "workload", spiffeId: entry.peer },
        action: "hop.rejected",
        outcome: "denied",
        correlationId: entry.correlationId,
        details: { reason: entry.reason, method: entry.method, path: entry.path },
      });
    },
    routes,
  });
  return {
    server,
    routes: routes.map((r) => ({ method: r.method, path: r.path, allow: r.allow })),
    heartbeats,
    async close() {
      closing = true;
      // Held source polls notice within one poll interval; let them answer before the database goes.
      await new Promise((r) => setTimeout(r, 300));
      await server.close();
    },
  };
}
