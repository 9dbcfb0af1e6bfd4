import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CloudEvent } from "cloudevents";
import fc from "fast-check";
import { percentDecode, percentEncode } from "./attributes.ts";
import { buildEnvelope, toStructured } from "./envelope.ts";
import { type ContentMode, detectMode, parseIncoming } from "./parse.ts";

const MODES: ContentMode[] = ["structured", "batch", "binary", "none"];
const RUNS = 300;

// fc.webUrl() is slow enough to dominate the suite; this covers what the parser looks at.
const url = fc
  .tuple(
    fc.constantFrom("https://", "http://", "urn:"),
    fc.stringMatching(/^[a-z0-9.-]{1,20}$/),
    fc.stringMatching(/^[A-Za-z0-9\-._~/%]{0,20}$/),
  )
  .map(([scheme, host, path]) => `${scheme}${host}/${path}`);

const headerValue = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom("1.0", "%", "%C0%A0", '"'),
);
const headers = fc.dictionary(
  fc.oneof(
    fc.constantFrom("content-type", "ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time"),
    fc.string(),
  ),
  fc.option(headerValue, { nil: undefined }),
);

/** A JSON value shaped like an event often enough to reach the deeper checks. */
const eventish = fc.record(
  {
    specversion: fc.oneof(fc.constant("1.0"), fc.jsonValue()),
    id: fc.oneof(fc.string(), fc.jsonValue()),
    source: fc.oneof(url, fc.string(), fc.jsonValue()),
    type: fc.oneof(fc.string(), fc.jsonValue()),
    time: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string(),
      fc.jsonValue(),
    ),
    data: fc.jsonValue(),
    data_base64: fc.oneof(fc.base64String(), fc.string()),
    datacontenttype: fc.oneof(fc.constantFrom("application/json", "text/plain", "x"), fc.jsonValue()),
    ext: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

const extensions = fc.dictionary(
  fc.stringMatching(/^[a-z0-9]{1,20}$/),
  fc.oneof(fc.string({ maxLength: 30 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.boolean()),
  { maxKeys: 6 },
);

/** Events that are mostly valid, so the property below exercises the accepted path. */
const validLeaning = fc
  .tuple(
    fc.record(
      {
        id: fc.string({ minLength: 1, maxLength: 40 }),
        source: fc.oneof(url, fc.constantFrom("/a/b", "urn:x:y", "relative/ref")),
        type: fc.string({ minLength: 1, maxLength: 40 }),
        subject: fc.string({ minLength: 1, maxLength: 40 }),
        time: fc
          .date({
            noInvalidDate: true,
            min: new Date("0001-01-01T00:00:00Z"),
            max: new Date("9999-12-31T23:59:59Z"),
          })
          .map((d) => d.toISOString()),
        dataschema: url,
        datacontenttype: fc.constantFrom("application/json", "text/plain", "application/x+json", "image/png"),
        data: fc.jsonValue({ maxDepth: 4 }),
        data_base64: fc.base64String(),
      },
      { requiredKeys: ["id", "source", "type"] },
    ),
    extensions,
  )
  .map(([core, ext]) => {
    const { data, data_base64, ...rest } = core;
    const payload = data_base64 !== undefined ? { data_base64 } : data !== undefined ? { data } : {};
    return { ...ext, ...rest, ...payload, specversion: "1.0" };
  });

function neverThrows(mode: ContentMode, h: Record<string, string | undefined>, body: Buffer): void {
  const r = parseIncoming(mode, h, body);
  assert.equal(typeof r.ok, "boolean");
  if (r.ok) for (const e of r.value) assert.ok(Buffer.isBuffer(e.data));
}

describe("garbage never throws", () => {
  test("random bytes in every mode", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), headers, fc.constantFrom(...MODES), (bytes, h, mode) => {
        detectMode(h);
        neverThrows(mode, h, Buffer.from(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  test("random JSON values as structured and batch bodies", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), eventish, fc.array(eventish, { maxLength: 5 })), (value) => {
        const body = Buffer.from(JSON.stringify(value) ?? "null");
        for (const mode of MODES) neverThrows(mode, {}, body);
      }),
      { numRuns: RUNS },
    );
  });

  test("random header sets in binary mode", () => {
    fc.assert(
      fc.property(headers, fc.string(), (h, body) => {
        neverThrows("binary", { "ce-specversion": "1.0", ...h }, Buffer.from(body));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("properties", () => {
  test("percent-encoding round-trips any well-formed string and yields printable ASCII", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        const encoded = percentEncode(s);
        assert.match(encoded, /^[\x21-\x7e]*$/);
        assert.equal(percentDecode(encoded), s);
      }),
      { numRuns: RUNS },
    );
  });

  test("every accepted structured event renders to an envelope the package validates", () => {
    let accepted = 0;
    fc.assert(
      fc.property(validLeaning, (value) => {
        const r = parseIncoming("structured", {}, Buffer.from(JSON.stringify(value)));
        if (!r.ok) return;
        accepted++;
        for (const e of r.value) {
          const env = buildEnvelope({
            eventId: "evt_1",
            projectId: "prj_1",
            sourceId: "src_1",
            type: e.type,
            subject: e.subject ?? null,
            time: e.time ?? new Date(0),
            datacontenttype: e.datacontenttype ?? null,
            dataschema: e.dataschema ?? null,
            correlationId: "corr_1",
            extensions: e.extensions,
          });
          const event = new CloudEvent(toStructured(env, e.data));
          assert.equal(event.validate(), true);
          for (const [name, v] of Object.entries(e.extensions)) {
            assert.equal((event as unknown as Record<string, unknown>)[name], v);
          }
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(accepted > RUNS / 2, `only ${accepted} of ${RUNS} generated events were accepted`);
  });
});
