/**
 * A real control API on a loopback port over a fresh database (either
 * driver), with a controllable clock and every log line captured, for
 * end-to-end route tests.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { createApiMetrics, startMetricsServer } from "../../src/api/metrics.ts";
import { buildApiServer } from "../../src/api/server.ts";
import { fixedClock, newId } from "../../src/core/index.ts";
import type { DriverKind } from "../../src/db/index.ts";
import { generateBoxKeyPair } from "../../src/deliver/box.ts";
import {
  type CreateDestinationInput,
  createDestination,
  type DeliverDeps,
} from "../../src/deliver/destinations/index.ts";
import { createTableQueue, expandDeliveries } from "../../src/deliver/index.ts";
import { type CreateSourceInput, createSource, type SourceDeps } from "../../src/ingest/sources/index.ts";
import { persistBatch } from "../../src/ingest/store/index.ts";
import type { IngestItem } from "../../src/ingest/types.ts";
import { captureLogs } from "../../src/log/testing.ts";
import { toStoredEvents } from "../../src/roles/backend-deliver.ts";
import {
  createApiKey,
  createTenant,
  createUser,
  grantMembership,
  PROJECT_PERMISSIONS,
  type ProjectQuotas,
  type Role,
  type TenancyDeps,
} from "../../src/tenancy/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../../src/zenlock/index.ts";
import { startApiIngest } from "./api-ingest.ts";
import { freshDatabase, type TestDatabase } from "./db.ts";

export interface TestApi {
  t: TestDatabase;
  url: string;
  /** The ingest listener's base URL, when started with `ingest: true`. */
  ingestUrl?: string;
  /** The metrics listener's base URL, when started with `metrics: true`. */
  metricsUrl?: string;
  /** Tenancy services, plus the ingest base URL sources are shown under and the egress box key. */
  tenancy: SourceDeps & DeliverDeps;
  /** This API's egress box key pair: destination secrets are sealed to its public key. */
  egressBox: ReturnType<typeof generateBoxKeyPair>;
  clock: ReturnType<typeof fixedClock>;
  logs: ReturnType<typeof captureLogs>;
  /** Every response body the tests received, for leak checks. */
  bodies: string[];
  request(method: string, path: string, opts?: RequestOptions): Promise<TestResponse>;
  /** A tenant with its first project and an API key holding every project permission. */
  tenant(name?: string): Promise<{ tenantId: string; projectId: string; key: string }>;
  /** An API key in a project with exactly these permissions. */
  key(
    tenantId: string,
    projectId: string,
    permissions: string[],
    expiresAt?: Date,
  ): Promise<{ id: string; secret: string }>;
  /** A user (password given) with a role in the tenant. */
  user(
    tenantId: string,
    role: Role,
    password?: string,
  ): Promise<{ id: string; email: string; password: string }>;
  /** A source in a project (a GitHub one unless the input says otherwise), with its secret. */
  source(
    tenantId: string,
    projectId: string,
    input?: Partial<CreateSourceInput>,
  ): Promise<{ id: string; secret: string }>;
  /** A destination in a project (an https one unless the input says otherwise), with its signing secret. */
  destination(
    tenantId: string,
    projectId: string,
    input?: Partial<CreateDestinationInput>,
  ): Promise<{ id: string; secret: string }>;
  /** A user that belongs to no tenant yet. */
  lonelyUser(password?: string): Promise<{ id: string; email: string; password: string }>;
  /** Signs in and returns the session cookie header value. */
  login(email: string, password: string): Promise<string>;
  close(): Promise<void>;
}

/** Asserts the status and the one error shape `{ error: { code, message, correlation_id } }`. */
export function assertError(res: TestResponse, status: number, code: string, what = ""): void {
  const label = `${what} -> ${res.status} ${res.text}`;
  assert.equal(res.status, status, label);
  assert.equal(typeof res.json?.error, "object", label);
  assert.equal(res.json.error.code, code, label);
  assert.equal(typeof res.json.error.message, "string", label);
  assert.equal(res.json.error.correlation_id, res.headers.get("x-correlation-id"), label);
  assert.match(res.json.error.correlation_id, /^\S{8,128}$/, label);
}

/** The ingest base URL test APIs show sources under. */
export const TEST_INGEST_BASE_URL = "http://127.0.0.1:7701";

export interface RequestOptions {
  key?: string;
  cookie?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are narrowed by each assertion
  json: any;
}

export interface TestApiOptions {
  failureLimit?: number;
  /** `ZENMESH_API_TRUST_PROXY`: the proxies whose X-Forwarded-For entries are believed. */
  trustProxy?: string;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxConnections?: number;
  /** Also serve the metrics listener, on a free loopback port (`metricsUrl`). */
  metrics?: boolean;
  quotas?: ProjectQuotas;
  /** Serve a real ingest listener over the same database, and show sources under its URL (`ingestUrl`). */
  ingest?: boolean;
}

export async function startTestApi(kind: DriverKind, opts: TestApiOptions = {}): Promise<TestApi> {
  const t = await freshDatabase(kind);
  const clock = fixedClock(Date.now());
  const logs = captureLogs();
  const egressBox = generateBoxKeyPair();
  let ingestBaseUrl = TEST_INGEST_BASE_URL;
  const tenancy: TenancyDeps & Pick<SourceDeps, "ingestBaseUrl"> & Pick<DeliverDeps, "egressBoxKey"> = {
    db: t.db,
    zenlock: new ZenLock({ masterKeys: parseMasterKeyRing(generateMasterKey(), "test") }),
    clock,
    apiKeyEnvironment: "test",
    sessions: { idleTimeoutSeconds: 1800, absoluteTimeoutSeconds: 43_200 },
    ingestBaseUrl: () => ingestBaseUrl,
    egressBoxKey: () => egressBox.publicKey,
    ...(opts.quotas ? { quotas: opts.quotas } : {}),
  };
  const metrics = createApiMetrics({ defaultMetrics: false });
  const app = buildApiServer({
    tenancy,
    logger: logs.logger,
    version: "test",
    trustProxy: opts.trustProxy ?? "",
    authFailureLimit: opts.failureLimit ?? 1000,
    authFailureWindowSeconds: 60,
    defaultMetrics: false,
    metrics,
    ...(opts.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: opts.headersTimeoutMs }),
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: opts.requestTimeoutMs }),
    ...(opts.maxConnections === undefined ? {} : { maxConnections: opts.maxConnections }),
    ingestBaseUrl: tenancy.ingestBaseUrl,
    egressBoxKey: tenancy.egressBoxKey,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const metricsServer = opts.metrics
    ? await startMetricsServer({
        registry: metrics.registry,
        host: "127.0.0.1",
        port: 0,
        logger: logs.logger,
      })
    : undefined;
  const ingest = opts.ingest ? await startApiIngest(tenancy) : undefined;
  if (ingest) ingestBaseUrl = ingest.url;
  const bodies: string[] = [];
  const operator = { type: "operator", id: "test" } as const;

  const api: TestApi = {
    t,
    url,
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    ...(ingest ? { ingestUrl: ingest.url } : {}),
    tenancy,
    egressBox,
    clock,
    logs,
    bodies,
    async request(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.key !== undefined) headers.authorization = `Bearer ${o.key}`;
      if (o.cookie !== undefined) headers.cookie = o.cookie;
      let body: string | undefined;
      if (o.rawBody !== undefined) body = o.rawBody;
      else if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers["content-type"] ??= "application/json";
      }
      const res = await fetch(url + path, { method, headers, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      bodies.push(text);
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
    async tenant(name = "acme") {
      const { tenantId, projectId } = await createTenant(tenancy, {
        name,
        correlationId: newId("correlation"),
        actor: operator,
      });
      const { secret } = await api.key(tenantId, projectId, [...PROJECT_PERMISSIONS]);
      return { tenantId, projectId, key: secret };
    },
    async key(tenantId, projectId, permissions, expiresAt) {
      const r = await createApiKey(
        tenancy,
        {
          tenantId,
          projectId,
          actor: operator,
          permissions: new Set(PROJECT_PERMISSIONS),
          correlationId: newId("correlation"),
        },
        { name: "test key", permissions, expiresAt: expiresAt ?? null },
      );
      return { id: r.key.id, secret: r.secret };
    },
    async source(tenantId, projectId, input = {}) {
      const r = await createSource(
        tenancy,
        {
          tenantId,
          projectId,
          actor: operator,
          permissions: new Set(PROJECT_PERMISSIONS),
          correlationId: newId("correlation"),
        },
        { name: "test source", scheme: "github", ...input },
      );
      return { id: r.source.id, secret: r.secret };
    },
    async destination(tenantId, projectId, input = {}) {
      const r = await createDestination(
        tenancy,
        {
          tenantId,
          projectId,
          actor: operator,
          permissions: new Set(PROJECT_PERMISSIONS),
          correlationId: newId("correlation"),
        },
        { name: "test destination", url: "https://hooks.example.test/zenmesh", ...input },
      );
      return { id: r.destination.id, secret: r.secret };
    },
    async lonelyUser(password = `pw-${newId("user")}`) {
      const email = `${newId("user").toLowerCase()}@example.test`;
      const u = await createUser(tenancy, { email, password });
      return { id: u.id, email, password };
    },
    async user(tenantId, role, password) {
      const u = await api.lonelyUser(password);
      await grantMembership(tenancy, {
        tenantId,
        userId: u.id,
        role,
        correlationId: newId("correlation"),
        actor: operator,
      });
      return u;
    },
    async login(email, password) {
      const r = await api.request("POST", "/v1/auth/login", { body: { email, password } });
      if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
      const set = r.headers.get("set-cookie") ?? "";
      return set.split(";")[0]!;
    },
    async close() {
      await metricsServer?.close();
      await ingest?.close();
      await app.close();
      await t.close();
    },
  };
  return api;
}

/**
 * Stores ingest items as the backend does, each event expanded into one
 * delivery per matching subscription in the same transaction (no fast path).
 */
export function storeWithDeliveries(api: TestApi, items: readonly IngestItem[]) {
  const queue = createTableQueue(api.tenancy.db);
  return persistBatch(
    {
      ...api.tenancy,
      async onStored(tx, tid, events, now) {
        await expandDeliveries(
          { ...api.tenancy, queue, leaseMs: 60_000 },
          tx,
          tid,
          toStoredEvents(events),
          now,
          {
            fastPath: false,
          },
        );
      },
    },
    items,
  );
}
