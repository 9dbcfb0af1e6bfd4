/**
 * What a provider's retry gets, and its endpoint check, through the real
 * ingest listener, the sources API, the store and the database (both
 * drivers): GitHub's Redeliver, a Stripe retry and a Slack retry are answered
 * 2xx with the first event's id and store nothing; a stale signature or a
 * different body under a reused id is still refused. GitHub's default form
 * encoding is accepted and stored as its JSON payload. Slack's
 * url_verification is answered only when signed, and never stored. The
 * requests are signed by the providers' own libraries where they publish one
 * (Stripe, Octokit, Standard Webhooks), and by Slack's documented algorithm.
 */
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { sign as octokitSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { DRIVERS, skipReason, type TestDatabase } from "../../../test/support/db.ts";
import { fixedClock, newId } from "../../core/index.ts";
import type { StoredEventFacts } from "../store/persist.ts";
import type { SchemeName } from "../types.ts";
import { type ApiIngest, startApiIngest } from "./api-harness.ts";
import type { IngestServer } from "./server.ts";

const stripeLib = new Stripe("sk_test_unused");

// Slack's documented signing: v0=hex(HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + body)).
function slackHeaders(secret: string, body: string, at: Date): Record<string, string> {
  const ts = String(Math.floor(at.getTime() / 1000));
  const mac = createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex");
  return {
    "content-type": "application/json",
    "x-slack-request-timestamp": ts,
    "x-slack-signature": `v0=${mac}`,
  };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are narrowed by each assertion
  json: any;
}

for (const kind of DRIVERS) {
  describe(`redeliveries and handshakes on ${kind}`, { skip: skipReason(kind) }, () => {
    let h: ApiIngest;
    let t: TestDatabase;
    let server: IngestServer;
    const clock = fixedClock("2031-06-01T00:00:00Z");
    let stored: StoredEventFacts[] = [];
    const outcomes: string[] = [];

    before(async () => {
      h = await startApiIngest(kind, { name: "redeliveries", clock, onOutcome: (o) => outcomes.push(o) });
      ({ t, server, stored } = h);
    });
    after(async () => {
      await h?.close();
    });

    /** A source with default settings, made through the sources API and pushed as the backend would. */
    const source = (scheme: SchemeName, secret?: string) =>
      h.source(scheme, secret === undefined ? {} : { secret });

    async function send(
      sourceId: string,
      headers: Record<string, string>,
      body: string,
      method = "POST",
      query = "",
    ): Promise<Answer> {
      const res = await fetch(`${server.url}/e/${sourceId}${query}`, {
        method,
        headers,
        ...(method === "GET" ? {} : { body }),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    }

    async function eventsOf(sourceId: string): Promise<string[]> {
      const rows = await t.admin<{ id: string }>(
        "select id from events where source_id = $1 order by received_at, id",
        [sourceId],
      );
      return rows.map((r) => r.id);
    }

    test("GitHub Redeliver (same X-GitHub-Delivery, same body) answers 202 with the first id, inside and past the replay window", async () => {
      const gh = await source("github");
      const body = JSON.stringify({ action: "opened", issue: { number: 1 }, n: newId("event") });
      const headers = {
        "content-type": "application/json",
        "x-github-event": "issues",
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": await octokitSign(gh.secret, body),
      };
      const first = await send(gh.id, headers, body);
      assert.equal(first.status, 202, first.text);
      for (const step of [60_000, 3_600_000, 2 * 86_400_000]) {
        clock.advance(step);
        const again = await send(gh.id, headers, body);
        assert.equal(again.status, 202, again.text);
        assert.deepEqual(again.json, { id: first.json.id, duplicate: true });
      }
      // The same delivery id with another (correctly signed) body is not that event: refused.
      const other = JSON.stringify({ action: "closed", n: newId("event") });
      const reused = await send(
        gh.id,
        { ...headers, "x-hub-signature-256": await octokitSign(gh.secret, other) },
        other,
      );
      assert.equal(reused.status, 409, reused.text);
      assert.equal(reused.json.error.code, "REPLAY_DETECTED");
      assert.deepEqual(await eventsOf(gh.id), [first.json.id]);
    });

    test("a Stripe retry (same event id, fresh t= and signature) answers 202 with the first id; a stale one and another body are refused", async () => {
      const st = await source("stripe");
      const event = { id: `evt_${newId("delivery").slice(4)}`, type: "invoice.paid", created: 1 };
      const body = JSON.stringify(event);
      const signed = (payload: string) => ({
        "content-type": "application/json",
        "stripe-signature": stripeLib.webhooks.generateTestHeaderString({
          payload,
          secret: st.secret,
          timestamp: Math.floor(clock.now().getTime() / 1000),
        }),
      });
      const first = await send(st.id, signed(body), body);
      assert.equal(first.status, 202, first.text);
      clock.advance(90_000);
      const retry = signed(body);
      const again = await send(st.id, retry, body);
      assert.equal(again.status, 202, again.text);
      assert.deepEqual(again.json, { id: first.json.id, duplicate: true });
      // Stripe retries for days: an hour later the event id still names the first event.
      clock.advance(3_600_000);
      const later = await send(st.id, signed(body), body);
      assert.deepEqual(later.json, { id: first.json.id, duplicate: true });

      // The retry's signature, presented past the tolerance: stale, whatever the event id.
      clock.advance(301_000);
      const stale = await send(st.id, retry, body);
      assert.equal(stale.status, 401, stale.text);
      assert.equal(stale.json.error.details.reason, "stale");
      const changed = JSON.stringify({ ...event, type: "invoice.voided" });
      const reused = await send(st.id, signed(changed), changed);
      assert.equal(reused.status, 409, reused.text);
      assert.equal(reused.json.error.code, "REPLAY_DETECTED");
      assert.deepEqual(await eventsOf(st.id), [first.json.id]);
    });

    test("a Slack retry (X-Slack-Retry-Num, fresh timestamp) answers 202 with the first id; a stale one is refused", async () => {
      const sl = await source("slack");
      const body = JSON.stringify({
        type: "event_callback",
        team_id: "T1",
        event_id: `Ev${newId("delivery").slice(4)}`,
        event_time: 1,
        event: { type: "app_mention", text: "hi" },
      });
      const first = await send(sl.id, slackHeaders(sl.secret, body, clock.now()), body);
      assert.equal(first.status, 202, first.text);
      clock.advance(60_000);
      const retry = {
        ...slackHeaders(sl.secret, body, clock.now()),
        "x-slack-retry-num": "1",
        "x-slack-retry-reason": "http_timeout",
      };
      const again = await send(sl.id, retry, body);
      assert.equal(again.status, 202, again.text);
      assert.deepEqual(again.json, { id: first.json.id, duplicate: true });
      clock.advance(400_000);
      const stale = await send(sl.id, retry, body);
      assert.equal(stale.status, 401, stale.text);
      assert.equal(stale.json.error.details.reason, "stale");
      assert.deepEqual(await eventsOf(sl.id), [first.json.id]);
    });

    test("a Standard Webhooks retry (same webhook-id, new timestamp) answers 202 with the first id", async () => {
      const sw = await source("standard-webhooks");
      const signer = new Webhook(sw.secret);
      const body = JSON.stringify({ type: "invoice.paid", data: { n: newId("event") } });
      const id = `msg_${newId("delivery").slice(4)}`;
      const signed = () => ({
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(clock.now().getTime() / 1000)),
        "webhook-signature": signer.sign(id, clock.now(), body),
      });
      const first = await send(sw.id, signed(), body);
      assert.equal(first.status, 202, first.text);
      clock.advance(30_000);
      const again = await send(sw.id, signed(), body);
      assert.deepEqual(again.json, { id: first.json.id, duplicate: true });
      assert.deepEqual(await eventsOf(sw.id), [first.json.id]);
      assert.ok(outcomes.includes("duplicate"), "the ingester counts duplicates among its outcomes");
    });

    test("a GitHub source with default settings takes GitHub's form encoding and stores the JSON payload as application/json", async () => {
      const gh = await source("github");
      const payload = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1, n: newId("event") });
      const form = `payload=${encodeURIComponent(payload)}`;
      const headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-github-event": "ping",
        "x-github-delivery": randomUUID(),
        // GitHub signs the raw form body it sends.
        "x-hub-signature-256": await octokitSign(gh.secret, form),
      };
      const first = await send(gh.id, headers, form);
      assert.equal(first.status, 202, first.text);
      const event = stored.find((e) => e.eventId === first.json.id);
      assert.ok(event, "handed to delivery");
      assert.equal(event.item.contentType, "application/json");
      assert.equal(event.item.body.toString("utf8"), payload);
      assert.equal(event.item.type, "com.github.ping");
      const [row] = await t.admin<{ datacontenttype: string }>(
        "select datacontenttype from events where id = $1",
        [first.json.id],
      );
      assert.equal(row?.datacontenttype, "application/json");

      // Redelivered form-encoded, or the same event sent as JSON with its own signature: the first event.
      clock.advance(10_000);
      assert.deepEqual((await send(gh.id, headers, form)).json, { id: first.json.id, duplicate: true });

      // Signed over the decoded JSON instead of the form: not what GitHub signs, refused.
      const wrong = await send(
        gh.id,
        {
          ...headers,
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": await octokitSign(gh.secret, payload),
        },
        form,
      );
      assert.equal(wrong.status, 401, wrong.text);
      // Signed, but not GitHub's shape: no payload field, extra fields, a payload that is not JSON.
      for (const bad of ["zen=1", `payload=${encodeURIComponent(payload)}&more=1`, "payload=%7Bnot%20json"]) {
        const r = await send(
          gh.id,
          {
            ...headers,
            "x-github-delivery": randomUUID(),
            "x-hub-signature-256": await octokitSign(gh.secret, bad),
          },
          bad,
        );
        assert.equal(r.status, 400, `${bad}: ${r.text}`);
        assert.equal(r.json.error.code, "MALFORMED_REQUEST");
      }
      assert.deepEqual(await eventsOf(gh.id), [first.json.id]);
    });

    test("Slack url_verification, signed, is answered with its challenge and never stored; unsigned or wrongly signed, 401", async () => {
      const sl = await source("slack");
      const challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
      // Slack's documented example request (https://api.slack.com/events/url_verification).
      const body = JSON.stringify({
        token: "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        challenge,
        type: "url_verification",
      });
      const before = outcomes.length;
      const ok = await send(sl.id, slackHeaders(sl.secret, body, clock.now()), body);
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, { challenge });
      assert.equal(ok.headers.get("content-type"), "application/json");
      assert.equal(ok.headers.get("x-content-type-options"), "nosniff");
      assert.deepEqual(outcomes.slice(before), ["handshake"]);

      const unsigned = await send(sl.id, { "content-type": "application/json" }, body);
      assert.equal(unsigned.status, 401, unsigned.text);
      assert.equal(unsigned.json.error.code, "SIGNATURE_INVALID");
      const wrong = await send(sl.id, slackHeaders("not-the-signing-secret", body, clock.now()), body);
      assert.equal(wrong.status, 401, wrong.text);
      assert.equal(wrong.json.error.details.reason, "bad_signature");
      assert.equal(outcomes.at(-1), "handshake_refused");
      const stale = await send(
        sl.id,
        slackHeaders(sl.secret, body, new Date(clock.now().getTime() - 600_000)),
        body,
      );
      assert.equal(stale.status, 401, stale.text);

      // A signed challenge that is not Slack's alphabet is not reflected.
      const html = JSON.stringify({ challenge: "<script>alert(1)</script>", type: "url_verification" });
      const reflected = await send(sl.id, slackHeaders(sl.secret, html, clock.now()), html);
      assert.equal(reflected.status, 400, reflected.text);
      assert.ok(!reflected.text.includes("<script>"));
      // A GET is not Slack's check: refused as before.
      assert.equal((await send(sl.id, {}, "", "GET")).status, 405);
      assert.deepEqual(await eventsOf(sl.id), [], "no handshake became an event");
    });

    test("a Slack source with default settings takes slash commands, form-encoded as Slack sends them", async () => {
      const sl = await source("slack");
      // Slack's documented slash command fields (https://api.slack.com/interactivity/slash-commands).
      const form = `token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&channel_id=C2147483705&user_id=U2147483697&command=%2Fweather&text=94070&trigger_id=${newId("delivery")}`;
      const headers = {
        ...slackHeaders(sl.secret, form, clock.now()),
        "content-type": "application/x-www-form-urlencoded",
      };
      const r = await send(sl.id, headers, form);
      assert.equal(r.status, 202, r.text);
      const event = stored.find((e) => e.eventId === r.json.id);
      assert.equal(event?.item.type, "com.slack.command");
      assert.equal(event?.item.contentType, "application/x-www-form-urlencoded");
      assert.equal(event?.item.body.toString("utf8"), form);
    });

    test("a url_verification body sent to a source of another provider is just a request: verified as that provider's, refused", async () => {
      const secret = "a shared secret of the two sources";
      const gh = await source("github", secret);
      const body = JSON.stringify({ challenge: "abc123", type: "url_verification" });
      const r = await send(gh.id, slackHeaders(secret, body, clock.now()), body);
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.error.details.reason, "missing_signature");
      assert.equal((await send(gh.id, {}, "", "GET", "?hub.mode=subscribe&hub.challenge=1")).status, 405);
      assert.deepEqual(await eventsOf(gh.id), []);
    });
  });
}
