/**
 * The ingester's source snapshot against the backend's real `GET
 * /internal/sources` route and a real database (the mesh's TLS is left out:
 * its own suites prove it): a refresh brings a change the long-poll has not
 * delivered yet, answers that arrive out of order never undo a newer change
 * or a deletion, and a burst of refreshes is one fetch at a time.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { type ActionContext, newId, systemClock } from "../core/index.ts";
import { createSourceCache, type SourceCache } from "../ingest/ingester/index.ts";
import { createSource, deleteSource, type SourceDeps, updateSource } from "../ingest/sources/index.ts";
import { testIngestDeps } from "../ingest/store/testing.ts";
import { createLogger } from "../log/index.ts";
import type { InternalClient, InternalClientResponse } from "../mesh/index.ts";
import { createTenant, PROJECT_PERMISSIONS } from "../tenancy/index.ts";
import { ingestRoutes } from "./backend-ingest.ts";

const INGESTER = "spiffe://refresh.test/ingester";

for (const kind of DRIVERS) {
  describe(`source refreshes on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    let deps: SourceDeps & ReturnType<typeof testIngestDeps>;
    let ctx: ActionContext;
    let cache: SourceCache;
    let closing = false;
    // Long-poll answers held back until the test lets them go, to make them arrive late.
    let holdPolls = false;
    const held: (() => void)[] = [];
    let refreshFetches = 0;

    before(async () => {
      t = await freshDatabase(kind);
      deps = { ...testIngestDeps(t.db, systemClock), ingestBaseUrl: () => "https://in.example.test" };
      const { tenantId, projectId } = await createTenant(deps, {
        name: "refresh",
        correlationId: newId("correlation"),
        actor: { type: "operator", id: "test" },
      });
      ctx = {
        tenantId,
        projectId,
        actor: { type: "user", id: newId("user") },
        permissions: new Set(PROJECT_PERMISSIONS),
        correlationId: newId("correlation"),
      };
      const [route] = ingestRoutes({
        db: t.db,
        zenlock: deps.zenlock,
        clock: systemClock,
        trustDomain: "refresh.test",
        signed: "optional",
        closing: () => closing,
      }).filter((r) => r.path === "/internal/sources");
      assert.ok(route);
      // The backend's own handler, called as the mesh server would after checking the peer.
      const backend: InternalClient = {
        async request(method, path) {
          const waits = !/[?&]wait=0(?:&|$)/.test(path);
          if (!waits) refreshFetches++;
          const r = await route.handler({
            peer: { spiffeId: INGESTER },
            method: "GET",
            url: path,
            body: Buffer.alloc(0),
            headers: {},
            correlationId: newId("correlation"),
          });
          if (waits && holdPolls) await new Promise<void>((release) => held.push(release));
          const body = Buffer.from(JSON.stringify(r.body));
          const answer: InternalClientResponse = {
            status: r.status,
            headers: {},
            body,
            peer: { spiffeId: "spiffe://refresh.test/backend", serial: "1" },
            json: <T>() => JSON.parse(body.toString("utf8")) as T,
          };
          assert.equal(method, "GET");
          return answer;
        },
        close: async () => {},
      };
      cache = createSourceCache({ backend, logger: createLogger({ level: "silent" }), waitSeconds: 1 });
      await cache.whenReady();
    });
    after(async () => {
      closing = true;
      for (const release of held.splice(0)) release();
      cache?.close();
      await t?.close();
    });

    const until = async (what: string, ok: () => boolean) => {
      const end = Date.now() + 5000;
      while (!ok()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };

    test("a refresh brings a new source and a change before the long-poll does", async () => {
      holdPolls = true;
      const { source } = await createSource(deps, ctx, { name: "new", scheme: "github" });
      assert.equal(cache.get(source.id), undefined, "the long-poll's answer is held back");
      await cache.refresh();
      assert.deepEqual(cache.get(source.id)?.contentTypes, source.content_types);
      await updateSource(deps, ctx, source.id, { content_types: ["application/json", "text/plain"] });
      await cache.refresh();
      assert.deepEqual(cache.get(source.id)?.contentTypes, ["application/json", "text/plain"]);
      holdPolls = false;
      for (const release of held.splice(0)) release();
    });

    test("an answer read before a newer change or a deletion, arriving after it, undoes neither", async () => {
      const { source } = await createSource(deps, ctx, { name: "raced", scheme: "github" });
      await cache.refresh();
      holdPolls = true;
      await updateSource(deps, ctx, source.id, { content_types: ["text/plain"] });
      // The long-poll has read this change; its answer is held back, to arrive last.
      await until("the long-poll to read the change", () => held.length > 0);
      await updateSource(deps, ctx, source.id, { content_types: ["text/csv"] });
      await cache.refresh();
      assert.deepEqual(cache.get(source.id)?.contentTypes, ["text/csv"]);
      holdPolls = false;
      for (const release of held.splice(0)) release();
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(cache.get(source.id)?.contentTypes, ["text/csv"], "the older answer was not applied");

      holdPolls = true;
      await updateSource(deps, ctx, source.id, { content_types: ["application/json"] });
      await until("the long-poll to read the change", () => held.length > 0);
      await deleteSource(deps, ctx, source.id);
      await cache.refresh();
      assert.equal(cache.get(source.id), undefined);
      holdPolls = false;
      for (const release of held.splice(0)) release();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(cache.get(source.id), undefined, "a deleted source does not come back");
    });

    test("a burst of refreshes is one fetch at a time, and each waits for one that started after it asked", async () => {
      const before = refreshFetches;
      await Promise.all(Array.from({ length: 50 }, () => cache.refresh()));
      // The first starts one; the other 49 asked while it was in flight and share the next.
      assert.ok(refreshFetches - before <= 2, `${refreshFetches - before} fetches for 50 refreshes`);
      const { source } = await createSource(deps, ctx, { name: "late", scheme: "github" });
      await cache.refresh();
      assert.ok(cache.get(source.id), "a refresh asked after a commit sees it");
    });
  });
}
