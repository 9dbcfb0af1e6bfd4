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
 * source): before refusing a request for what its snapshot says, the
 * ingester asks for changes at once (`refresh`), so an update that committed
 * before the request was sent decides it. The one poll loop does that fetch
 * (it cuts its long-poll short), so answers are applied in order and an older
 * answer never overwrites a newer one. Refreshes asked while a refresh fetch
 * is in flight join it, and refresh fetches start at most every 50 ms, so a
 * flood of refusals costs the backend one fetch at a time, at most twenty a second.
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
  /** Least time between the starts of two fetches made for refreshes (default 50 ms). */
  refreshFloorMs?: number;
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
  // Refresh fetches start at most this often, however many refusals ask for one.
  const refreshFloorMs = opts.refreshFloorMs ?? 50;
  let lastRefreshAt = 0;
  const stop = new AbortController();
  // Refreshes asked for: served by the next fetch that starts after they were asked.
  let asked: (() => void)[] = [];
  // The refreshes the fetch in flight serves, while it is one made for refreshes: later ones join it.
  let joining: (() => void)[] | undefined;
  // Aborts the long-poll in flight (not the loop) so a refresh does not wait for it.
  let cutShort: AbortController | undefined;

  const apply = (c: SourceChanges) => {
    for (const s of c.upserts) sources.set(s.id, s);
    for (const id of c.deletes) sources.delete(id);
    revision = Math.max(revision, c.revision);
  };

  const loop = async () => {
    while (!closed) {
      if (asked.length > 0 && isReady) {
        const due = lastRefreshAt + refreshFloorMs - Date.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
        lastRefreshAt = Date.now();
      }
      const serving = asked;
      asked = [];
      const poll = new AbortController();
      try {
        // The first call, a refresh and any call with more to fetch must not wait.
        const w = isReady && serving.length === 0 ? wait : 0;
        joining = serving.length > 0 ? serving : undefined;
        cutShort = w > 0 ? poll : undefined;
        // The backend holds the poll for up to `w` seconds: the deadline must outlast it.
        const r = await opts.backend.request(
          "GET",
          `/internal/sources?since=${revision}&wait=${w}`,
          undefined,
          {},
          {
            timeoutMs: (w + 10) * 1000,
            signal: AbortSignal.any([stop.signal, poll.signal]),
          },
        );
        cutShort = undefined;
        joining = undefined;
        if (r.status !== 200) throw new Error(`the backend answered ${r.status}`);
        const changes = r.json<SourceChanges>();
        apply(changes);
        if (!changes.more && !isReady) {
          isReady = true;
          markReady();
        }
        if (failures > 0) opts.logger.info({ revision }, "source updates flowing again");
        failures = 0;
        for (const done of serving) done();
      } catch (err) {
        cutShort = undefined;
        joining = undefined;
        for (const done of serving) done();
        if (closed) break;
        // Cut short for a refresh: not a failure, and the next fetch starts at once.
        if (poll.signal.aborted) continue;
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
      if (closed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        // Under a burst of refusals, one fetch in flight serves them all: the backend sees one at a time.
        if (joining !== undefined) joining.push(resolve);
        else {
          asked.push(resolve);
          cutShort?.abort();
        }
      });
    },
    close() {
      closed = true;
      for (const done of asked) done();
      asked = [];
      stop.abort();
    },
  };
}
