/**
 * Test harness: the public ingest listener in front of the real store, with
 * sources made through the sources API (so their settings, secrets and
 * defaults are the ones users get) and pushed to the listener's snapshot as
 * the backend pushes them. What the store hands to fan-out is recorded.
 * Only the mesh between ingester and backend is left out.
 */
import { freshDatabase, type TestDatabase } from "../../../test/support/db.ts";
import { type ActionContext, type Clock, newId } from "../../core/index.ts";
import { createLogger } from "../../log/index.ts";
import { createTenant, PROJECT_PERMISSIONS } from "../../tenancy/index.ts";
import { createSource, loadSourceChanges, type SourceDeps } from "../sources/index.ts";
import { type PersistDeps, persistBatch, type StoredEventFacts } from "../store/persist.ts";
import { testIngestDeps } from "../store/testing.ts";
import type { SchemeName, SourceSnapshot } from "../types.ts";
import { type IngestServer, type IngestServerOptions, startIngestServer } from "./server.ts";

export interface ApiIngest {
  t: TestDatabase;
  deps: PersistDeps & SourceDeps;
  ctx: ActionContext;
  server: IngestServer;
  /** What the store handed to fan-out, in order. */
  stored: StoredEventFacts[];
  /** A source made through the sources API with these fields, then pushed to the listener. */
  source(scheme: SchemeName, over?: Record<string, unknown>): Promise<{ id: string; secret: string }>;
  /** Pushes every source change committed so far to the listener's snapshot. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export async function startApiIngest(
  kind: Parameters<typeof freshDatabase>[0],
  opts: { name: string; clock: Clock; onOutcome?: IngestServerOptions["onOutcome"] },
): Promise<ApiIngest> {
  const t = await freshDatabase(kind);
  const stored: StoredEventFacts[] = [];
  const snapshots = new Map<string, SourceSnapshot>();
  const deps: PersistDeps & SourceDeps = {
    ...testIngestDeps(t.db, opts.clock),
    ingestBaseUrl: () => "http://127.0.0.1",
    onStored: async (_tx, _tenant, events) => {
      stored.push(...events);
    },
  };
  const { tenantId, projectId } = await createTenant(deps, {
    name: opts.name,
    correlationId: newId("correlation"),
    actor: { type: "operator", id: "test" },
  });
  const ctx: ActionContext = {
    tenantId,
    projectId,
    actor: { type: "user", id: newId("user") },
    permissions: new Set(PROJECT_PERMISSIONS),
    correlationId: newId("correlation"),
  };
  const server = await startIngestServer({
    sources: {
      get: (id) => snapshots.get(id),
      ready: () => true,
      revision: () => 0,
      size: () => snapshots.size,
      whenReady: async () => {},
      refresh: async () => {},
      close: () => {},
    },
    batcher: {
      submit: (items) => persistBatch(deps, items),
      load: () => ({ inFlight: 0, queued: 0 }),
    },
    logger: createLogger({ level: "silent" }),
    clock: opts.clock,
    host: "127.0.0.1",
    port: 0,
    plainHttpAllowed: true,
    ...(opts.onOutcome ? { onOutcome: opts.onOutcome } : {}),
  });
  const refresh = async () => {
    const changes = await loadSourceChanges(t.db, deps.zenlock, 0, opts.clock.now(), { limit: 100_000 });
    for (const s of changes.upserts) snapshots.set(s.id, s);
  };
  return {
    t,
    deps,
    ctx,
    server,
    stored,
    refresh,
    async source(scheme, over = {}) {
      const r = await createSource(deps, ctx, {
        name: `${scheme} source`,
        scheme,
        allow_plain_http: true,
        ...over,
      });
      await refresh();
      return { id: r.source.id, secret: r.secret };
    },
    async close() {
      await server.close();
      await t.close();
    },
  };
}
