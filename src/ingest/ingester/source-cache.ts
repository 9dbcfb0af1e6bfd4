/**
 * The ingester's in-memory view of every source and its valid secrets,
 * pushed by the backend over the mesh: a long-poll on
 * `GET /internal/sources?since=<revision>` returns changes as soon as they
 * commit (the backend answers within a second of a change), so verification
 * needs no round trip. Until the first snapshot arrives the ingester is not
 * ready and answers 503.
 *
 * A change made through the API a moment ago may not have arrived yet when
 * the provider's next delivery does (a PATCH adding a media type, a new
 * source, a rotated secret): before refusing a request for what its snapshot
 * says, the ingester asks for the changes committed until now (`refresh`), a
 * fetch that does not wait, beside the long-poll. Answers may then arrive out
 * of order, so they apply monotonically: an upsert never replaces a newer
 * revision of its source, and a source deleted stays deleted against any
 * answer read before the deletion (ids are never reused). Refreshes asked
 * while one is in flight share the one that starts after it: the backend
 * sees one refresh at a time, however many refusals ask.
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
  /**
   * Fetches the changes committed until now, at once; resolves when they are
   * applied (or the fetch failed: the snapshot then stays as it was).
   */
  refresh(): Promise<void>;
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

  // Deleted ids, with the revision of the answer that deleted them: no answer read earlier brings one back.
  const deleted = new Map<string, number>();
  const apply = (c: SourceChanges) => {
    for (const s of c.upserts) {
      const held = sources.get(s.id);
      if (held !== undefined && held.revision > s.revision) continue;
      const gone = deleted.get(s.id);
      if (gone !== undefined && gone >= s.revision) continue;
      sources.set(s.id, s);
    }
    for (const id of c.deletes) {
      sources.delete(id);
      deleted.set(id, Math.max(deleted.get(id) ?? 0, c.revision));
    }
    revision = Math.max(revision, c.revision);
  };

  // The refresh fetch in flight (and when it started), and the one that follows it for those who asked since.
  let current: { startedAt: number; done: Promise<void> } | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const done = fetchNow().finally(() => {
      current = undefined;
    });
    current = { startedAt: performance.now(), done };
    return done;
  };
  const fetchNow = async (): Promise<void> => {
    try {
      const r = await opts.backend.request(
        "GET",
        `/internal/sources?since=${revision}&wait=0`,
        undefined,
        {},
        {
          timeoutMs: 10_000,
          signal: stop.signal,
        },
      );
      if (r.status === 200) apply(r.json<SourceChanges>());
    } catch {
      // The long-poll reports an unreachable backend; a refusal is then answered from the snapshot held.
    }
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
    refresh() {
      if (closed || !isReady) return Promise.resolve();
      const asked = performance.now();
      if (current === undefined) return start();
      // A fetch that started before this was asked may have missed what committed since: wait for the next.
      if (current.startedAt >= asked) return current.done;
      next ??= current.done.then(() => {
        next = undefined;
        // Someone may have started one in between: it started after this was asked, so it serves.
        return current?.done ?? start();
      });
      return next;
    },
    close() {
      closed = true;
      stop.abort();
    },
  };
}
