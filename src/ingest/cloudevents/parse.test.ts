import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CloudEvent, HTTP } from "cloudevents";
import {
  type CeParseFailure,
  type ContentMode,
  detectMode,
  type IncomingEvent,
  parseIncoming,
} from "./parse.ts";
import { assertSameAttributes, assertSameEvent } from "./test-oracle.ts";

type Headers = Record<string, string | undefined>;

function lower(headers: Record<string, unknown>): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(headers))
    out[k.toLowerCase()] = v === undefined ? undefined : String(v);
  return out;
}

function bodyOf(body: unknown): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new Error("unexpected body");
}

/** Parses a message as the ingester would: detect the mode, then parse. */
function ingest(headers: Headers, body: Buffer): ReturnType<typeof parseIncoming> {
  return parseIncoming(detectMode(headers), headers, body);
}

function one(headers: Headers, body: Buffer): IncomingEvent {
  const r = ingest(headers, body);
  assert.ok(r.ok, `expected ok, got ${r.ok ? "" : r.reason}`);
  assert.equal(r.value.length, 1);
  return r.value[0]!;
}

const SAMPLES: Array<[string, CloudEvent<unknown>]> = [
  [
    "JSON data with subject, dataschema and extensions",
    new CloudEvent({
      id: "A234-1234-1234",
      source: "https://github.com/cloudevents/spec/pull",
      type: "com.github.pull_request.opened",
      subject: "123",
      time: "2018-04-05T17:31:00.000Z",
      datacontenttype: "application/json",
      dataschema: "https://example.com/schemas/pr.json",
      data: { number: 123, labels: ["a", "b"], nested: { ok: true, n: null } },
      tenantref: "gold",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }),
  ],
  [
    "binary data (data_base64 in structured mode)",
    new CloudEvent({
      id: "b-1",
      source: "/sensors/tn-1234567/alerts",
      type: "com.example.blob",
      datacontenttype: "application/octet-stream",
      data: Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]),
      region: "eu",
    }),
  ],
  [
    "a +json media type and string data",
    new CloudEvent({
      id: "c-1",
      source: "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
      type: "com.example.text",
      datacontenttype: "application/vnd.example+json",
      data: "just a string",
    }),
  ],
  [
    "no data at all",
    new CloudEvent({
      id: "d-1",
      source: "/empty",
      type: "com.example.ping",
      time: "2024-02-29T23:59:59.999Z",
    }),
  ],
];

describe("detectMode", () => {
  test("recognises the three HTTP binding content modes and plain webhooks", () => {
    assert.equal(detectMode({ "content-type": "application/cloudevents+json; charset=utf-8" }), "structured");
    assert.equal(detectMode({ "content-type": "Application/CloudEvents+JSON" }), "structured");
    assert.equal(detectMode({ "content-type": "application/cloudevents-batch+json" }), "batch");
    assert.equal(detectMode({ "content-type": "application/json", "ce-specversion": "1.0" }), "binary");
    assert.equal(detectMode({ "ce-specversion": "1.0" }), "binary");
    assert.equal(detectMode({ "content-type": "application/json", "x-github-event": "push" }), "none");
    assert.equal(detectMode({}), "none");
  });

  test("an event format it does not parse is not structured mode", () => {
    assert.equal(detectMode({ "content-type": "application/cloudevents+avro" }), "none");
    assert.equal(
      detectMode({ "content-type": "application/cloudevents+avro", "ce-specversion": "1.0" }),
      "binary",
    );
  });
});

describe("parseIncoming agrees with the cloudevents package", () => {
  for (const [name, event] of SAMPLES) {
    test(`structured mode: ${name}`, () => {
      const msg = HTTP.structured(event);
      const headers = lower(msg.headers);
      assert.equal(detectMode(headers), "structured");
      const ours = one(headers, bodyOf(msg.body));
      assertSameEvent(ours, HTTP.toEvent(msg) as CloudEvent<unknown>);
    });

    test(`binary mode: ${name}`, () => {
      const msg = HTTP.binary(event);
      const headers = lower(msg.headers);
      assert.equal(detectMode(headers), "binary");
      const ours = one(headers, bodyOf(msg.body));
      const theirs = HTTP.toEvent(msg) as CloudEvent<unknown>;
      assert.equal(ours.datacontenttype, theirs.datacontenttype);
      assertSameAttributes(ours, theirs);
      // Binary mode carries the body as-is.
      assert.deepEqual(ours.data, bodyOf(msg.body));
    });
  }

  test("batch mode: every event of a JSON batch, in order", () => {
    const body = JSON.stringify(SAMPLES.map(([, e]) => e));
    const msg = { headers: { "content-type": "application/cloudevents-batch+json" }, body };
    const theirs = HTTP.toEvent(msg) as CloudEvent<unknown>[];
    const r = ingest(lower(msg.headers), Buffer.from(body));
    assert.ok(r.ok);
    assert.equal(r.value.length, SAMPLES.length);
    r.value.forEach((ours, i) => {
      assertSameEvent(ours, theirs[i]!);
    });
  });

  test("an empty batch is valid and holds zero events", () => {
    const r = ingest({ "content-type": "application/cloudevents-batch+json" }, Buffer.from(" [ ] "));
    assert.deepEqual(r, { ok: true, value: [] });
  });
});

describe("parseIncoming details", () => {
  const base = { specversion: "1.0", id: "x-1", source: "/s", type: "com.example.t" };
  const structured = (obj: unknown) =>
    ingest({ "content-type": "application/cloudevents+json" }, Buffer.from(JSON.stringify(obj)));

  test("JSON data without a datacontenttype is application/json, re-serialised once", () => {
    const r = ingest(
      { "content-type": "application/cloudevents+json" },
      Buffer.from(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data": { "a" : [1, 2] } }`),
    );
    assert.ok(r.ok);
    assert.equal(r.value[0]!.datacontenttype, "application/json");
    assert.equal(r.value[0]!.data.toString(), `{"a":[1,2]}`);
  });

  test("numbers in data keep their exact text (no precision lost to doubles)", () => {
    const r = ingest(
      { "content-type": "application/cloudevents+json" },
      Buffer.from(
        `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"id":12345678901234567890,"p":1.10}}`,
      ),
    );
    assert.ok(r.ok);
    assert.equal(r.value[0]!.data.toString(), `{"id":12345678901234567890,"p":1.10}`);
  });

  test("string data with a non-JSON datacontenttype is its text", () => {
    const r = structured({ ...base, datacontenttype: "text/xml", data: '<much wow="xml"/>' });
    assert.ok(r.ok);
    assert.equal(r.value[0]!.data.toString(), '<much wow="xml"/>');
  });

  test("null attributes are absent, integer and boolean extensions take their canonical string form", () => {
    const r = structured({
      ...base,
      subject: null,
      time: null,
      unset: null,
      n: 5,
      b: false,
      data_base64: null,
    });
    assert.ok(r.ok);
    const e = r.value[0]!;
    assert.equal(e.subject, undefined);
    assert.equal(e.time, undefined);
    assert.deepEqual(e.extensions, { n: "5", b: "false" });
    assert.equal(e.data.length, 0);
  });

  test("binary mode percent-decodes header values and undoes quoted strings", () => {
    const e = one(
      {
        "ce-specversion": "1.0",
        "ce-id": "%31",
        "ce-source": "/s",
        "ce-type": "t",
        "ce-subject": "Euro%20%E2%82%AC%20%f0%9f%98%80",
        "ce-legacy": '"two words \\"quoted\\""',
        "content-type": "text/plain; charset=utf-8",
      },
      Buffer.from("hello"),
    );
    assert.equal(e.id, "1");
    assert.equal(e.subject, "Euro € 😀");
    assert.deepEqual(e.extensions, { legacy: 'two words "quoted"' });
    assert.equal(e.datacontenttype, "text/plain; charset=utf-8");
    assert.equal(e.data.toString(), "hello");
  });

  test("time keeps the instant, including offsets", () => {
    const r = structured({ ...base, time: "2018-04-05T19:31:00.123+02:00" });
    assert.ok(r.ok);
    assert.equal(r.value[0]!.time?.toISOString(), "2018-04-05T17:31:00.123Z");
  });

  test("mode none yields no events", () => {
    assert.deepEqual(parseIncoming("none", {}, Buffer.from("{}")), { ok: true, value: [] });
  });
});

describe("parseIncoming failures", () => {
  const S = { "content-type": "application/cloudevents+json" };
  const B = { "content-type": "application/cloudevents-batch+json" };
  const base = { specversion: "1.0", id: "x-1", source: "/s", type: "com.example.t" };
  const bin = { "ce-specversion": "1.0", "ce-id": "x-1", "ce-source": "/s", "ce-type": "t" };
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const manyExtensions = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`ext${i}`, "v"]));

  const table: Array<[string, ContentMode, Headers, Buffer, CeParseFailure]> = [
    ["truncated JSON", "structured", S, Buffer.from('{"specversion":'), "malformed_json"],
    ["invalid UTF-8 in JSON", "structured", S, Buffer.from([0x7b, 0xff, 0x7d]), "malformed_json"],
    [
      "invalid UTF-8 inside a JSON string",
      "structured",
      S,
      Buffer.concat([
        Buffer.from('{"specversion":"1.0","id":"1","source":"/s","type":"t","data":"'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}'),
      ]),
      "malformed_json",
    ],
    [
      "a byte-order mark",
      "structured",
      S,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(base)]),
      "malformed_json",
    ],
    ["an empty body", "structured", S, Buffer.alloc(0), "malformed_json"],
    [
      "JSON nested too deep",
      "structured",
      S,
      Buffer.from(`${"[".repeat(200)}${"]".repeat(200)}`),
      "malformed_json",
    ],
    ["a structured array", "structured", S, json([base]), "not_an_object"],
    ["a structured string", "structured", S, json("event"), "not_an_object"],
    ["a batch object", "batch", B, json(base), "not_an_object"],
    ["a batch holding a number", "batch", B, json([base, 7]), "not_an_object"],
    ["no specversion", "structured", S, json({ ...base, specversion: undefined }), "missing_attribute"],
    ["no id", "structured", S, json({ ...base, id: undefined }), "missing_attribute"],
    ["null source", "structured", S, json({ ...base, source: null }), "missing_attribute"],
    ["no type", "structured", S, json({ ...base, type: undefined }), "missing_attribute"],
    ["no ce-id header", "binary", { ...bin, "ce-id": undefined }, Buffer.alloc(0), "missing_attribute"],
    [
      "no ce-specversion",
      "binary",
      { ...bin, "ce-specversion": undefined },
      Buffer.alloc(0),
      "missing_attribute",
    ],
    ["specversion 0.3", "structured", S, json({ ...base, specversion: "0.3" }), "bad_specversion"],
    ["specversion 1.0.2", "structured", S, json({ ...base, specversion: "1.0.2" }), "bad_specversion"],
    ["numeric specversion", "structured", S, json({ ...base, specversion: 1 }), "bad_specversion"],
    ["binary specversion 1", "binary", { ...bin, "ce-specversion": "1" }, Buffer.alloc(0), "bad_specversion"],
    ["an upper-case name", "structured", S, json({ ...base, Tenant: "x" }), "invalid_attribute"],
    ["a name with a dash", "binary", { ...bin, "ce-trace-id": "x" }, Buffer.alloc(0), "invalid_attribute"],
    ["a 49-character name", "structured", S, json({ ...base, ["a".repeat(49)]: "x" }), "invalid_attribute"],
    ["an empty id", "structured", S, json({ ...base, id: "" }), "invalid_attribute"],
    ["an id of 2049 bytes", "structured", S, json({ ...base, id: "é".repeat(1025) }), "invalid_attribute"],
    ["a numeric id", "structured", S, json({ ...base, id: 5 }), "invalid_attribute"],
    ["a source with a space", "structured", S, json({ ...base, source: "/a b" }), "invalid_attribute"],
    ["a relative dataschema", "structured", S, json({ ...base, dataschema: "/s.json" }), "invalid_attribute"],
    ["an empty subject", "structured", S, json({ ...base, subject: "" }), "invalid_attribute"],
    ["a control character", "structured", S, json({ ...base, type: "a\u0000b" }), "invisible_character"],
    [
      "a bidi override in the type",
      "structured",
      S,
      json({ ...base, type: "a\u202eb" }),
      "invisible_character",
    ],
    [
      "a zero-width space in the subject",
      "batch",
      B,
      json([{ ...base, subject: "a\u200bb" }]),
      "invisible_character",
    ],
    ["a bidi isolate in the id", "structured", S, json({ ...base, id: "1\u2066" }), "invisible_character"],
    [
      "a C1 control in the source",
      "structured",
      S,
      json({ ...base, source: "/s\u0085" }),
      "invisible_character",
    ],
    [
      "an override in an extension",
      "structured",
      S,
      json({ ...base, tenant: "x\u202dy" }),
      "invisible_character",
    ],
    [
      "an encoded override in a binary header",
      "binary",
      { ...bin, "ce-type": "a%E2%80%AEb" },
      Buffer.alloc(0),
      "invisible_character",
    ],
    [
      "an encoded zero-width joiner in a binary extension",
      "binary",
      { ...bin, "ce-tenant": "a%E2%80%8Db" },
      Buffer.alloc(0),
      "invisible_character",
    ],
    [
      "a lone surrogate",
      "structured",
      S,
      Buffer.from(`{"specversion":"1.0","id":"\\ud800","source":"/s","type":"t"}`),
      "invalid_attribute",
    ],
    ["30 February", "structured", S, json({ ...base, time: "2021-02-30T00:00:00Z" }), "invalid_attribute"],
    ["a date without time", "structured", S, json({ ...base, time: "2021-02-01" }), "invalid_attribute"],
    ["a non-integer extension", "structured", S, json({ ...base, ratio: 0.5 }), "invalid_attribute"],
    [
      "an integer extension past 32 bits",
      "structured",
      S,
      json({ ...base, big: 2 ** 31 }),
      "invalid_attribute",
    ],
    ["an object extension", "structured", S, json({ ...base, obj: {} }), "invalid_attribute"],
    ["33 extensions", "structured", S, json({ ...base, ...manyExtensions }), "invalid_attribute"],
    [
      "a bad datacontenttype",
      "structured",
      S,
      json({ ...base, datacontenttype: "json" }),
      "invalid_attribute",
    ],
    ["non-canonical base64", "structured", S, json({ ...base, data_base64: "AQI" }), "invalid_attribute"],
    ["numeric data_base64", "structured", S, json({ ...base, data_base64: 5 }), "invalid_attribute"],
    [
      "a duplicated attribute",
      "structured",
      S,
      Buffer.from('{"specversion":"1.0","id":"1","source":"/s","type":"t","type":"u"}'),
      "invalid_attribute",
    ],
    [
      "a duplicated attribute in a batch",
      "batch",
      B,
      Buffer.from('[{"specversion":"1.0","id":"1","source":"/s","id":"2","type":"t"}]'),
      "invalid_attribute",
    ],
    [
      "ce-datacontenttype in binary mode",
      "binary",
      { ...bin, "ce-datacontenttype": "a/b" },
      Buffer.alloc(0),
      "invalid_attribute",
    ],
    ["a stray percent", "binary", { ...bin, "ce-subject": "100%" }, Buffer.alloc(0), "invalid_attribute"],
    ["overlong UTF-8", "binary", { ...bin, "ce-subject": "%C0%A0" }, Buffer.alloc(0), "invalid_attribute"],
    [
      "a raw non-ASCII header",
      "binary",
      { ...bin, "ce-subject": "caf\u00e9" },
      Buffer.alloc(0),
      "invalid_attribute",
    ],
    ["101 events", "batch", B, json(Array.from({ length: 101 }, () => base)), "too_many_events"],
    [
      "data and data_base64",
      "structured",
      S,
      json({ ...base, data: {}, data_base64: "AQID" }),
      "data_and_data_base64",
    ],
    [
      "schemaurl on a 1.0 event",
      "structured",
      S,
      json({ ...base, schemaurl: "https://x" }),
      "reserved_extension",
    ],
    ["ce-data", "binary", { ...bin, "ce-data": "x" }, Buffer.alloc(0), "reserved_extension"],
  ];

  test("drops a sender's correlationid instead of trusting or refusing it", () => {
    for (const [mode, headers, body] of [
      ["structured", S, json({ ...base, correlationid: "corr_forged" })],
      ["binary", { ...bin, "ce-correlationid": "corr_forged" }, Buffer.alloc(0)],
    ] as const) {
      const r = parseIncoming(mode, headers, body);
      assert.ok(r.ok, mode);
      assert.equal(r.value[0]?.extensions.correlationid, undefined);
    }
  });

  for (const [name, mode, headers, body, reason] of table) {
    test(`rejects ${name} (${reason})`, () => {
      assert.deepEqual(parseIncoming(mode, headers, body), { ok: false, reason });
    });
  }

  test("every failure reason is exercised", () => {
    const all: CeParseFailure[] = [
      "malformed_json",
      "not_an_object",
      "missing_attribute",
      "bad_specversion",
      "invalid_attribute",
      "too_many_events",
      "data_and_data_base64",
      "reserved_extension",
      "invisible_character",
    ];
    assert.deepEqual(new Set(table.map((row) => row[4])), new Set(all));
  });

  test("accepts the caps themselves: 100 events, 32 extensions, 48-character names, 2048-byte values", () => {
    const batch = ingest(B, json(Array.from({ length: 100 }, (_, i) => ({ ...base, id: `e${i}` }))));
    assert.ok(batch.ok && batch.value.length === 100);
    const wide = { ...base, ...Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`ext${i}`, "v"])) };
    assert.ok(ingest(S, json(wide)).ok);
    assert.ok(ingest(S, json({ ...base, ["a".repeat(48)]: "x".repeat(2048) })).ok);
  });

  test("a bad event fails the whole batch", () => {
    assert.deepEqual(ingest(B, json([base, { ...base, specversion: "0.3" }])), {
      ok: false,
      reason: "bad_specversion",
    });
  });
});
