/**
 * A real ingest listener over a test API's database, for routes that go
 * through the ingest path (test sends): its source directory is read with
 * the backend's own loader (`loadSourceChanges`, secrets opened by the same
 * key ring) and refreshed every 100 ms, as the backend's push would, and
 * accepted events are stored by the real store (`persistBatch`).
 */
import { systemClock } from "../../src/core/index.ts";
import type { Database } from "../../src/db/index.ts";
import { startIngestServer } from "../../src/ingest/ingester/server.ts";
import type { SourceCache } from "../../src/ingest/ingester/source-cache.ts";
import { loadSourceChanges } from "../../src/ingest/sources/index.ts";
import { persistBatch } from "../../src/ingest/store/index.ts";
import type { SourceSnapshot } from "../../src/ingest/types.ts";
import { captureLogs } from "../../src/log/testing.ts";
import type { ZenLock } from "../../src/zenlock/index.ts";

export interface ApiIngest {
  url: string;
  close(): Promise<void>;
}

export async function startApiIngest(deps: { db: Database; zenlock: ZenLock }): Promise<ApiIngest> {
  const sources = new Map<string, SourceSnapshot>();
  let revision = 0;
  let ready = false;
  let stopped = false;
  const refresh = async () => {
    for (;;) {
      const changes = await loadSourceChanges(deps.db, deps.zenlock, revision, new Date());
      for (const s of changes.upserts) sources.set(s.id, s);
      for (const id of changes.deletes) sources.delete(id);
      revision = changes.revision;
      if (!changes.more) break;
    }
    ready = true;
  };
  await refresh();
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(refresh).catch(() => {});
  }, 100);
  const cache: SourceCache = {
    get: (id) => sources.get(id),
    ready: () => ready,
    revision: () => revision,
    size: () => sources.size,
    whenReady: async () => {},
    // A refusal asks for the changes committed until now: the next read, after any in flight.
    refresh: () => {
      running = running.then(refresh).catch(() => {});
      return running;
    },
    close() {},
  };
  const server = await startIngestServer({
    sources: cache,
    batcher: {
      submit: (items) => persistBatch({ ...deps, clock: systemClock }, items),
      load: () => ({ inFlight: 0, queued: 0 }),
    },
    logger: captureLogs({ level: "warn" }).logger,
    clock: systemClock,
    host: "127.0.0.1",
    port: 0,
    plainHttpAllowed: true,
  });
  return {
    url: server.url,
    async close() {
      stopped = true;
      clearInterval(timer);
      await running;
      await server.close();
    },
  };
}
