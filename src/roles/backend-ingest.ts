/**
 * The backend's side of ingest, on its internal (mTLS) API, for ingesters
 * only: `GET /internal/sources` pushes source changes (with their secrets,
 * which is why only `/ingester` is admitted) as a long-poll that answers as
 * soon as a change commits; `POST /internal/events` commits a batch of
 * verified events — only after it returns does an ingester answer 202.
 */
import type { Clock } from "../core/index.ts";
import { ZenError } from "../core/index.ts";
import type { Database } from "../db/index.ts";
import { type DispatchBatch, emptyBatch } from "../deliver/types.ts";
import { loadSourceChanges } from "../ingest/sources/index.ts";
import { type PersistDeps, persistBatch } from "../ingest/store/index.ts";
import type { IngestItem } from "../ingest/types.ts";
import type { InternalRequest, InternalRoute } from "../mesh/index.ts";
import type { ZenLock } from "../zenlock/index.ts";

const POLL_MS = 250;
const MAX_WAIT_SECONDS = 25;

export interface IngestBackendDeps {
  db: Database;
  zenlock: ZenLock;
  clock: Clock;
  trustDomain: string;
  signed: "required" | "optional";
  /** True once the backend is shutting down: held polls answer at once instead of outliving the database. */
  closing: () => boolean;
  /** Secret versions pushed per source, newest first (`ingest.maxSecretVersions`). */
  maxSecretVersions?: number;
  /** The delivery fan-out run in each tenant's ingest transaction, collecting the fast path's batch. */
  fanOut?: (into: DispatchBatch) => NonNullable<PersistDeps["onStored"]>;
}

async function latestRevision(db: Database): Promise<number> {
  const r = await db.withGlobal((tx) =>
    tx.query<{ r: string | number | null }>("select max(revision) as r from source_directory"),
  );
  return Number(r.rows[0]?.r ?? 0);
}

function query(req: InternalRequest): URLSearchParams {
  return new URL(req.url, "https://internal").searchParams;
}

export function ingestRoutes(deps: IngestBackendDeps): InternalRoute[] {
  const ingester = `spiffe://${deps.trustDomain}/ingester`;
  return [
    {
      method: "GET",
      path: "/internal/sources",
      allow: [ingester],
      signed: deps.signed,
      async handler(req) {
        const q = query(req);
        const since = Number(q.get("since") ?? "0");
        const wait = Math.min(Number(q.get("wait") ?? "0"), MAX_WAIT_SECONDS);
        if (!Number.isSafeInteger(since) || since < 0 || !Number.isFinite(wait) || wait < 0) {
          throw new ZenError("VALIDATION_FAILED", { message: "since and wait must be non-negative numbers" });
        }
        const deadline = Date.now() + wait * 1000;
        while (!deps.closing() && (await latestRevision(deps.db)) <= since && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
        if (deps.closing()) {
          // An expected answer while stopping, not a failure: the ingester polls again elsewhere or later.
          return {
            status: 503,
            headers: { "retry-after": "1" },
            body: {
              error: {
                code: "UNAVAILABLE",
                message: "The backend is stopping.",
                correlation_id: req.correlationId,
              },
            },
          };
        }
        const changes = await loadSourceChanges(deps.db, deps.zenlock, since, deps.clock.now(), {
          ...(deps.maxSecretVersions === undefined ? {} : { maxSecretVersions: deps.maxSecretVersions }),
        });
        return { status: 200, body: changes };
      },
    },
    {
      method: "POST",
      path: "/internal/events",
      allow: [ingester],
      signed: deps.signed,
      async handler(req) {
        let items: IngestItem[];
        try {
          items = (JSON.parse(req.body.toString("utf8")) as { items: IngestItem[] }).items;
        } catch (err) {
          throw new ZenError("MALFORMED_REQUEST", { cause: err });
        }
        if (!Array.isArray(items) || items.length > 1000) {
          throw new ZenError("VALIDATION_FAILED", { message: "items must be an array of at most 1000" });
        }
        const dispatch = emptyBatch();
        const results = await persistBatch(
          {
            db: deps.db,
            zenlock: deps.zenlock,
            clock: deps.clock,
            ...(deps.fanOut ? { onStored: deps.fanOut(dispatch) } : {}),
          },
          items,
          { actor: { type: "workload", spiffeId: req.peer.spiffeId } },
        );
        // The ingester hands `dispatch` to egress at once: the first attempts need no polling interval.
        // It still holds every payload it sent, so they do not travel back.
        for (const event of Object.values(dispatch.events)) event.payload = "";
        return { status: 200, body: { results, dispatch } };
      },
    },
  ];
}
