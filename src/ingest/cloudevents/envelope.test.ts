import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CloudEvent, HTTP } from "cloudevents";
import {
  buildEnvelope,
  type CloudEventEnvelope,
  type EnvelopeInput,
  envelopeAttributes,
  ingestFields,
  toBinaryHeaders,
  toStructured,
} from "./envelope.ts";
import { detectMode, type IncomingEvent, parseIncoming } from "./parse.ts";
import { oracleBytes } from "./test-oracle.ts";

const INPUT: EnvelopeInput = {
  eventId: "evt_4Vx9aQ2mT7LkP0sZb3Ncde",
  projectId: "prj_1Vx9aQ2mT7LkP0sZb3Ncde",
  sourceId: "src_2Vx9aQ2mT7LkP0sZb3Ncde",
  type: "com.github.push",
  subject: "refs/heads/main",
  time: new Date("2024-05-06T07:08:09.123Z"),
  datacontenttype: "application/json",
  correlationId: "corr_3Vx9aQ2mT7LkP0sZb3Ncde",
};

/** The package accepts our JSON-format rendering as a valid CloudEvent. */
function assertValid(structured: Record<string, unknown>): CloudEvent<unknown> {
  const event = new CloudEvent(structured);
  assert.equal(event.validate(), true);
  // And the wire form, parsed back by the package, is the same event.
  const wire = JSON.parse(JSON.stringify(structured)) as Record<string, unknown>;
  assert.equal(new CloudEvent(wire).validate(), true);
  return event;
}

/** The ingest → store → expose path: parse, hand over, build, render. */
function storedFrom(event: IncomingEvent): { envelope: CloudEventEnvelope; data: Buffer } {
  const fields = ingestFields(event, new Date("2024-01-01T00:00:00Z"));
  const envelope = buildEnvelope({
    ...INPUT,
    type: fields.ce.type,
    subject: fields.ce.subject,
    time: new Date(fields.ce.time),
    datacontenttype: fields.contentType,
    dataschema: fields.ce.dataschema,
    extensions: fields.ce.extensions,
  });
  return { envelope, data: Buffer.from(fields.body, "base64") };
}

describe("buildEnvelope", () => {
  test("carries every attribute zenmesh sets, and nothing of the sender's identity", () => {
    const env = buildEnvelope({ ...INPUT, dataschema: "https://schemas.example.com/push.json" });
    assert.deepEqual(env, {
      specversion: "1.0",
      id: INPUT.eventId,
      source: `/projects/${INPUT.projectId}/sources/${INPUT.sourceId}`,
      type: "com.github.push",
      time: "2024-05-06T07:08:09.123Z",
      datacontenttype: "application/json",
      subject: "refs/heads/main",
      dataschema: "https://schemas.example.com/push.json",
      correlationid: INPUT.correlationId,
      extensions: {},
    });
    assertValid(toStructured(env, Buffer.from('{"ref":"refs/heads/main"}')));
  });

  test("carried extensions never override core attributes or correlationid", () => {
    const env = buildEnvelope({
      ...INPUT,
      extensions: { tier: "gold", correlationid: "forged", id: "forged", type: "forged", data: "x" },
    });
    assert.deepEqual(env.extensions, { tier: "gold" });
    const attrs = envelopeAttributes(env);
    assert.equal(attrs.correlationid, INPUT.correlationId);
    assert.equal(attrs.id, INPUT.eventId);
    assert.equal(attrs.type, "com.github.push");
    assert.equal(attrs.tier, "gold");
  });

  test("leaves out provider-given optional attributes that are not valid CloudEvents values", () => {
    const env = buildEnvelope({
      ...INPUT,
      subject: "",
      datacontenttype: "not a media type",
      dataschema: "relative/ref",
    });
    assert.equal(env.subject, undefined);
    assert.equal(env.datacontenttype, undefined);
    assert.equal(env.dataschema, undefined);
    assertValid(toStructured(env, Buffer.from("x")));
    const nulls = buildEnvelope({ ...INPUT, subject: null, datacontenttype: null, dataschema: null });
    assert.deepEqual(Object.keys(envelopeAttributes(nulls)).sort(), [
      "correlationid",
      "id",
      "source",
      "specversion",
      "time",
      "type",
    ]);
  });

  test("throws on its own broken invariants", () => {
    assert.throws(() => buildEnvelope({ ...INPUT, eventId: "" }));
    assert.throws(() => buildEnvelope({ ...INPUT, type: "a\nb" }));
    assert.throws(() => buildEnvelope({ ...INPUT, correlationId: "" }));
    assert.throws(() => buildEnvelope({ ...INPUT, time: new Date(Number.NaN) }));
    assert.throws(() => buildEnvelope({ ...INPUT, extensions: { "Bad-Name": "x" } }));
  });
});

describe("toStructured", () => {
  test("JSON data becomes `data`, with exact number text", () => {
    const env = buildEnvelope(INPUT);
    const obj = toStructured(env, Buffer.from('{"n":12345678901234567890,"s":"é"}'));
    assert.equal(obj.data_base64, undefined);
    assert.equal(JSON.stringify(obj.data), '{"n":12345678901234567890,"s":"é"}');
    assertValid(obj);
  });

  test("non-JSON data, and JSON-typed bytes that do not parse, become `data_base64`", () => {
    const bytes = Buffer.from([0, 159, 146, 150, 255]);
    for (const datacontenttype of ["application/octet-stream", "application/json", undefined]) {
      const obj = toStructured(buildEnvelope({ ...INPUT, datacontenttype }), bytes);
      assert.equal(obj.data, undefined);
      assert.equal(obj.data_base64, bytes.toString("base64"));
      const event = assertValid(obj);
      assert.deepEqual(oracleBytes(event), bytes);
    }
  });

  test("JSON-typed bytes that are not UTF-8 are carried exactly, as data_base64", () => {
    const bytes = Buffer.concat([Buffer.from('{"s":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    const obj = toStructured(buildEnvelope(INPUT), bytes);
    assert.equal(obj.data_base64, bytes.toString("base64"));
    assertValid(obj);
  });

  test("no data bytes, no data member", () => {
    const obj = toStructured(buildEnvelope(INPUT), Buffer.alloc(0));
    assert.equal("data" in obj || "data_base64" in obj, false);
    assertValid(obj);
  });
});

describe("toBinaryHeaders", () => {
  test("round-trips through the package's HTTP.toEvent", () => {
    const env = buildEnvelope({ ...INPUT, extensions: { tier: "gold", region: "eu1" } });
    const body = '{"ref":"refs/heads/main"}';
    const headers = toBinaryHeaders(env);
    assert.equal(headers["content-type"], "application/json");
    assert.equal(headers["ce-datacontenttype"], undefined);
    const event = HTTP.toEvent({ headers, body }) as CloudEvent<unknown>;
    assert.equal(event.validate(), true);
    const attrs = envelopeAttributes(env);
    for (const [name, value] of Object.entries(attrs)) {
      const got = (event as unknown as Record<string, unknown>)[name];
      assert.equal(name === "time" ? new Date(String(got)).toISOString() : got, value, name);
    }
    assert.deepEqual(event.data, { ref: "refs/heads/main" });
  });

  test("percent-encodes per the HTTP binding and parses back to the same envelope", () => {
    const env = buildEnvelope({ ...INPUT, subject: 'Euro € 😀 "100%"', extensions: { note: "a b" } });
    const headers = toBinaryHeaders(env);
    assert.equal(headers["ce-subject"], "Euro%20%E2%82%AC%20%F0%9F%98%80%20%22100%25%22");
    for (const value of Object.values(headers)) assert.match(value, /^[\x21-\x7e]*$/);
    // zenmesh's own output relays into zenmesh: the sender's correlationid is dropped, never trusted.
    const r = parseIncoming(detectMode(headers), headers, Buffer.from("{}"));
    assert.ok(r.ok);
    const back = r.value[0]!;
    assert.equal(back.subject, env.subject);
    assert.equal(back.id, env.id);
    assert.equal(back.source, env.source);
    assert.deepEqual(back.extensions, { note: "a b" });
  });
});

describe("the stored envelope validates with the cloudevents package, whatever the input mode", () => {
  const sender = new CloudEvent<unknown>({
    id: "upstream-1",
    source: "https://ci.example.com/pipelines",
    type: "com.example.pipeline.finished",
    subject: "pipeline/42",
    time: "2024-03-01T10:00:00Z",
    dataschema: "https://ci.example.com/schemas/finished.json",
    datacontenttype: "application/json",
    data: { id: 42, ok: true },
    tier: "gold",
    attempt: 3,
  });
  const binaryBlob = new CloudEvent<unknown>({
    id: "upstream-2",
    source: "/devices/7",
    type: "com.example.frame",
    datacontenttype: "image/png",
    data: Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    lane: "b",
  });

  const messages: Array<[string, { headers: Record<string, string>; body: Buffer }]> = [];
  for (const [label, event] of [
    ["JSON data", sender],
    ["binary data", binaryBlob],
  ] as const) {
    const s = HTTP.structured(event);
    messages.push([
      `structured, ${label}`,
      { headers: s.headers as Record<string, string>, body: Buffer.from(String(s.body)) },
    ]);
    const b = HTTP.binary(event);
    const raw = b.body;
    const body = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
    messages.push([`binary, ${label}`, { headers: b.headers as Record<string, string>, body }]);
  }
  messages.push([
    "batch, both",
    {
      headers: { "content-type": "application/cloudevents-batch+json" },
      body: Buffer.from(JSON.stringify([sender, binaryBlob])),
    },
  ]);

  for (const [label, msg] of messages) {
    test(label, () => {
      const r = parseIncoming(detectMode(msg.headers), msg.headers, msg.body);
      assert.ok(r.ok, r.ok ? "" : r.reason);
      assert.ok(r.value.length >= 1);
      for (const incoming of r.value) {
        const { envelope, data } = storedFrom(incoming);
        const event = assertValid(toStructured(envelope, data));
        assert.equal(event.id, INPUT.eventId);
        assert.equal(event.type, incoming.type);
        assert.equal(event.subject, incoming.subject);
        assert.equal(event.dataschema, incoming.dataschema);
        assert.equal((event as unknown as Record<string, unknown>).correlationid, INPUT.correlationId);
        for (const [name, value] of Object.entries(incoming.extensions)) {
          assert.equal((event as unknown as Record<string, unknown>)[name], value);
        }
        assert.deepEqual(oracleBytes(event), incoming.data);
        const back = HTTP.toEvent({ headers: toBinaryHeaders(envelope), body: data }) as CloudEvent<unknown>;
        assert.equal(back.validate(), true);
      }
    });
  }
});

describe("ingestFields", () => {
  test("maps an incoming event to the ingest item fields, time falling back to receipt", () => {
    const received = new Date("2024-01-01T00:00:00Z");
    const fields = ingestFields(
      {
        id: "1",
        source: "/s",
        type: "t",
        extensions: { a: "b" },
        data: Buffer.from("hi"),
        datacontenttype: "text/plain",
      },
      received,
    );
    assert.deepEqual(fields, {
      contentType: "text/plain",
      body: Buffer.from("hi").toString("base64"),
      deliveryId: '["/s","1"]',
      ce: {
        type: "t",
        subject: null,
        time: received.toISOString(),
        dataschema: null,
        extensions: { a: "b" },
      },
    });
  });
});
