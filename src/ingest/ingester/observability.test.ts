/**
 * What the ingest listener tells operators: one log line per webhook (a
 * refusal at info, an acceptance at debug) holding metadata only, and a
 * `GET /healthz` for load balancers that reads no source and is not counted
 * as a webhook.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { systemClock } from "../../core/index.ts";
import { captureLogs } from "../../log/testing.ts";
import type { Batcher } from "./batcher.ts";
import { startIngestServer } from "./server.ts";
import type { SourceCache } from "./source-cache.ts";
import { startTestIngest, type TestIngest } from "./testing.ts";

const SECRET = "observability-secret-0123456789";
const MARKER = "body-marker-8f1c2e";

function parsed(lines: string[]): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("ingest log lines", () => {
  const logs = captureLogs({ level: "debug" });
  let ingest: TestIngest;
  before(async () => {
    ingest = await startTestIngest({ logger: logs.logger });
  });
  after(() => ingest.close());

  test("a refusal is logged at info with the source, scheme and reason, never a header value or the body", async () => {
    const source = await ingest.source("refused", [SECRET]);
    const body = Buffer.from(JSON.stringify({ note: MARKER }));
    const headers = ingest.sign(source, "a-different-secret-0123456789", body);
    const r = await fetch(`${ingest.url}/e/${source.id}`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body,
    });
    assert.equal(r.status, 401);
    const line = parsed(logs.lines()).find((l) => l.msg === "webhook refused" && l.source_id === source.id);
    assert.ok(line, `no refusal line in ${logs.text()}`);
    assert.equal(line.level, 30, "info");
    assert.equal(line.scheme, "generic-hmac");
    assert.equal(line.outcome, "SIGNATURE_INVALID");
    assert.equal(line.reason, "bad_signature");
    const text = logs.text();
    assert.ok(!text.includes(MARKER), "the body reached the log");
    for (const value of Object.values(headers))
      assert.ok(!text.includes(value), "a header value reached the log");
  });

  test("an acceptance is logged at debug with the event id", async () => {
    const source = await ingest.source("accepted", [SECRET]);
    const body = Buffer.from(JSON.stringify({ note: MARKER }));
    const r = await fetch(`${ingest.url}/e/${source.id}`, {
      method: "POST",
      headers: { ...ingest.sign(source, SECRET, body), "content-type": "application/json" },
      body,
    });
    assert.equal(r.status, 202);
    const { id } = (await r.json()) as { id: string };
    const line = parsed(logs.lines()).find((l) => l.msg === "webhook accepted" && l.source_id === source.id);
    assert.ok(line, `no acceptance line in ${logs.text()}`);
    assert.equal(line.level, 20, "debug");
    assert.equal(line.event_id, id);
    assert.equal(line.scheme, "generic-hmac");
    assert.ok(!logs.text().includes(MARKER), "the body reached the log");
  });

  test("an unknown source's id is not repeated from the caller's URL", async () => {
    const probe = "src_probe9d2b7e4a";
    const r = await fetch(`${ingest.url}/e/${probe}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(r.status, 404);
    const line = parsed(logs.lines()).find(
      (l) => l.msg === "webhook refused" && l.outcome === "SOURCE_NOT_FOUND",
    );
    assert.ok(line, `no refusal line in ${logs.text()}`);
    assert.equal(line.source_id, null);
    assert.ok(!logs.text().includes(probe));
  });
});

describe("GET /healthz on the ingest listener", () => {
  let ready = false;
  const outcomes: string[] = [];
  let touched = 0;
  // A directory that counts every look-up: the health route must answer from readiness alone.
  const sources: SourceCache = {
    get: () => {
      touched++;
      return undefined;
    },
    ready: () => ready,
    refresh: async () => {
      touched++;
    },
    revision: () => 0,
    size: () => 0,
    whenReady: async () => {},
    close() {},
  };
  const batcher: Batcher = {
    submit: async () => {
      throw new Error("a health check must not submit anything");
    },
    load: () => ({ inFlight: 0, queued: 0 }),
  };
  let url: string;
  let close: () => Promise<void>;
  before(async () => {
    const server = await startIngestServer({
      sources,
      batcher,
      logger: captureLogs({ level: "silent" }).logger,
      clock: systemClock,
      host: "127.0.0.1",
      port: 0,
      plainHttpAllowed: true,
      onOutcome: (o) => outcomes.push(o),
    });
    url = server.url;
    close = () => server.close();
  });
  after(() => close());

  test("answers 503 until the source directory is loaded, then 200, reading no source and counting no webhook", async () => {
    const starting = await fetch(`${url}/healthz`);
    assert.equal(starting.status, 503);
    assert.deepEqual(await starting.json(), { status: "starting" });
    ready = true;
    const up = await fetch(`${url}/healthz`);
    assert.equal(up.status, 200);
    assert.equal(up.headers.get("cache-control"), "no-store");
    assert.deepEqual(await up.json(), { status: "ok" });
    const head = await fetch(`${url}/healthz`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(touched, 0);
    assert.deepEqual(outcomes, []);
  });

  test("other methods and paths are still webhooks: POST /healthz is not a health check", async () => {
    const r = await fetch(`${url}/healthz`, { method: "POST", body: "{}" });
    assert.equal(r.status, 404);
    assert.deepEqual(outcomes, ["NOT_FOUND"]);
  });
});
