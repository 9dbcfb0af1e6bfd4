/**
 * Zoom, Twitch EventSub and Meta: each provider's known answer, and its
 * endpoint check through the real ingest listener and store. The documented
 * challenge request, signed as the provider signs it, gets the documented
 * answer; unsigned or wrongly signed it is refused; none becomes an event.
 *
 * None of the three publishes an npm library that signs or verifies, so the
 * vectors are computed from each provider's documented algorithm with
 * `openssl dgst -sha256 -hmac` (an implementation independent of ours), from
 * the documented example bodies where the documentation has one:
 *   Zoom   https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
 *          https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint
 *   Twitch https://dev.twitch.tv/docs/eventsub/handling-webhook-events/
 *   Meta   https://developers.facebook.com/docs/graph-api/webhooks/getting-started
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { startTestIngest, type TestIngest } from "../ingester/testing.ts";
import { getScheme } from "../schemes/index.ts";
import type { SchemeName, SourceSnapshot } from "../types.ts";
import { meta } from "./meta.ts";
import { twitch } from "./twitch.ts";
import { zoom } from "./zoom.ts";

const ZOOM = {
  secret: "zoomSecretToken123",
  timestamp: "1700000000",
  // Zoom's documented validation request, with its documented plainToken.
  body: '{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1700000000000}',
  signature: "v0=8e45db60e985a8af231130fe0e4ebb1cae6a84b3ab77d977e493c58da9c40e3b",
  plainToken: "qgg8vlvZRS6UYooatFL8Aw",
  encryptedToken: "0c37a0aa8f1125f70a0f4c3d75d418fc2345d4e6ae3512a77927d5a3857980fb",
};

const TWITCH = {
  secret: "s3cRe7-twitch-example",
  id: "e76c6bd4-55c9-4987-8304-da1588d8988b",
  timestamp: "2023-11-14T22:13:20.123456789Z",
  // Twitch's documented webhook_callback_verification body.
  body: '{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"2","cost":1,"condition":{"broadcaster_user_id":"12826","moderator_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}',
  signature: "sha256=01433b6103ebc2b757e23d8ea393fc7c026a58260ecb6af5edcbf1c48171c83d",
  challenge: "pogchamp-kappa-360noscope-vohiyo",
};

const META = {
  secret: "meta-app-secret-0123456789abcdef",
  body: '{"object":"page","entry":[{"id":"0","time":1700000000,"changes":[{"field":"feed","value":{"item":"status","verb":"add"}}]}]}',
  signature: "sha256=7914f5359a29420337cb2e71f833413a592222883ba903e217d46fd008154386",
  verifyToken: "meatyhamhock-0123456789",
};

const at = (seconds: number) => new Date(seconds * 1000);
const verifyInput = (headers: Record<string, string>, body: string, secret: string, now: Date) => ({
  headers,
  body: Buffer.from(body),
  secrets: [secret],
  settings: {},
  now,
  toleranceSeconds: 300,
});

describe("known answers", () => {
  test("Zoom: the documented v0 signature verifies, sign() reproduces it, and the url_validation answer is its token HMAC", () => {
    const headers = { "x-zm-signature": ZOOM.signature, "x-zm-request-timestamp": ZOOM.timestamp };
    const now = at(Number(ZOOM.timestamp));
    assert.ok(zoom.verify(verifyInput(headers, ZOOM.body, ZOOM.secret, now)).ok);
    assert.deepEqual(zoom.sign({ secret: ZOOM.secret, body: Buffer.from(ZOOM.body), now }), headers);
    const h = zoom.handshake?.({
      ...verifyInput(headers, ZOOM.body, ZOOM.secret, now),
      method: "POST",
      query: new URLSearchParams(),
    });
    assert.ok(h && "answer" in h);
    assert.deepEqual(JSON.parse(h.answer.body), {
      plainToken: ZOOM.plainToken,
      encryptedToken: ZOOM.encryptedToken,
    });
  });

  test("Twitch: the signature over id + timestamp + body verifies, sign() reproduces it, and the message id is the idempotency key", () => {
    const headers = {
      "twitch-eventsub-message-id": TWITCH.id,
      "twitch-eventsub-message-timestamp": TWITCH.timestamp,
      "twitch-eventsub-message-signature": TWITCH.signature,
      "twitch-eventsub-message-type": "webhook_callback_verification",
    };
    const now = new Date(TWITCH.timestamp);
    const r = twitch.verify(verifyInput(headers, TWITCH.body, TWITCH.secret, now));
    assert.ok(r.ok);
    assert.equal(r.value.deliveryId, TWITCH.id);
    assert.equal(r.value.deliveryIdSigned, true);
    // sign() writes milliseconds; Twitch's nanoseconds are the same instant to the second the window checks.
    const signed = twitch.sign({ secret: TWITCH.secret, body: Buffer.from(TWITCH.body), now, id: TWITCH.id });
    const expected = createHmac("sha256", TWITCH.secret)
      .update(TWITCH.id + signed["twitch-eventsub-message-timestamp"]! + TWITCH.body)
      .digest("hex");
    assert.equal(signed["twitch-eventsub-message-signature"], `sha256=${expected}`);
    const facts = twitch.describe({ headers, body: Buffer.from(TWITCH.body), json: JSON.parse(TWITCH.body) });
    assert.equal(facts.idempotencyKey, TWITCH.id);
    // The id is signed: another id under the same signature fails.
    const moved = { ...headers, "twitch-eventsub-message-id": "f76c6bd4-55c9-4987-8304-da1588d8988b" };
    assert.equal(twitch.verify(verifyInput(moved, TWITCH.body, TWITCH.secret, now)).ok, false);
  });

  test("Meta: X-Hub-Signature-256 over the body verifies and sign() reproduces it", () => {
    const headers = { "x-hub-signature-256": META.signature };
    assert.ok(meta.verify(verifyInput(headers, META.body, META.secret, new Date())).ok);
    assert.deepEqual(
      meta.sign({ secret: META.secret, body: Buffer.from(META.body), now: new Date() }),
      headers,
    );
    const facts = meta.describe({ headers, body: Buffer.from(META.body), json: JSON.parse(META.body) });
    assert.deepEqual(facts, { type: "com.meta.page.feed", subject: "0" });
  });

  test("Meta: a source without a verify token, or a short one, is refused naming the field", () => {
    for (const settings of [{}, { verify_token: "short" }, { verify_token: "has spaces in it, sixteen+" }]) {
      const r = meta.settings.safeParse(settings);
      assert.equal(r.success, false);
      assert.deepEqual(r.error?.issues[0]?.path, ["verify_token"]);
    }
  });
});

describe("endpoint checks through the ingest listener", () => {
  let ingest: TestIngest;
  const outcomes: string[] = [];

  before(async () => {
    ingest = await startTestIngest({ onOutcome: (o) => outcomes.push(o) });
  });
  after(async () => {
    await ingest?.close();
  });

  const sourceOf = (scheme: SchemeName, secrets: string[], settings: Record<string, unknown> = {}) =>
    ingest.source(`${scheme} handshake`, secrets, {
      scheme,
      settings: getScheme(scheme).settings.parse(settings),
      contentTypes: ["application/json"],
    });

  async function send(
    source: SourceSnapshot,
    opts: { method?: string; headers?: Record<string, string>; body?: string; query?: string },
  ) {
    const method = opts.method ?? "POST";
    const res = await fetch(`${ingest.url}/e/${source.id}${opts.query ?? ""}`, {
      method,
      headers: { ...(method === "POST" ? { "content-type": "application/json" } : {}), ...opts.headers },
      ...(method === "POST" ? { body: opts.body ?? "" } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text };
  }

  const eventsOf = async (source: SourceSnapshot) =>
    (await ingest.t.admin<{ type: string }>("select type from events where source_id = $1", [source.id])).map(
      (r) => r.type,
    );

  test("Zoom endpoint.url_validation, signed, gets {plainToken, encryptedToken} from the secret that signed it", async () => {
    const old = "zoomOldSecretToken99";
    const zm = await sourceOf("zoom", [ZOOM.secret, old]);
    const now = new Date();
    const signedBy = (secret: string) => zoom.sign({ secret, body: Buffer.from(ZOOM.body), now });
    const before = outcomes.length;
    for (const secret of [ZOOM.secret, old]) {
      const r = await send(zm, { headers: signedBy(secret), body: ZOOM.body });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get("content-type"), "application/json");
      const expected = createHmac("sha256", secret).update(ZOOM.plainToken).digest("hex");
      assert.deepEqual(JSON.parse(r.text), { plainToken: ZOOM.plainToken, encryptedToken: expected });
    }
    assert.deepEqual(outcomes.slice(before), ["handshake", "handshake"]);

    const unsigned = await send(zm, { body: ZOOM.body });
    assert.equal(unsigned.status, 401, unsigned.text);
    const wrong = await send(zm, { headers: signedBy("not the secret token"), body: ZOOM.body });
    assert.equal(wrong.status, 401, wrong.text);
    assert.equal(JSON.parse(wrong.text).error.details.reason, "bad_signature");
    // The documented request as captured in 2023: its timestamp is long past the tolerance.
    const replayed = await send(zm, {
      headers: { "x-zm-signature": ZOOM.signature, "x-zm-request-timestamp": ZOOM.timestamp },
      body: ZOOM.body,
    });
    assert.equal(replayed.status, 401, replayed.text);
    assert.equal(JSON.parse(replayed.text).error.details.reason, "stale");
    assert.deepEqual(await eventsOf(zm), [], "no check became an event");

    // An event is still an event: signed, stored with Zoom's type.
    const event = zoom.provider.sample.body;
    const ok = await send(zm, {
      headers: zoom.sign({ secret: ZOOM.secret, body: Buffer.from(event), now }),
      body: event,
    });
    assert.equal(ok.status, 202, ok.text);
    assert.deepEqual(await eventsOf(zm), ["com.zoom.meeting.started"]);
  });

  test("Twitch webhook_callback_verification, signed, is answered with the raw challenge as text/plain; notifications and revocations are events", async () => {
    const tw = await sourceOf("twitch", [TWITCH.secret]);
    const now = new Date();
    const signed = (body: string, type: string, id = crypto.randomUUID(), secret = TWITCH.secret) => ({
      ...twitch.sign({ secret, body: Buffer.from(body), now, id }),
      "twitch-eventsub-message-type": type,
    });
    const ok = await send(tw, {
      headers: signed(TWITCH.body, "webhook_callback_verification"),
      body: TWITCH.body,
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.text, TWITCH.challenge);
    assert.equal(ok.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(ok.headers.get("x-content-type-options"), "nosniff");

    const unsigned = await send(tw, {
      headers: { "twitch-eventsub-message-type": "webhook_callback_verification" },
      body: TWITCH.body,
    });
    assert.equal(unsigned.status, 401, unsigned.text);
    const wrong = await send(tw, {
      headers: signed(TWITCH.body, "webhook_callback_verification", undefined, "another-secret-1"),
      body: TWITCH.body,
    });
    assert.equal(wrong.status, 401, wrong.text);
    const markup = TWITCH.body.replace(TWITCH.challenge, "<img src=x onerror=alert(1)>");
    const bad = await send(tw, { headers: signed(markup, "webhook_callback_verification"), body: markup });
    assert.equal(bad.status, 400, bad.text);
    assert.deepEqual(await eventsOf(tw), [], "no check became an event");

    const sample = twitch.provider.sample.body;
    const id = crypto.randomUUID();
    const first = await send(tw, { headers: signed(sample, "notification", id), body: sample });
    assert.equal(first.status, 202, first.text);
    // Twitch resends a message it got no 2xx for under the same id: the first event.
    const resent = await send(tw, { headers: signed(sample, "notification", id), body: sample });
    assert.equal(resent.status, 202, resent.text);
    assert.deepEqual(JSON.parse(resent.text), { id: JSON.parse(first.text).id, duplicate: true });
    const revocation =
      '{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"authorization_revoked","type":"channel.follow","version":"2","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}';
    const revoked = await send(tw, { headers: signed(revocation, "revocation"), body: revocation });
    assert.equal(revoked.status, 202, revoked.text);
    assert.deepEqual((await eventsOf(tw)).sort(), ["com.twitch.channel.follow", "com.twitch.revocation"]);
  });

  test("Meta's GET hub.challenge is answered only for the source's verify token; a signed notification is an event", async () => {
    const mt = await sourceOf("meta", [META.secret], { verify_token: META.verifyToken });
    // Meta's documented check: hub.mode, hub.challenge, hub.verify_token in the query.
    const query = (token: string, challenge = "1158201444") =>
      `?hub.mode=subscribe&hub.challenge=${challenge}&hub.verify_token=${encodeURIComponent(token)}`;
    const before = outcomes.length;
    const ok = await send(mt, { method: "GET", query: query(META.verifyToken) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.text, "1158201444");
    assert.equal(ok.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(ok.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(outcomes.slice(before), ["handshake"]);

    for (const q of [
      query("meatyhamhock-wrong-token"),
      query(`${META.verifyToken}x`),
      "?hub.mode=subscribe&hub.challenge=1158201444",
      `${query(META.verifyToken)}&hub.verify_token=${META.verifyToken}`,
    ]) {
      const r = await send(mt, { method: "GET", query: q });
      assert.equal(r.status, 401, `${q}: ${r.text}`);
      assert.equal(JSON.parse(r.text).error.details.reason, "wrong_verify_token");
    }
    const markup = await send(mt, { method: "GET", query: query(META.verifyToken, "%3Cscript%3E") });
    assert.equal(markup.status, 400, markup.text);
    // Not Meta's check (no hub.mode=subscribe): refused as any GET.
    assert.equal((await send(mt, { method: "GET", query: "?hub.challenge=1" })).status, 405);
    // Meta's check has no body: a GET carrying one is not read past its declared length.
    const withBody = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${ingest.url}/e/${mt.id}${query(META.verifyToken)}`,
        { method: "GET", headers: { "content-length": "5" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end("hello");
    });
    assert.equal(withBody, 413);
    assert.deepEqual(await eventsOf(mt), [], "no check became an event");

    const unsigned = await send(mt, { body: META.body });
    assert.equal(unsigned.status, 401, unsigned.text);
    const signed = await send(mt, { headers: { "x-hub-signature-256": META.signature }, body: META.body });
    assert.equal(signed.status, 202, signed.text);
    assert.deepEqual(await eventsOf(mt), ["com.meta.page.feed"]);
  });

  test("a provider's check sent to a source of another provider is just a request, refused when it does not verify", async () => {
    const sl = await sourceOf("slack", [TWITCH.secret]);
    const twitchCheck = await send(sl, {
      headers: {
        ...twitch.sign({ secret: TWITCH.secret, body: Buffer.from(TWITCH.body), now: new Date() }),
        "twitch-eventsub-message-type": "webhook_callback_verification",
      },
      body: TWITCH.body,
    });
    assert.equal(twitchCheck.status, 401, twitchCheck.text);
    const metaCheck = await send(sl, {
      method: "GET",
      query: "?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x",
    });
    assert.equal(metaCheck.status, 405, metaCheck.text);
    const zm = await sourceOf("zoom", [ZOOM.secret]);
    const onZoom = await send(zm, {
      method: "GET",
      query: "?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x",
    });
    assert.equal(onZoom.status, 405);
    assert.deepEqual([...(await eventsOf(sl)), ...(await eventsOf(zm))], []);
  });
});
