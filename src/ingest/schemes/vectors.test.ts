/**
 * Known answers from shared/test-vectors (provider docs and the Standard
 * Webhooks reference libraries), verified through the registry.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { vectors } from "../../../test/support/vectors.ts";
import type { VerifyResult } from "../types.ts";
import { SCHEMES } from "./index.ts";

interface SwCase {
  secret: string;
  id: string;
  timestamp: string;
  body: string;
  signature: string;
}

const sw: SwCase[] = vectors.standard_webhooks.cases;
const at = (unix: string, plusSeconds = 0) => new Date((Number(unix) + plusSeconds) * 1000);
const reason = (r: VerifyResult) => (r.ok ? "ok" : r.reason);

function verifySw(c: SwCase, signature: string, now = at(c.timestamp)): VerifyResult {
  return SCHEMES["standard-webhooks"].verify({
    headers: { "webhook-id": c.id, "webhook-timestamp": c.timestamp, "webhook-signature": signature },
    body: Buffer.from(c.body),
    secrets: [c.secret],
    settings: {},
    now,
    toleranceSeconds: 300,
  });
}

test("Standard Webhooks reference cases verify, and signing reproduces them", () => {
  assert.ok(sw.length >= 2);
  for (const c of sw) {
    const r = verifySw(c, c.signature);
    assert.ok(r.ok, reason(r));
    assert.equal(r.value.deliveryId, c.id);
    assert.equal(r.value.signature, c.signature);
    assert.deepEqual(r.value.timestamp, at(c.timestamp));
    const headers = SCHEMES["standard-webhooks"].sign({
      secret: c.secret,
      body: Buffer.from(c.body),
      now: at(c.timestamp),
      id: c.id,
    });
    assert.equal(headers["webhook-signature"], c.signature);
  }
});

test("Standard Webhooks must_fail: a changed last character, a moved clock, only unknown versions, truncation", () => {
  const c = sw[0]!;
  const changed = c.signature.replace(/E=$/, "A=");
  assert.notEqual(changed, c.signature);
  assert.ok(changed.endsWith("1OA="));
  assert.equal(reason(verifySw(c, changed)), "bad_signature");
  assert.equal(reason(verifySw(c, c.signature, at(c.timestamp, 301))), "stale");
  assert.equal(reason(verifySw(c, c.signature, at(c.timestamp, -301))), "future");
  assert.equal(reason(verifySw(c, c.signature.replace(/^v1,/, "v2,"))), "bad_signature");
  assert.equal(reason(verifySw(c, `v2,AAAA ${c.signature.replace(/^v1,/, "v2,")}`)), "bad_signature");
  for (const cut of [1, 2, 10, c.signature.length - 4]) {
    assert.equal(verifySw(c, c.signature.slice(0, -cut)).ok, false, `cut ${cut}`);
  }
});

test("Standard Webhooks must_pass: unknown versions before a valid v1 are skipped", () => {
  const c = sw[0]!;
  assert.equal(vectors.standard_webhooks.must_pass.length, 1);
  const r = verifySw(c, `v2,AAAA ${c.signature}`);
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.signature, c.signature);
});

test("GitHub's documented example verifies and signing reproduces its header", () => {
  for (const c of vectors.github.cases as { secret: string; body: string; header: string }[]) {
    const r = SCHEMES.github.verify({
      headers: { "x-hub-signature-256": c.header },
      body: Buffer.from(c.body),
      secrets: [c.secret],
      settings: {},
      now: new Date(),
      toleranceSeconds: 300,
    });
    assert.ok(r.ok, reason(r));
    assert.equal(r.value.signature, c.header);
    const signed = SCHEMES.github.sign({ secret: c.secret, body: Buffer.from(c.body), now: new Date() });
    assert.equal(signed["x-hub-signature-256"], c.header);
  }
});

test("Slack's documented example verifies with the clock at its timestamp, and not 301 s later", () => {
  for (const c of vectors.slack.cases as {
    secret: string;
    timestamp: string;
    body: string;
    header: string;
  }[]) {
    const verify = (now: Date) =>
      SCHEMES.slack.verify({
        headers: { "x-slack-signature": c.header, "x-slack-request-timestamp": c.timestamp },
        body: Buffer.from(c.body),
        secrets: [c.secret],
        settings: {},
        now,
        toleranceSeconds: 300,
      });
    const r = verify(at(c.timestamp));
    assert.ok(r.ok, reason(r));
    assert.equal(r.value.signature, c.header);
    assert.equal(reason(verify(at(c.timestamp, 301))), "stale");
    assert.equal(reason(verify(at(c.timestamp, -301))), "future");
    const signed = SCHEMES.slack.sign({ secret: c.secret, body: Buffer.from(c.body), now: at(c.timestamp) });
    assert.equal(signed["x-slack-signature"], c.header);
    const facts = SCHEMES.slack.describe({ headers: {}, body: Buffer.from(c.body), json: undefined });
    assert.equal(facts.type, "com.slack.command");
    assert.equal(facts.subject, "T1DC2JH3J");
  }
});
