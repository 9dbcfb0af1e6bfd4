/**
 * The HMAC engine and the entry format beyond what the providers exercise:
 * entries that cannot verify what they claim are refused when built, the
 * encodings and algorithms no shipped provider uses yet work, and the field
 * readers (JSON pointers, type parts, times) never trust or throw on garbage.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import type { VerifyResult } from "../types.ts";
import { type HmacEntry, hmacScheme } from "./engine-hmac.ts";
import { describeFacts, entryOf, jsonPointer, readTime, withMember } from "./entry.ts";
import { linear } from "./linear.ts";

const reason = (r: VerifyResult) => (r.ok ? "ok" : r.reason);
const NOW = new Date("2026-03-01T12:00:00Z");

const BASE: HmacEntry = {
  name: "generic-hmac",
  engine: "hmac",
  title: "Engine test",
  docs: "https://www.rfc-editor.org/rfc/rfc2104",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: "{}" },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-sig", format: { kind: "whole" } },
  template: "{body}",
  facts: { type: { prefix: "com.example", parts: [{ pointer: "/type" }] } },
  secret: { origin: "zenmesh", generate: () => "engine-test-secret" },
  examples: [
    {
      label: "unused",
      secret: "s",
      headers: {},
      body: "{}",
      now: NOW.toISOString(),
      expect: { ok: false, reason: "missing_signature" },
    },
  ],
};

test("entries that cannot verify what they claim are refused when built", () => {
  const broken: [Partial<HmacEntry>, RegExp][] = [
    [{ template: "{timestamp}" }, /\{body\} exactly once/],
    [{ template: "{body}{body}" }, /\{body\} exactly once/],
    [{ template: "{body}{nonce}" }, /unknown placeholder/],
    [{ template: "{timestamp}.{body}" }, /\{timestamp\} is signed exactly when/],
    [
      { timestamp: { from: { header: "x-ts" }, format: "unix-seconds" } },
      /\{timestamp\} is signed exactly when/,
    ],
    [
      { template: "{timestamp}.{body}", timestamp: { from: { field: true }, format: "unix-seconds" } },
      /fields format with a timestampKey/,
    ],
    [{ template: "{id}.{body}" }, /\{id\} needs a delivery id read from a header/],
    [{ examples: [] }, /needs a documented example/],
  ];
  for (const [change, message] of broken) {
    assert.throws(() => hmacScheme({ ...BASE, ...change }), message, JSON.stringify(change));
  }
});

test("SHA-512 in base64url with a prefix, signing a delivery id header and a timestamp header", () => {
  const scheme = hmacScheme({
    ...BASE,
    algorithm: "sha512",
    encoding: "base64url",
    signature: { header: "x-sig", format: { kind: "whole", prefix: "v1=" } },
    template: "{id}|{timestamp}|{body}",
    timestamp: { from: { header: "x-ts" }, format: "unix-seconds" },
    facts: { ...BASE.facts, deliveryId: { header: "x-id" } },
  });
  const body = Buffer.from('{"type":"a.b"}');
  const headers = scheme.sign({ secret: "k", body, now: NOW, id: "d-1" });
  const ts = String(NOW.getTime() / 1000);
  const mac = createHmac("sha512", "k").update(`d-1|${ts}|${body}`).digest("base64url");
  assert.deepEqual(headers, { "x-sig": `v1=${mac}`, "x-ts": ts, "x-id": "d-1" });
  const input = { headers, body, secrets: ["other", "k"], settings: {}, now: NOW, toleranceSeconds: 60 };
  const r = scheme.verify(input);
  assert.ok(r.ok, reason(r));
  assert.equal(r.value.signature, mac);
  assert.equal(r.value.deliveryIdSigned, true);
  assert.equal(reason(scheme.verify({ ...input, headers: { ...headers, "x-id": "d-2" } })), "bad_signature");
  assert.equal(
    reason(scheme.verify({ ...input, headers: { ...headers, "x-id": "" } })),
    "malformed_signature",
  );
  assert.equal(
    reason(scheme.verify({ ...input, headers: { ...headers, "x-sig": `v1=${mac}=` } })),
    "malformed_signature",
  );
  assert.equal(
    reason(scheme.verify({ ...input, headers: { ...headers, "x-sig": mac } })),
    "malformed_signature",
  );
  assert.equal(entryOf(scheme)?.engine, "hmac");
});

test("ISO 8601 timestamps in a header are signed as sent and checked against the window", () => {
  const scheme = hmacScheme({
    ...BASE,
    template: "{timestamp}\n{body}",
    timestamp: { from: { header: "x-date" }, format: "iso8601" },
  });
  const body = Buffer.from("{}");
  const headers = scheme.sign({ secret: "k", body, now: NOW });
  assert.equal(headers["x-date"], "2026-03-01T12:00:00Z");
  const input = { headers, body, secrets: ["k"], settings: {}, now: NOW, toleranceSeconds: 60 };
  assert.ok(scheme.verify(input).ok);
  assert.equal(reason(scheme.verify({ ...input, now: new Date(NOW.getTime() + 61_000) })), "stale");
  assert.equal(
    reason(scheme.verify({ ...input, headers: { ...headers, "x-date": "yesterday" } })),
    "malformed_signature",
  );
});

test("a fields header with more MACs than the cap, or none, is malformed; unknown keys are ignored", () => {
  const scheme = hmacScheme({
    ...BASE,
    signature: { header: "x-sig", format: { kind: "fields", separator: ",", macKey: "v1" } },
  });
  const body = Buffer.from("{}");
  const mac = createHmac("sha256", "k").update(body).digest("hex");
  const verify = (header: string) =>
    reason(
      scheme.verify({
        headers: { "x-sig": header },
        body,
        secrets: ["k"],
        settings: {},
        now: NOW,
        toleranceSeconds: 1,
      }),
    );
  assert.equal(verify(`v0=abc,v1=${mac}`), "ok");
  assert.equal(verify(`v0=abc`), "malformed_signature");
  assert.equal(verify(Array.from({ length: 9 }, () => `v1=${mac}`).join(",")), "malformed_signature");
  assert.equal(verify(`V1=${mac}`), "malformed_signature");
});

test("JSON pointers follow RFC 6901 over own properties and array indexes only", () => {
  const doc = JSON.parse('{"a/b":{"m~n":[10,{"x":1}]},"__proto__":{"polluted":true},"arr":[1,2]}');
  assert.equal(jsonPointer(doc, "/a~1b/m~0n/0"), 10);
  assert.equal(jsonPointer(doc, "/a~1b/m~0n/1/x"), 1);
  assert.equal(jsonPointer(doc, ""), doc);
  assert.equal(jsonPointer(doc, "a"), undefined);
  assert.equal(jsonPointer(doc, "/arr/01"), undefined);
  assert.equal(jsonPointer(doc, "/arr/-"), undefined);
  assert.equal(jsonPointer(doc, "/arr/length"), undefined);
  assert.equal(jsonPointer({}, "/constructor"), undefined);
  assert.equal(jsonPointer({}, "/toString"), undefined);
  assert.deepEqual(jsonPointer(doc, "/__proto__"), { polluted: true });
});

test("describe: a missing or unclean type part gives the provider's fallback type; ids and subjects are checked", () => {
  const facts = {
    type: { prefix: "com.example", parts: [{ header: "x-kind" }, { pointer: "/action" }] },
    subject: { pointer: "/subject" },
    deliveryId: { pointer: "/id" },
    time: { from: { pointer: "/at" }, format: "unix-milliseconds" as const },
  };
  assert.deepEqual(
    describeFacts(facts, { "x-kind": "repo:push" }, { action: "done", id: 42, at: 1772366400000 }),
    {
      type: "com.example.repo.push.done",
      deliveryId: "42",
      time: NOW,
    },
  );
  assert.equal(describeFacts(facts, {}, { action: "done" }).type, "com.example.event");
  assert.equal(describeFacts(facts, { "x-kind": "a b" }, { action: "done" }).type, "com.example.event");
  assert.equal(
    describeFacts(facts, { "x-kind": "ok" }, { action: "x".repeat(200) }).type,
    "com.example.event",
  );
  const hostile = describeFacts(facts, {}, { id: "a b", subject: "evil\u202eexe", at: -5 });
  assert.deepEqual(hostile, { type: "com.example.event" });
});

test("times are read strictly in their own format", () => {
  assert.deepEqual(readTime("1772366400", "unix-seconds"), NOW);
  assert.deepEqual(readTime(1772366400000, "unix-milliseconds"), NOW);
  assert.deepEqual(readTime("2026-03-01T12:00:00Z", "iso8601"), NOW);
  for (const [value, format] of [
    ["1772366400.5", "unix-seconds"],
    [" 1772366400", "unix-seconds"],
    [1.5, "unix-milliseconds"],
    [-1, "unix-seconds"],
    ["2026-03-01", "iso8601"],
    [1772366400, "iso8601"],
  ] as const) {
    assert.equal(readTime(value, format), undefined, JSON.stringify(value));
  }
});

test("a sample whose signed timestamp sits in the body is sent with the time of sending", () => {
  const later = new Date("2026-09-01T00:00:00Z");
  const fixed = Buffer.from(linear.provider.sample.body);
  const fresh = Buffer.from(linear.provider.sample.bodyAt?.(later) ?? "");
  const input = (body: Buffer) => ({
    headers: linear.sign({ secret: "k", body, now: later }),
    body,
    secrets: ["k"],
    settings: {},
    now: later,
    toleranceSeconds: 300,
  });
  assert.equal(reason(linear.verify(input(fixed))), "stale");
  assert.ok(linear.verify(input(fresh)).ok);
  assert.equal(JSON.parse(fresh.toString()).webhookTimestamp, later.getTime());
  assert.equal(withMember('{"a":{"b~/c":1}}', "/a/b~0~1c", 2), '{"a":{"b~/c":2}}');
  for (const pointer of ["", "/missing", "/a/x", "/a/b~0~1c/d"]) {
    assert.throws(() => withMember('{"a":{"b~/c":1}}', pointer, 2), /no member/, pointer);
  }
});

test("a header under several names: the first present is read, an oversized one is not skipped for the next", () => {
  const scheme = hmacScheme({
    ...BASE,
    signature: { header: ["x-sig", "sig"], format: { kind: "whole" } },
    facts: { ...BASE.facts, deliveryId: { header: ["x-id", "id"] } },
  });
  const body = Buffer.from("{}");
  const headers = scheme.sign({ secret: "k", body, now: NOW, id: "d-1" });
  assert.deepEqual(Object.keys(headers).sort(), ["x-id", "x-sig"]);
  const verify = (h: Record<string, string>) =>
    scheme.verify({ headers: h, body, secrets: ["k"], settings: {}, now: NOW, toleranceSeconds: 1 });
  const renamed = verify({ sig: headers["x-sig"]!, id: "d-1" });
  assert.ok(renamed.ok);
  assert.equal(renamed.value.deliveryId, "d-1");
  assert.equal(reason(verify({ "x-sig": "A".repeat(5000), sig: headers["x-sig"]! })), "malformed_signature");
  assert.equal(reason(verify({ "x-sig": "garbage", sig: headers["x-sig"]! })), "malformed_signature");
  const both = verify({ ...headers, id: "d-2" });
  assert.ok(both.ok);
  assert.equal(both.value.deliveryId, "d-1");
});

test("every combination of algorithm, encoding, header shape and timestamp source round-trips and refuses tampering", () => {
  const algorithms = ["sha1", "sha256", "sha512"] as const;
  const encodings = ["hex", "base64", "base64url"] as const;
  const shapes: HmacEntry["signature"]["format"][] = [
    { kind: "whole" },
    { kind: "whole", prefix: "v1=" },
    { kind: "fields", separator: ",", timestampKey: "t", macKey: "v1" },
    { kind: "fields", separator: ";", timestampKey: "ts", macKey: "h1" },
  ];
  const stamps: (HmacEntry["timestamp"] | undefined)[] = [
    undefined,
    { from: { header: "x-ts" }, format: "unix-seconds" },
    { from: { header: "x-ts" }, format: "unix-milliseconds" },
    { from: { header: "x-ts" }, format: "iso8601" },
    { from: { field: true }, format: "unix-seconds" },
    { from: { pointer: "/sent" }, format: "unix-milliseconds" },
  ];
  let combinations = 0;
  for (const algorithm of algorithms) {
    for (const encoding of encodings) {
      for (const format of shapes) {
        for (const timestamp of stamps) {
          if (timestamp !== undefined && "field" in timestamp.from && format.kind !== "fields") continue;
          const signsTimestamp = timestamp !== undefined && !("pointer" in timestamp.from);
          const scheme = hmacScheme({
            ...BASE,
            sample: { contentType: "application/json", body: '{"sent":0}' },
            algorithm,
            encoding,
            signature: { header: "x-sig", format },
            template: signsTimestamp ? "{timestamp}.{body}" : "{body}",
            ...(timestamp === undefined ? {} : { timestamp }),
          });
          combinations++;
          const label = JSON.stringify({ algorithm, encoding, format, timestamp });
          const body = Buffer.from(`{"type":"a.b","sent":${NOW.getTime()},"n":"${label.length}"}`);
          const headers = scheme.sign({ secret: "k1", body, now: NOW });
          const verify = (h: Record<string, string>, b = body, secrets = ["k0", "k1"], now = NOW) =>
            reason(scheme.verify({ headers: h, body: b, secrets, settings: {}, now, toleranceSeconds: 60 }));
          assert.equal(verify(headers), "ok", label);
          assert.equal(verify(headers, body, ["k0"]), "bad_signature", label);
          const tampered = Buffer.from(body);
          tampered[2] = tampered[2]! ^ 0x01;
          assert.equal(verify(headers, tampered), "bad_signature", label);
          const sig = headers["x-sig"]!;
          // "0" and "1" are in every alphabet and differ from each other in any case.
          const flipped = sig.slice(0, -3) + (sig.at(-3) === "0" ? "1" : "0") + sig.slice(-2);
          assert.notEqual(verify({ ...headers, "x-sig": flipped }), "ok", label);
          if (timestamp !== undefined) {
            assert.equal(verify(headers, body, ["k1"], new Date(NOW.getTime() + 61_000)), "stale", label);
            assert.equal(verify(headers, body, ["k1"], new Date(NOW.getTime() - 62_000)), "future", label);
          } else {
            assert.equal(verify(headers, body, ["k1"], new Date(NOW.getTime() + 86_400_000)), "ok", label);
          }
        }
      }
    }
  }
  assert.equal(combinations, 3 * 3 * (2 * 5 + 2 * 6));
});
