/**
 * What an event is, as the ingest listener decides it: which CloudEvents
 * input modes a source takes (only the ones its scheme authenticates), where a
 * provider event's type comes from, which requests are one event (the
 * fingerprint and the signatures seen), and which attributes are refused. The
 * listener, the store and the database are real; the batcher is replaced by a
 * direct call to the store, so the test clock reaches both.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { DRIVERS, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { type ActionContext, fixedClock, isZenError, newId } from "../../core/index.ts";
import { loadMigrations } from "../../db/migrate.ts";
import { getScheme } from "../schemes/index.ts";
import { createSource, type SourceDeps, updateSource } from "../sources/index.ts";
import type { PersistDeps, StoredEventFacts } from "../store/persist.ts";
import type { SchemeName } from "../types.ts";
import { type ApiIngest, startApiIngest } from "./api-harness.ts";
import type { IngestServer } from "./server.ts";

const CE_JSON = "application/cloudevents+json";

/** The listener's answer: an event id (and duplicate flag), or an error. */
interface Answer {
  id?: string;
  duplicate?: boolean;
  error?: { code: string; details?: { reason?: string } };
}

for (const kind of DRIVERS) {
  describe(`ingest semantics on ${kind}`, { skip: skipReason(kind) }, () => {
    let h: ApiIngest;
    let t: TestDatabase;
    let deps: PersistDeps & SourceDeps;
    let server: IngestServer;
    let ctx: ActionContext;
    const clock = fixedClock("2031-05-01T00:00:00Z");
    let stored: StoredEventFacts[] = [];

    before(async () => {
      h = await startApiIngest(kind, { name: "semantics", clock });
      ({ t, deps, server, ctx, stored } = h);
    });
    after(async () => {
      await h?.close();
    });

    /** A source made through the sources API, then pushed to the listener as the backend would. */
    const source = (scheme: SchemeName, over: Record<string, unknown> = {}) => h.source(scheme, over);
    const _refresh = () => h.refresh();

    async function post(sourceId: string, headers: Record<string, string>, body: string | Buffer) {
      const res = await fetch(`${server.url}/e/${sourceId}`, { method: "POST", headers, body });
      return { status: res.status, json: (await res.json()) as Answer };
    }

    async function eventsOf(sourceId: string): Promise<{ id: string; type: string }[]> {
      return t.db.withTenant(ctx.tenantId, async (tx) => {
        const r = await tx.query<{ id: string; type: string }>(
          "select id, type from events where tenant_id = $1 and source_id = $2 order by received_at, id",
          [ctx.tenantId, sourceId],
        );
        return r.rows;
      });
    }

    const storedFor = (sourceId: string) => stored.filter((e) => e.sourceId === sourceId).length;

    /** A signed structured CloudEvent for a Standard Webhooks source (each request a new id and signature). */
    function signedCe(secret: string, event: Record<string, unknown>) {
      const body = Buffer.from(JSON.stringify({ specversion: "1.0", ...event }));
      const headers = getScheme("standard-webhooks").sign({ secret, body, now: clock.now() });
      return { headers: { ...headers, "content-type": CE_JSON }, body };
    }

    test("a captured GitHub webhook re-sent after the replay window with ce-* headers and a media type parameter is the first event, stored once", async () => {
      const gh = await source("github");
      const body = Buffer.from(
        JSON.stringify({ action: "published", release: { id: 7 }, n: newId("event") }),
      );
      const captured = {
        ...getScheme("github").sign({ secret: gh.secret, body, now: clock.now() }),
        "x-github-event": "release",
        "content-type": "application/json",
      };
      const first = await post(gh.id, captured, body);
      assert.equal(first.status, 202, JSON.stringify(first.json));
      const firstId = first.json.id as string;

      // Past the 600 s the replay keys of a 300 s tolerance live, well inside the dedupe window.
      clock.advance(610_000);
      const forged = await post(
        gh.id,
        {
          ...captured,
          "x-github-delivery": randomBytes(16).toString("hex"),
          "content-type": "application/json; v=1",
          "ce-specversion": "1.0",
          "ce-id": newId("event"),
          "ce-source": "/attacker",
          "ce-type": "com.github.release.published",
        },
        body,
      );
      assert.equal(forged.status, 202, JSON.stringify(forged.json));
      assert.equal(forged.json.id, firstId, "a seen signature is answered with the first event's id");
      assert.equal(forged.json.duplicate, true);

      // The same again a day later with another unsigned event header and parameter: still the first event.
      clock.advance(86_400_000);
      const again = await post(
        gh.id,
        { ...captured, "x-github-event": "ping", "content-type": "application/json; v=2" },
        body,
      );
      assert.equal(again.status, 202, JSON.stringify(again.json));
      assert.equal(again.json.id, firstId);

      const events = await eventsOf(gh.id);
      assert.deepEqual(
        events.map((e) => e.id),
        [firstId],
        "nothing new stored",
      );
      assert.equal(
        events[0]!.type,
        "com.github.release.published",
        "the type comes from GitHub's own header and body",
      );
      assert.equal(storedFor(gh.id), 1, "one delivery fan-out, not two");
    });

    test("a GitHub redelivery inside the replay window is answered with the first event's id, nothing stored", async () => {
      const gh = await source("github");
      const body = Buffer.from(JSON.stringify({ action: "opened", n: newId("event") }));
      const headers = {
        ...getScheme("github").sign({ secret: gh.secret, body, now: clock.now() }),
        "x-github-event": "issues",
        "content-type": "application/json",
      };
      const first = await post(gh.id, headers, body);
      assert.equal(first.status, 202);
      clock.advance(5_000);
      const redelivered = await post(gh.id, headers, body);
      assert.equal(redelivered.status, 202, JSON.stringify(redelivered.json));
      assert.equal(redelivered.json.id, first.json.id);
      assert.equal((await eventsOf(gh.id)).length, 1);
    });

    test("ce-* headers on a source that did not opt in are not read: the provider's type is stored", async () => {
      const gh = await source("github");
      const body = Buffer.from(JSON.stringify({ action: "created", n: newId("event") }));
      const r = await post(
        gh.id,
        {
          ...getScheme("github").sign({ secret: gh.secret, body, now: clock.now() }),
          "x-github-event": "star",
          "content-type": "application/json",
          "ce-specversion": "1.0",
          "ce-id": "x-1",
          "ce-source": "/attacker",
          "ce-type": "com.attacker.chosen",
        },
        body,
      );
      assert.equal(r.status, 202, JSON.stringify(r.json));
      assert.deepEqual(
        (await eventsOf(gh.id)).map((e) => e.type),
        ["com.github.star.created"],
      );
    });

    test("structured CloudEvents are refused (415) by a source that lists the media type but did not opt in", async () => {
      const sw = await source("standard-webhooks", { content_types: [CE_JSON] });
      const { headers, body } = signedCe(sw.secret, { id: "e-1", source: "/shop", type: "order.created" });
      const r = await post(sw.id, headers, body);
      assert.equal(r.status, 415, JSON.stringify(r.json));
      assert.equal(r.json.error?.code, "UNSUPPORTED_MEDIA_TYPE");
      assert.equal((await eventsOf(sw.id)).length, 0);
    });

    test("binary mode is refused where the scheme signs only the body; structured is taken; off is the default", async () => {
      for (const scheme of [
        "github",
        "shopify",
        "gitlab",
        "generic-hmac",
        "standard-webhooks",
        "stripe",
      ] as const) {
        const settings = scheme === "generic-hmac" ? { header: "x-signature" } : {};
        for (const mode of ["binary", "any"] as const) {
          await assert.rejects(
            createSource(deps, ctx, { name: "ce", scheme, settings, cloudevents: mode }),
            (err: unknown) =>
              isZenError(err) && err.code === "CLOUDEVENTS_MODE_UNAUTHENTICATED" && err.status === 422,
            `${scheme} ${mode}`,
          );
        }
      }
      // A GitLab secret token signs nothing, not even the body: no mode at all.
      await assert.rejects(
        createSource(deps, ctx, { name: "ce", scheme: "gitlab", cloudevents: "structured" }),
        (err: unknown) => isZenError(err) && err.code === "CLOUDEVENTS_MODE_UNAUTHENTICATED",
      );
      const made = await createSource(deps, ctx, { name: "ce", scheme: "github" });
      assert.equal(made.source.cloudevents, "off");
      await assert.rejects(
        updateSource(deps, ctx, made.source.id, { cloudevents: "binary" }),
        (err: unknown) => isZenError(err) && err.code === "CLOUDEVENTS_MODE_UNAUTHENTICATED",
      );
      const structured = await updateSource(deps, ctx, made.source.id, { cloudevents: "structured" });
      assert.equal(structured.cloudevents, "structured");
    });

    test("two CloudEvents with the same data but different ids and types are two events, both handed to delivery", async () => {
      const sw = await source("standard-webhooks", { content_types: [CE_JSON], cloudevents: "structured" });
      const created = signedCe(sw.secret, {
        id: "order-1-created",
        source: "/shop",
        type: "order.created",
        data: { order: 1 },
      });
      const cancelled = signedCe(sw.secret, {
        id: "order-1-cancelled",
        source: "/shop",
        type: "order.cancelled",
        data: { order: 1 },
      });
      const a = await post(sw.id, created.headers, created.body);
      const b = await post(sw.id, cancelled.headers, cancelled.body);
      assert.equal(a.status, 202, JSON.stringify(a.json));
      assert.equal(b.status, 202, JSON.stringify(b.json));
      assert.equal(b.json.duplicate, undefined, "not a duplicate");
      assert.notEqual(a.json.id, b.json.id);
      assert.deepEqual((await eventsOf(sw.id)).map((e) => e.type).sort(), [
        "order.cancelled",
        "order.created",
      ]);
      assert.equal(storedFor(sw.id), 2, "both handed to the delivery fan-out");
    });

    test("CloudEvents without data do not collapse into the first; only the same id, source, type and subject is a duplicate", async () => {
      const sw = await source("standard-webhooks", { content_types: [CE_JSON], cloudevents: "structured" });
      const ids: string[] = [];
      const send = async (event: Record<string, unknown>) => {
        const { headers, body } = signedCe(sw.secret, event);
        const r = await post(sw.id, headers, body);
        assert.equal(r.status, 202, `${JSON.stringify(event)}: ${JSON.stringify(r.json)}`);
        return r.json;
      };
      for (const event of [
        { id: "ping-1", source: "/a", type: "ping" },
        { id: "ping-2", source: "/a", type: "ping" },
        { id: "ping-1", source: "/b", type: "ping" },
      ]) {
        const r = await send(event);
        assert.equal(r.duplicate, undefined, JSON.stringify(event));
        ids.push(String(r.id));
      }
      // Past the replay window of (source, id): the same id and source with another subject or type is
      // another event, and the very same event is a duplicate of the first.
      for (const event of [
        { id: "ping-1", source: "/a", type: "ping", subject: "s" },
        { id: "ping-1", source: "/a", type: "pong" },
      ]) {
        clock.advance(3_600_000);
        const r = await send(event);
        assert.equal(r.duplicate, undefined, JSON.stringify(event));
        ids.push(String(r.id));
      }
      assert.equal(new Set(ids).size, 5);
      const again = await send({ id: "ping-2", source: "/a", type: "ping" });
      assert.equal(again.id, ids[1]);
      assert.equal(again.duplicate, true);
      assert.equal((await eventsOf(sw.id)).length, 5);
    });

    test("bidi overrides, zero-width and control characters in CloudEvents attributes are refused, nothing stored", async () => {
      const sw = await source("standard-webhooks", { content_types: [CE_JSON], cloudevents: "structured" });
      const cases: Record<string, unknown>[] = [
        { id: "b-1", source: "/a", type: "order.\u202ecreated" },
        { id: "b-2", source: "/a", type: "order.created", subject: "inv\u200boice" },
        { id: "b-3\u2066", source: "/a", type: "order.created" },
        { id: "b-4", source: "/a\u061c", type: "order.created" },
        { id: "b-5", source: "/a", type: "order.created\u0085" },
      ];
      for (const event of cases) {
        const { headers, body } = signedCe(sw.secret, event);
        const r = await post(sw.id, headers, body);
        assert.equal(r.status, 400, `${JSON.stringify(event)}: ${JSON.stringify(r.json)}`);
        assert.equal(r.json.error?.code, "CLOUDEVENT_INVALID");
        assert.equal(r.json.error?.details?.reason, "invisible_character");
      }
      assert.equal((await eventsOf(sw.id)).length, 0);
    });
    test("the migration keeps structured input for sources that listed a CloudEvents media type, GitLab's off", async () => {
      const listed = { content_types: [CE_JSON, "application/json"] };
      const gh = await source("github", listed);
      const gl = await source("gitlab", listed);
      const plain = await source("shopify");
      // Back to before the setting existed, then the migration as it ships.
      await t.admin("alter table sources drop column cloudevents");
      const sql = loadMigrations()
        .find((m) => m.version === 5)!
        .sql.replace(/^--.*$/gm, "");
      for (const statement of sql.split(";").map((x) => x.trim())) if (statement) await t.admin(statement);
      const rows = await t.admin<{ id: string; cloudevents: string }>(
        "select id, cloudevents from sources where id = any($1::text[])",
        [[gh.id, gl.id, plain.id]],
      );
      const mode = new Map(rows.map((r) => [r.id, r.cloudevents]));
      assert.equal(mode.get(gh.id), "structured");
      assert.equal(mode.get(gl.id), "off");
      assert.equal(mode.get(plain.id), "off");
    });
  });
}
