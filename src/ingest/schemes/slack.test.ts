import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { SCHEMES } from "./index.ts";
import { check, NOW_UNIX, reason } from "./schemes.test-support.ts";

const SECRET = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const EVENT = {
  token: "x",
  team_id: "T061EG9R6",
  type: "event_callback",
  event: { type: "app_mention", text: "hi" },
  event_id: "Ev0PV52K21",
  event_time: 1_700_000_000,
};
const BODY = Buffer.from(JSON.stringify(EVENT));

/** Slack's documented basestring, independent of the scheme's code. */
const sig = (ts: number, body = BODY) =>
  `v0=${createHmac("sha256", SECRET)
    .update(`v0:${ts}:${body.toString("utf8")}`)
    .digest("hex")}`;

const verify = (ts: number, signature = sig(ts)) =>
  check("slack", {
    headers: { "x-slack-signature": signature, "x-slack-request-timestamp": String(ts) },
    secrets: [SECRET],
    body: BODY,
  });

test("accepts a request signed as Slack documents, with event_id as delivery id", () => {
  const r = verify(NOW_UNIX);
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.deliveryId, "Ev0PV52K21");
  assert.equal(r.value.signature, sig(NOW_UNIX));
});

test("rejects a Slack signature older than the tolerance", () => {
  assert.equal(reason(verify(NOW_UNIX - 301)), "stale");
  assert.equal(reason(verify(NOW_UNIX + 301)), "future");
});

test("upper-case hex verifies and the replay key is normalized to lower case", () => {
  const r = verify(NOW_UNIX, sig(NOW_UNIX).replace(/^v0=/, "").toUpperCase().replace(/^/, "v0="));
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.signature, sig(NOW_UNIX));
});

test("a timestamp that differs from the signed one fails", () => {
  const r = check("slack", {
    headers: { "x-slack-signature": sig(NOW_UNIX), "x-slack-request-timestamp": String(NOW_UNIX + 1) },
    secrets: [SECRET],
    body: BODY,
  });
  assert.equal(reason(r), "bad_signature");
});

test("describe: event callbacks by inner type, others by type, interactivity by payload type, slash commands", () => {
  const d = (body: string, json?: unknown) =>
    SCHEMES.slack.describe({ headers: {}, body: Buffer.from(body), json });
  const cb = d(BODY.toString(), EVENT);
  assert.deepEqual(cb, {
    type: "com.slack.app_mention",
    subject: "T061EG9R6",
    deliveryId: "Ev0PV52K21",
    idempotencyKey: "Ev0PV52K21",
    time: new Date(1_700_000_000 * 1000),
  });
  assert.equal(d("{}", { type: "url_verification", challenge: "c" }).type, "com.slack.url_verification");
  const payload = encodeURIComponent(JSON.stringify({ type: "block_actions", team: { id: "T9" } }));
  assert.deepEqual(d(`payload=${payload}`), { type: "com.slack.block_actions", subject: "T9" });
  assert.equal(d("command=%2Fdeploy&team_id=T1&text=now").type, "com.slack.command");
  assert.equal(d("").type, "com.slack.event");
});
