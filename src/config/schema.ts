/**
 * The configuration schema. Every setting is validated here once, at start;
 * the rest of the codebase reads the frozen `Config` it produces and never
 * looks at the environment itself.
 */
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { z } from "zod";
import { parseTrustProxy } from "../api/client-address.ts";
import { parseCidrList } from "../deliver/ssrf/ip.ts";
import { DEFAULT_QUOTAS } from "../tenancy/quotas.ts";
import { isPostgresUrl, isRedisUrl, isTlsRedisUrl } from "./urls.ts";

export const PROFILES = ["dev", "production"] as const;
export type Profile = (typeof PROFILES)[number];

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const API_KEY_ENVIRONMENTS = ["live", "test"] as const;
export type ApiKeyEnvironment = (typeof API_KEY_ENVIRONMENTS)[number];

export interface Config {
  readonly profile: Profile;
  /** Absolute path. */
  readonly dataDir: string;
  readonly api: {
    readonly host: string;
    /** 0 asks the OS for a free port. */
    readonly port: number;
    /**
     * The proxies whose X-Forwarded-For entries are believed: CIDRs (comma-separated) or a hop
     * count; "" trusts none. The client is the rightmost address not in the list.
     */
    readonly trustProxy: string;
    /** A client must finish sending its headers within this (slowloris defence). */
    readonly headersTimeoutSeconds: number;
    /** …and its whole request within this. */
    readonly requestTimeoutSeconds: number;
    /** Open connections at most; more are dropped as they arrive. */
    readonly maxConnections: number;
  };
  readonly database: {
    /** Absent: embedded PGlite under `<dataDir>/pgdata` (dev profile only). */
    readonly url?: string | undefined;
    /** Owner connection used for migrations only. */
    readonly ownerUrl?: string | undefined;
    readonly poolSize: number;
    /** Absolute path of a PEM CA bundle for the server certificate. */
    readonly caFile?: string | undefined;
  };
  readonly redis: {
    readonly url?: string | undefined;
    /** Absolute path of a PEM CA bundle for the Redis server's certificate (rediss:// only). */
    readonly caFile?: string | undefined;
  };
  readonly masterKey?: string | undefined;
  /** Absolute path. */
  readonly masterKeyFile?: string | undefined;
  readonly log: { readonly level: LogLevel };
  /** The `<env>` in `zm_<env>_…` API keys. */
  readonly apiKeys: { readonly environment: ApiKeyEnvironment };
  readonly sessions: { readonly idleTimeoutSeconds: number; readonly absoluteTimeoutSeconds: number };
  /** Authentication failures allowed per client IP within the window. */
  readonly auth: { readonly failureLimit: number; readonly failureWindowSeconds: number };
  /** The metrics listener (`GET /metrics`), apart from the public API; off: no listener, no process metrics. */
  readonly metrics: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    /** HTTPS for the listener (required in production off loopback). */
    readonly tlsCertFile?: string | undefined;
    readonly tlsKeyFile?: string | undefined;
    /** PEM CA bundle: scrapers must present a certificate it issued. */
    readonly tlsClientCaFile?: string | undefined;
  };
  readonly mesh: {
    /** SPIFFE trust domain: workload ids are `spiffe://<trustDomain>/<role>`. */
    readonly trustDomain: string;
    /** Address the internal (mTLS) listeners bind. */
    readonly host: string;
    readonly backendPort: number;
    readonly egressPort: number;
    readonly ingesterPort: number;
    readonly bffPort: number;
    /** Production bootstrap listener of the backend (server-authenticated TLS; join tokens). */
    readonly joinPort: number;
    readonly svidTtlSeconds: number;
    /** The built-in CA's sealed state (backend); default `<dataDir>/ca/ca.json`. */
    readonly caFile: string;
    /** The backend's internal API, for the other roles in production. */
    readonly backendUrl?: string | undefined;
    readonly joinUrl?: string | undefined;
    readonly joinToken?: string | undefined;
    readonly bundleFile?: string | undefined;
    readonly certFile?: string | undefined;
    readonly keyFile?: string | undefined;
    readonly spireSocket?: string | undefined;
    /** X-Zen-Signature on ingester → backend (always required on agent → backend). */
    readonly hopSigning: boolean;
    readonly hopToleranceSeconds: number;
    /** How often the other roles report to the backend. */
    readonly heartbeatSeconds: number;
  };
  readonly ingest: {
    /** The public webhook listener (`POST /e/{source_id}`). */
    readonly host: string;
    readonly port: number;
    /** The base URL sources show as their ingest URL; default: the listener's own. */
    readonly publicUrl?: string | undefined;
    /** HTTPS for the public listener (required in production). */
    readonly tlsCertFile?: string | undefined;
    readonly tlsKeyFile?: string | undefined;
    /** A client must finish sending its headers within this (slowloris defence). */
    readonly headersTimeoutSeconds: number;
    /** …and its whole request within this. */
    readonly requestTimeoutSeconds: number;
    /** Secret versions one source may hold live; each costs an HMAC over every request's body. */
    readonly maxSecretVersions: number;
    /** Open connections to the public listener, in all and from one client (IPv4 address, IPv6 /64). */
    readonly maxConnections: number;
    readonly maxConnectionsPerClient: number;
    /** Request body bytes held at once (declared or read so far), in all and for one client. */
    readonly maxInflightBytes: number;
    readonly maxInflightBytesPerClient: number;
  };
  readonly deliver: {
    /**
     * CIDRs egress may deliver to although they are private, loopback or
     * link-local (comma-separated); plain http:// only to these. Empty: public
     * addresses only.
     */
    readonly allowCidrs: string;
    /** Egress's internal https:// URL, for the backend (and the ingester's fast path) in production. */
    readonly egressUrl?: string | undefined;
    /** Egress's public box key (base64url X25519), with which the backend seals destination secrets. */
    readonly egressPublicKey?: string | undefined;
    /** Egress's private box key file (egress only). */
    readonly egressKeyFile?: string | undefined;
    /** How often the scheduler looks for due deliveries. */
    readonly pollMs: number;
    /** How long a hand-off to egress holds a delivery; must exceed the longest destination timeout. */
    readonly leaseSeconds: number;
    readonly circuitFailureThreshold: number;
    readonly circuitCooldownSeconds: number;
    /** A destination failing continuously for this long is disabled. */
    readonly disableAfterSeconds: number;
    /** The most of egress's job slots one tenant may hold, in percent. */
    readonly egressTenantSharePercent: number;
  };
  /** Per-project limits (the defaults of every project). */
  readonly quotas: {
    readonly sourcesPerProject: number;
    readonly destinationsPerProject: number;
    readonly subscriptionsPerProject: number;
    readonly apiKeysPerProject: number;
    /** Secret rotations of one source or destination in any 24 hours. */
    readonly rotationsPerDay: number;
  };
}

const DAY = 86_400;
const MIB = 1024 * 1024;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const nonEmpty = z.string().min(1, { error: "must not be empty" });
const postgresUrl = z.string().refine(isPostgresUrl, { error: "must be a postgres:// or postgresql:// URL" });
const redisUrl = z.string().refine(isRedisUrl, { error: "must be a redis:// or rediss:// URL with a host" });
const httpsUrl = z.string().refine(
  (u) => {
    try {
      return new URL(u).protocol === "https:";
    } catch {
      return false;
    }
  },
  { error: "must be an https:// URL" },
);
const host = z
  .string()
  .refine((h) => isIP(h) !== 0 || HOSTNAME.test(h), { error: "must be an IP address or a host name" });

export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/** Builds a schema whose output is `Config`; `cwd` anchors relative paths. */
export function configSchema(cwd: string) {
  return z
    .strictObject({
      profile: z.enum(PROFILES).default("dev"),
      dataDir: nonEmpty.default("./.zenmesh"),
      api: z
        .strictObject({
          host: host.default("127.0.0.1"),
          port: int(0, 65_535).default(7700),
          // A config file may say `false` or a hop count as a number; `true` is refused with the rest.
          trustProxy: z
            .union([z.string(), z.number(), z.boolean()])
            .default("")
            .transform((v, ctx) => {
              const text = v === false ? "" : String(v);
              const r = parseTrustProxy(text);
              if (!r.ok) {
                ctx.addIssue({ code: "custom", message: r.reason });
                return z.NEVER;
              }
              return text.trim().toLowerCase() === "false" ? "" : text.trim();
            }),
          headersTimeoutSeconds: int(1, 300).default(10),
          requestTimeoutSeconds: int(1, 600).default(30),
          maxConnections: int(1, 1_000_000).default(1024),
        })
        .prefault({}),
      database: z
        .strictObject({
          url: postgresUrl.optional(),
          ownerUrl: postgresUrl.optional(),
          poolSize: int(1, 1000).default(10),
          caFile: nonEmpty.optional(),
        })
        .prefault({}),
      redis: z.strictObject({ url: redisUrl.optional(), caFile: nonEmpty.optional() }).prefault({}),
      masterKey: nonEmpty.optional(),
      masterKeyFile: nonEmpty.optional(),
      log: z.strictObject({ level: z.enum(LOG_LEVELS).default("info") }).prefault({}),
      apiKeys: z.strictObject({ environment: z.enum(API_KEY_ENVIRONMENTS).optional() }).prefault({}),
      sessions: z
        .strictObject({
          idleTimeoutSeconds: int(1, 365 * DAY).default(1800),
          absoluteTimeoutSeconds: int(1, 365 * DAY).default(43_200),
        })
        .prefault({}),
      auth: z
        .strictObject({
          failureLimit: int(1, 1_000_000).default(10),
          failureWindowSeconds: int(1, DAY).default(60),
        })
        .prefault({}),
      metrics: z
        .strictObject({
          enabled: z.boolean().default(true),
          host: host.default("127.0.0.1"),
          port: int(0, 65_535).default(7709),
          tlsCertFile: nonEmpty.optional(),
          tlsKeyFile: nonEmpty.optional(),
          tlsClientCaFile: nonEmpty.optional(),
        })
        .prefault({}),
      mesh: z
        .strictObject({
          trustDomain: z
            .string()
            .regex(/^[a-z0-9._-]{1,255}$/, {
              error: "must be a SPIFFE trust domain (lowercase a-z 0-9 . _ -)",
            })
            .default("zenmesh.local"),
          host: host.default("127.0.0.1"),
          backendPort: int(0, 65_535).default(7710),
          egressPort: int(0, 65_535).default(7711),
          ingesterPort: int(0, 65_535).default(7712),
          bffPort: int(0, 65_535).default(7713),
          joinPort: int(0, 65_535).default(7719),
          svidTtlSeconds: int(2, 30 * DAY).default(3600),
          caFile: nonEmpty.optional(),
          backendUrl: httpsUrl.optional(),
          joinUrl: httpsUrl.optional(),
          joinToken: nonEmpty.optional(),
          bundleFile: nonEmpty.optional(),
          certFile: nonEmpty.optional(),
          keyFile: nonEmpty.optional(),
          spireSocket: nonEmpty.optional(),
          hopSigning: z.boolean().default(true),
          hopToleranceSeconds: int(5, 3600).default(300),
          heartbeatSeconds: int(1, 3600).default(10),
        })
        .prefault({}),
      ingest: z
        .strictObject({
          host: host.default("127.0.0.1"),
          port: int(0, 65_535).default(7701),
          publicUrl: z
            .string()
            .refine((u) => /^https?:\/\/[^/]+$/.test(u), {
              error: "must be http(s)://host[:port] without a path",
            })
            .optional(),
          tlsCertFile: nonEmpty.optional(),
          tlsKeyFile: nonEmpty.optional(),
          headersTimeoutSeconds: int(1, 300).default(10),
          requestTimeoutSeconds: int(1, 600).default(30),
          maxSecretVersions: int(1, 8).default(3),
          maxConnections: int(1, 1_000_000).default(4096),
          maxConnectionsPerClient: int(1, 1_000_000).default(128),
          maxInflightBytes: int(MIB, 64 * 1024 * MIB).default(256 * MIB),
          maxInflightBytesPerClient: int(MIB, 64 * 1024 * MIB).default(48 * MIB),
        })
        .prefault({}),
      deliver: z
        .strictObject({
          allowCidrs: z
            .string()
            .default("")
            .superRefine((v, ctx) => {
              if (v.trim() === "") return;
              const r = parseCidrList(v);
              if (!r.ok) ctx.addIssue({ code: "custom", message: r.reason });
            }),
          egressUrl: httpsUrl.optional(),
          egressPublicKey: z
            .string()
            .regex(/^[A-Za-z0-9_-]{43}$/, { error: "must be a base64url X25519 public key (43 characters)" })
            .optional(),
          egressKeyFile: nonEmpty.optional(),
          pollMs: int(20, 60_000).default(500),
          leaseSeconds: int(10, 3600).default(90),
          circuitFailureThreshold: int(1, 10_000).default(5),
          circuitCooldownSeconds: int(1, DAY).default(30),
          disableAfterSeconds: int(60, 90 * DAY).default(5 * DAY),
          egressTenantSharePercent: int(1, 100).default(25),
        })
        .prefault({}),
      quotas: z
        .strictObject({
          sourcesPerProject: int(1, 1_000_000).default(DEFAULT_QUOTAS.sources),
          destinationsPerProject: int(1, 1_000_000).default(DEFAULT_QUOTAS.destinations),
          subscriptionsPerProject: int(1, 1_000_000).default(DEFAULT_QUOTAS.subscriptions),
          apiKeysPerProject: int(1, 1_000_000).default(DEFAULT_QUOTAS.apiKeys),
          rotationsPerDay: int(1, 10_000).default(DEFAULT_QUOTAS.rotationsPerDay),
        })
        .prefault({}),
    })
    .superRefine((c, ctx) => {
      // The dev profile serves plain HTTP and trusts loopback-only exceptions: never off the machine.
      if (c.profile === "dev") {
        for (const [path, value] of [
          [["api", "host"], c.api.host],
          [["mesh", "host"], c.mesh.host],
          [["ingest", "host"], c.ingest.host],
          [["metrics", "host"], c.metrics.host],
        ] as const) {
          if (!isLoopback(value)) {
            ctx.addIssue({
              code: "custom",
              path: [...path],
              message:
                "the dev profile binds loopback only (127.0.0.0/8, ::1, localhost); use the production profile",
            });
          }
        }
      }
      if ((c.metrics.tlsCertFile === undefined) !== (c.metrics.tlsKeyFile === undefined)) {
        ctx.addIssue({
          code: "custom",
          path: ["metrics", c.metrics.tlsCertFile === undefined ? "tlsCertFile" : "tlsKeyFile"],
          message:
            "metrics.tlsCertFile and metrics.tlsKeyFile go together (ZENMESH_METRICS_TLS_CERT_FILE, ZENMESH_METRICS_TLS_KEY_FILE)",
        });
      }
      if (c.metrics.tlsClientCaFile !== undefined && c.metrics.tlsCertFile === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["metrics", "tlsClientCaFile"],
          message:
            "a client CA needs metrics.tlsCertFile and metrics.tlsKeyFile: client certificates need TLS",
        });
      }
      if (c.api.headersTimeoutSeconds > c.api.requestTimeoutSeconds) {
        ctx.addIssue({
          code: "custom",
          path: ["api", "headersTimeoutSeconds"],
          message: "must not exceed api.requestTimeoutSeconds (ZENMESH_API_REQUEST_TIMEOUT_SECONDS)",
        });
      }
      if (c.ingest.headersTimeoutSeconds > c.ingest.requestTimeoutSeconds) {
        ctx.addIssue({
          code: "custom",
          path: ["ingest", "headersTimeoutSeconds"],
          message: "must not exceed ingest.requestTimeoutSeconds (ZENMESH_INGEST_REQUEST_TIMEOUT_SECONDS)",
        });
      }
      for (const [key, total] of [
        ["maxConnectionsPerClient", "maxConnections (ZENMESH_INGEST_MAX_CONNECTIONS)"],
        ["maxInflightBytesPerClient", "maxInflightBytes (ZENMESH_INGEST_MAX_INFLIGHT_BYTES)"],
      ] as const) {
        const whole = key === "maxConnectionsPerClient" ? c.ingest.maxConnections : c.ingest.maxInflightBytes;
        if (c.ingest[key] > whole) {
          ctx.addIssue({ code: "custom", path: ["ingest", key], message: `must not exceed ingest.${total}` });
        }
      }
      if (c.sessions.idleTimeoutSeconds > c.sessions.absoluteTimeoutSeconds) {
        ctx.addIssue({
          code: "custom",
          path: ["sessions", "idleTimeoutSeconds"],
          message: "must not exceed sessions.absoluteTimeoutSeconds (ZENMESH_SESSION_ABSOLUTE_SECONDS)",
        });
      }
      if (c.masterKey !== undefined && c.masterKeyFile !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["masterKey"],
          message: "set either masterKey or masterKeyFile (ZENMESH_MASTER_KEY_FILE), not both",
        });
      }
      if (c.database.url === undefined) {
        for (const key of ["ownerUrl", "caFile"] as const) {
          if (c.database[key] !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["database", key],
              message: "only applies with database.url (ZENMESH_DATABASE_URL)",
            });
          }
        }
      }
      // With a redis:// URL the CA would switch TLS on behind the URL's back; say what is meant instead.
      if (c.redis.caFile !== undefined && (c.redis.url === undefined || !isTlsRedisUrl(c.redis.url))) {
        ctx.addIssue({
          code: "custom",
          path: ["redis", "caFile"],
          message: "only applies with a rediss:// redis.url (ZENMESH_REDIS_URL)",
        });
      }
    })
    .transform(
      (c): Config => ({
        ...c,
        dataDir: resolve(cwd, c.dataDir),
        database: {
          ...c.database,
          caFile: c.database.caFile === undefined ? undefined : resolve(cwd, c.database.caFile),
        },
        redis: {
          ...c.redis,
          caFile: c.redis.caFile === undefined ? undefined : resolve(cwd, c.redis.caFile),
        },
        masterKeyFile: c.masterKeyFile === undefined ? undefined : resolve(cwd, c.masterKeyFile),
        apiKeys: { environment: c.apiKeys.environment ?? (c.profile === "production" ? "live" : "test") },
        metrics: {
          ...c.metrics,
          tlsCertFile: c.metrics.tlsCertFile === undefined ? undefined : resolve(cwd, c.metrics.tlsCertFile),
          tlsKeyFile: c.metrics.tlsKeyFile === undefined ? undefined : resolve(cwd, c.metrics.tlsKeyFile),
          tlsClientCaFile:
            c.metrics.tlsClientCaFile === undefined ? undefined : resolve(cwd, c.metrics.tlsClientCaFile),
        },
        deliver: {
          ...c.deliver,
          egressKeyFile:
            c.deliver.egressKeyFile === undefined ? undefined : resolve(cwd, c.deliver.egressKeyFile),
        },
        ingest: {
          ...c.ingest,
          tlsCertFile: c.ingest.tlsCertFile === undefined ? undefined : resolve(cwd, c.ingest.tlsCertFile),
          tlsKeyFile: c.ingest.tlsKeyFile === undefined ? undefined : resolve(cwd, c.ingest.tlsKeyFile),
        },
        mesh: {
          ...c.mesh,
          caFile: resolve(cwd, c.mesh.caFile ?? join(resolve(cwd, c.dataDir), "ca", "ca.json")),
          bundleFile: c.mesh.bundleFile === undefined ? undefined : resolve(cwd, c.mesh.bundleFile),
          certFile: c.mesh.certFile === undefined ? undefined : resolve(cwd, c.mesh.certFile),
          keyFile: c.mesh.keyFile === undefined ? undefined : resolve(cwd, c.mesh.keyFile),
          // `unix:///run/spire/agent.sock` is the Workload API's own form; only a bare path is resolved.
          spireSocket:
            c.mesh.spireSocket === undefined || c.mesh.spireSocket.startsWith("unix:")
              ? c.mesh.spireSocket
              : resolve(cwd, c.mesh.spireSocket),
        },
      }),
    );
}
