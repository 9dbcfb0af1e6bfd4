/**
 * The ingester's in-memory view of every source and its valid secrets,
 * pushed by the backend over the mesh: a long-poll on
 * `GET /internal/sources?since=<revision>` returns changes as soon as they
 * commit (the backend answers within a second of a change), so verification
 * needs no round trip. Until the first snapshot arrives the ingester is not
 * ready and answers 503.
 */
import type { Logger } from "../../log/index.ts";
import type { InternalClient } from "../../mesh/index.ts";
import type { SourceSnapshot } from "../types.ts";

export interface SourceChanges {
  revision: number;
  upserts: SourceSnapshot[];
  deletes: string[];
  more?: boolean;
}

export interface SourceCache {
  get(id: string): SourceSnapshot | undefined;
  ready(): boolean;
  revision(): number;
  size(): number;
  /** Resolves once the first full snapshot is in. */
  whenReady(): Promise<void>;
  close(): void;
}

export function createSourceCache(opts: {
  backend: InternalClient;
  logger: Logger;
  /** How long the backend may hold a poll open. */
  waitSeconds?: number;
}): SourceCache {
  const sources = new Map<string, SourceSnapshot>();
  let revision = 0;
  let isReady = false;
  let closed = false;
  let failures = 0;
  let markReady!: () => void;
  const readyPromise = new Promise<void>((r) => {
    markReady = r;
  });
  const wait = opts.waitSeconds ?? 20;
  const stop = new AbortController();

  const apply = (c: SourceChanges) => {
    for (const s of c.upserts) sources.set(s.id, s);
    for (const id of c.deletes) sources.delete(id);
    revision = Math.max(revision, c.revision);
  };

  const loop = async () => {
    while (!closed) {
      try {
        // The first call (and any call with more to fetch) must not wait.
        const w = isReady ? wait : 0;
        // The backend holds the poll for up to `w` seconds: the deadline must outlast it.
        const r = await opts.backend.request(
          "GET",
          `/internal/sources?since=${revision}&wait=${w}`,
          undefined,
          {},
          {
            timeoutMs: (w + 10) * 1000,
            signal: stop.signal,
          },
        );
        if (r.status !== 200) throw new Error(`the backend answered ${r.status}`);
        const changes = r.json<SourceChanges>();
        apply(changes);
        if (!changes.more && !isReady) {
          isReady = true;
          markReady();
        }
        if (failures > 0) opts.logger.info({ revision }, "source updates flowing again");
        failures = 0;
      } catch (err) {
        if (closed) break;
        failures++;
        if (failures === 1) opts.logger.warn({ err }, "could not fetch source updates; retrying");
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(failures, 5))));
      }
    }
  };
  void loop();

  return {
    get: (id) => sources.get(id),
    ready: () => isReady,
    revision: () => revision,
    size: () => sources.size,
    whenReady: () => readyPromise,
    close() {
      closed = true;
      stop.abort();
    },
  };
}
