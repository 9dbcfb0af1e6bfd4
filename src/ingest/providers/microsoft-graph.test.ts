/**
 * Microsoft Graph change notifications: the documented notification and
 * validation request as known answers, the clientState checks a header
 * suite cannot reach (it is in the body), and both through the real ingest
 * listener and store.
 *
 * Microsoft publishes no npm library that checks a clientState or answers
 * the validation (its SDKs leave both to the application), so there is no
 * oracle: the vectors are the documented examples themselves, from
 * https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
 * ("Notification endpoint validation", "Change notification example") and
 * https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
 * (the reauthorizationRequired example, with a clientState filled in where
 * the documentation shows a placeholder).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ZenError } from "../../core/index.ts";
import { startTestIngest, type TestIngest } from "../ingester/testing.ts";
import { headerFailure } from "../schemes/precheck.ts";
import { checkCloudEventsMode, checkSecret } from "../sources/scheme-rules.ts";
import { sampleRequest } from "../sources/test-send.ts";
import type { SourceSnapshot, VerifyInput } from "../types.ts";
import { microsoftGraph as graph, MAX_CLIENT_STATE } from "./microsoft-graph.ts";

/** The documented change notification, verbatim but for the placeholders' braces (the ids are opaque to zenmesh). */
const DOCUMENTED =
  '{"value":[{"id":"lsgTZMr9KwAAA","subscriptionId":"subscription_guid","subscriptionExpirationDateTime":"2016-03-19T22:11:09.952Z","clientState":"secretClientValue","changeType":"created","resource":"users/user_guid@tenant_guid/messages/long_id_string","tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95","resourceData":{"@odata.type":"#Microsoft.Graph.Message","@odata.id":"Users/user_guid@tenant_guid/Messages/long_id_string","@odata.etag":"W/\\"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf\\"","id":"long_id_string"}}]}';
const CLIENT_STATE = "secretClientValue";
const LIFECYCLE =
  '{"value":[{"lifecycleEvent":"reauthorizationRequired","subscriptionId":"e1c1b0b0-5bc4-4a5a-9b5c-0f1f2a3b4c5d","subscriptionExpirationDateTime":"2019-09-18T00:00:00.0000000Z","clientState":"secretClientValue","tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}]}';
/** What Graph's validation tokens read like; Graph URL-encodes it into the query. */
const TOKEN =
  "Validation: Testing client application reachability for subscription Request-Id: 0c6c7e3a-1c4e-4a5f-8a42-7b1e9a1c0d2e";

const NOW = new Date("2026-03-01T12:00:00Z");
const input = (body: string, secrets: string[] = [CLIENT_STATE]): VerifyInput => ({
  headers: { "content-type": "application/json" },
  body: Buffer.from(body),
  secrets,
  settings: {},
  now: NOW,
  toleranceSeconds: 300,
});
const reason = (body: string, secrets?: string[]) => {
  const r = graph.verify(input(body, secrets));
  return r.ok ? "ok" : r.reason;
};
/** The documented body with its one item's clientState replaced (undefined: removed). */
const withState = (state: unknown) => {
  const json = JSON.parse(DOCUMENTED) as { value: Record<string, unknown>[] };
  if (state === undefined) delete json.value[0]!.clientState;
  else json.value[0]!.clientState = state;
  return JSON.stringify(json);
};
const batch = (...states: string[]) =>
  JSON.stringify({
    value: states.map((clientState, i) => ({
      subscriptionId: `sub-${i}`,
      clientState,
      changeType: "updated",
      resource: `me/events/${i}`,
    })),
  });

describe("known answers", () => {
  test("the documented notification verifies with its clientState and is typed and subjected as documented", () => {
    const r = graph.verify(input(DOCUMENTED));
    assert.ok(r.ok);
    // The replay key: the clientState is the same on every delivery, so it is keyed over the body.
    assert.equal(r.value.signature, createHmac("sha256", CLIENT_STATE).update(DOCUMENTED).digest("hex"));
    assert.equal(r.value.deliveryId, undefined, "Graph sends no delivery id");
    const facts = graph.describe({
      headers: {},
      body: Buffer.from(DOCUMENTED),
      json: JSON.parse(DOCUMENTED),
    });
    assert.deepEqual(facts, {
      type: "com.microsoft.graph.created",
      subject: "users/user_guid@tenant_guid/messages/long_id_string",
    });
    assert.equal(reason(DOCUMENTED, ["anotherClientValue"]), "bad_signature");
    assert.equal(reason(DOCUMENTED, []), "no_secret");
  });

  test("the documented lifecycle notification verifies alike and is typed by its lifecycleEvent", () => {
    assert.equal(reason(LIFECYCLE), "ok");
    assert.equal(reason(LIFECYCLE, ["anotherClientValue"]), "bad_signature");
    const facts = graph.describe({ headers: {}, body: Buffer.from(LIFECYCLE), json: JSON.parse(LIFECYCLE) });
    assert.deepEqual(facts, {
      type: "com.microsoft.graph.lifecycle.reauthorizationRequired",
      subject: "e1c1b0b0-5bc4-4a5a-9b5c-0f1f2a3b4c5d",
    });
  });

  test("the documented validation request is answered 200 text/plain with the decoded token, nosniff", () => {
    const query = new URLSearchParams(`validationToken=${encodeURIComponent(TOKEN)}`);
    const h = graph.handshake?.({ ...input(""), body: Buffer.alloc(0), method: "POST", query, secrets: [] });
    assert.ok(h && "answer" in h);
    assert.deepEqual(h.answer, {
      status: 200,
      headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
      body: TOKEN,
    });
  });

  test("signBody puts the secret in every item's clientState, and sign() sends no header", () => {
    const body = graph.signBody!({
      secret: "a-secret-of-sixteen",
      body: Buffer.from(batch("x", "y")),
      now: NOW,
    });
    const items = (JSON.parse(body.toString()) as { value: { clientState: string }[] }).value;
    assert.deepEqual(
      items.map((i) => i.clientState),
      ["a-secret-of-sixteen", "a-secret-of-sixteen"],
    );
    assert.deepEqual(graph.sign({ secret: "a-secret-of-sixteen", body, now: NOW }), {});
    assert.throws(() => graph.signBody!({ secret: "s", body: Buffer.from('{"id":1}'), now: NOW }));
  });

  test("a test send of the sample carries the source's secret as its clientState, and verifies", () => {
    const secret = graph.generateSecret();
    const { body, headers } = sampleRequest(graph, secret, {}, NOW, "https://hooks.example.com/e/src_1");
    assert.equal(headers["content-type"], "application/json");
    assert.equal(
      (JSON.parse(body.toString()) as { value: { clientState: string }[] }).value[0]!.clientState,
      secret,
    );
    assert.ok(graph.verify({ ...input(body.toString(), [secret]), headers }).ok);
  });

  test("a Graph source takes no CloudEvents mode: its clientState signs nothing of the body", () => {
    for (const mode of ["structured", "binary"] as const) {
      assert.throws(
        () => checkCloudEventsMode("microsoft-graph", mode),
        (err: unknown) => err instanceof ZenError && err.code === "CLOUDEVENTS_MODE_UNAUTHENTICATED",
      );
    }
  });

  test("generated secrets fit Graph's 128-character clientState, and the source's secret rule holds them", () => {
    const secret = graph.generateSecret();
    assert.ok(secret.length >= 16 && secret.length <= MAX_CLIENT_STATE);
    assert.equal(checkSecret("microsoft-graph", secret, "secret"), secret);
    for (const bad of ["short", "x".repeat(MAX_CLIENT_STATE + 1), "has a space in it, 16+"]) {
      assert.throws(() => checkSecret("microsoft-graph", bad, "secret"), bad);
    }
  });
});

describe("the clientState in the body", () => {
  test("a missing or empty clientState in any item is missing_signature", () => {
    assert.equal(reason(withState(undefined)), "missing_signature");
    assert.equal(reason(withState("")), "missing_signature");
    assert.equal(reason(withState(null)), "missing_signature");
    const json = JSON.parse(batch(CLIENT_STATE, CLIENT_STATE)) as { value: Record<string, unknown>[] };
    delete json.value[1]!.clientState;
    assert.equal(reason(JSON.stringify(json)), "missing_signature");
  });

  test("a clientState that is not a string, or longer than Graph allows, is malformed, never compared", () => {
    for (const state of [17, true, ["secretClientValue"], { v: 1 }, "x".repeat(MAX_CLIENT_STATE + 1)]) {
      assert.equal(reason(withState(state)), "malformed_signature", JSON.stringify(state).slice(0, 40));
    }
  });

  test("a body that is not a notification collection is malformed", () => {
    for (const body of [
      "",
      "[]",
      "{}",
      '{"value":[]}',
      '{"value":{}}',
      '{"value":["x"]}',
      "not json",
      '{"value":[1]}',
    ]) {
      assert.equal(reason(body), "malformed_signature", body);
    }
    const huge = JSON.stringify({
      value: Array.from({ length: 1001 }, () => ({ clientState: CLIENT_STATE })),
    });
    assert.equal(reason(huge), "malformed_signature");
  });

  test("every item must carry a live secret: one wrong item refuses the batch; items may span a rotation", () => {
    assert.equal(reason(batch(CLIENT_STATE, CLIENT_STATE)), "ok");
    assert.equal(reason(batch(CLIENT_STATE, "anotherClientValue")), "bad_signature");
    assert.equal(reason(batch("anotherClientValue", CLIENT_STATE)), "bad_signature");
    // Subscriptions created before and after a rotation share the URL: each item matches a live secret.
    assert.equal(reason(batch(CLIENT_STATE, "theNewClientValue"), ["theNewClientValue", CLIENT_STATE]), "ok");
    assert.equal(reason(batch(CLIENT_STATE, "theNewClientValue"), ["theNewClientValue"]), "bad_signature");
  });

  test("near misses of the secret are refused: case, prefix, extension, whitespace", () => {
    for (const state of ["SECRETCLIENTVALUE", "secretClientValu", `${CLIENT_STATE}x`, ` ${CLIENT_STATE}`]) {
      assert.equal(reason(withState(state)), "bad_signature", state);
    }
  });

  test("no header check refuses a Graph request before its body: the proof is in the body", () => {
    assert.equal(headerFailure("microsoft-graph", {}, {}, NOW, 300), undefined);
  });
});

describe("through the ingest listener", () => {
  let ingest: TestIngest;
  const outcomes: string[] = [];
  before(async () => {
    ingest = await startTestIngest({ onOutcome: (o) => outcomes.push(o) });
  });
  after(async () => {
    await ingest?.close();
  });

  const sourceOf = (secrets: string[], scheme: "microsoft-graph" | "slack" = "microsoft-graph") =>
    ingest.source(`${scheme} graph`, secrets, { scheme, settings: {}, contentTypes: ["application/json"] });
  const eventsOf = async (source: SourceSnapshot) =>
    (await ingest.t.admin<{ type: string }>("select type from events where source_id = $1", [source.id])).map(
      (r) => r.type,
    );
  async function post(source: SourceSnapshot, opts: { query?: string; body?: string; type?: string }) {
    const res = await fetch(`${ingest.url}/e/${source.id}${opts.query ?? ""}`, {
      method: "POST",
      headers: opts.type === undefined ? {} : { "content-type": opts.type },
      body: opts.body ?? "",
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
  const validation = (token: string) => `?validationToken=${encodeURIComponent(token)}`;

  test("Graph's validation request, with no body or an empty text/plain one, gets the token back; nothing is stored", async () => {
    const g = await sourceOf([CLIENT_STATE]);
    const start = outcomes.length;
    for (const type of [undefined, "text/plain; charset=utf-8"]) {
      const r = await post(g, { query: validation(TOKEN), ...(type === undefined ? {} : { type }) });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, TOKEN);
      assert.equal(r.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      assert.equal(r.headers.get("cache-control"), "no-store");
    }
    // `+` for a space, as form encoding writes it, decodes alike.
    const plus = await post(g, {
      query: `?validationToken=${TOKEN.replaceAll(" ", "+").replaceAll(":", "%3A")}`,
    });
    assert.equal(plus.text, TOKEN);
    assert.deepEqual(outcomes.slice(start), ["handshake", "handshake", "handshake"]);

    // Reflected text: markup, a second token, an oversized one, or a body are refused, never echoed.
    for (const q of [
      validation("<script>alert(1)</script>"),
      validation("line\r\nbreak"),
      validation("x".repeat(1025)),
      `${validation(TOKEN)}&validationToken=other`,
      "?validationToken=",
    ]) {
      const r = await post(g, { query: q });
      assert.equal(r.status, 400, `${q.slice(0, 60)}: ${r.text}`);
      assert.ok(!r.text.includes("<script>"));
    }
    const withBody = await post(g, { query: validation(TOKEN), type: "application/json", body: DOCUMENTED });
    assert.equal(withBody.status, 400, withBody.text);
    assert.deepEqual(await eventsOf(g), [], "no check became an event");
  });

  test("a notification with the source's clientState is stored; a retry of it answers the first id", async () => {
    const g = await sourceOf([CLIENT_STATE]);
    const first = await post(g, { type: "application/json", body: DOCUMENTED });
    assert.equal(first.status, 202, first.text);
    const id = (JSON.parse(first.text) as { id: string }).id;
    assert.match(id, /^evt_/);
    // Graph retries the same body: the same replay key, so the first event, and nothing new.
    const retry = await post(g, { type: "application/json", body: DOCUMENTED });
    assert.equal(retry.status, 202, retry.text);
    assert.deepEqual(JSON.parse(retry.text), { id, duplicate: true });
    const lifecycle = await post(g, { type: "application/json", body: LIFECYCLE });
    assert.equal(lifecycle.status, 202, lifecycle.text);
    assert.deepEqual((await eventsOf(g)).sort(), [
      "com.microsoft.graph.created",
      "com.microsoft.graph.lifecycle.reauthorizationRequired",
    ]);
  });

  test("a wrong or missing clientState, or a batch with one wrong item, is refused 401 and nothing is stored", async () => {
    const g = await sourceOf([CLIENT_STATE]);
    const cases: [string, string][] = [
      [withState("anotherClientValue"), "bad_signature"],
      [withState(undefined), "missing_signature"],
      [batch(CLIENT_STATE, "anotherClientValue"), "bad_signature"],
      [batch("anotherClientValue", CLIENT_STATE), "bad_signature"],
      ['{"value":[]}', "malformed_signature"],
    ];
    for (const [body, why] of cases) {
      const r = await post(g, { type: "application/json", body });
      assert.equal(r.status, 401, r.text);
      const error = (JSON.parse(r.text) as { error: { code: string; details: { reason: string } } }).error;
      assert.equal(error.code, "SIGNATURE_INVALID");
      assert.equal(error.details.reason, why);
    }
    assert.deepEqual(await eventsOf(g), []);
  });

  test("Graph's validation request sent to a source of another provider is not answered", async () => {
    const sl = await sourceOf(["slack-signing-secret"], "slack");
    const r = await post(sl, { query: validation(TOKEN) });
    assert.notEqual(r.status, 200);
    assert.ok(!r.text.includes(TOKEN));
    assert.deepEqual(await eventsOf(sl), []);
  });
});
