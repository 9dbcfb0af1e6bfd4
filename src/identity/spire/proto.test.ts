import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeX509Svid,
  decodeX509SvidRequest,
  decodeX509SvidResponse,
  encodeX509Svid,
  encodeX509SvidRequest,
  encodeX509SvidResponse,
  ProtoDecodeError,
  type X509SvidMessage,
  type X509SvidResponse,
} from "./proto.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const ascii = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

function varint(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const lenField = (field: number, value: Uint8Array) => cat(tag(field, 2), varint(value.length), value);

function svid(over: Partial<X509SvidMessage> = {}): X509SvidMessage {
  return {
    spiffeId: "spiffe://zenmesh.test/backend",
    x509Svid: bytes(0x30, 0x03, 1, 2, 3),
    x509SvidKey: bytes(0x30, 0x01, 9),
    bundle: bytes(0x30, 0x00),
    hint: "internal",
    ...over,
  };
}

/** Every wire type, including a group with a nested group, under unused field numbers. */
const UNKNOWN_FIELDS = cat(
  tag(100, 0),
  varint(2 ** 50),
  tag(101, 1),
  bytes(1, 2, 3, 4, 5, 6, 7, 8),
  lenField(102, ascii("ignored")),
  tag(103, 3),
  tag(1, 0),
  varint(7),
  tag(2, 3),
  tag(3, 5),
  bytes(0, 0, 0, 0),
  tag(2, 4),
  tag(103, 4),
  tag(104, 5),
  bytes(0xff, 0xff, 0xff, 0xff),
  // A 10-byte varint, the longest legal one.
  tag(105, 0),
  bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
);

describe("Workload API proto3 codec", () => {
  it("round-trips an X509SVID with every field set", () => {
    const msg = svid();
    assert.deepEqual(decodeX509Svid(encodeX509Svid(msg)), msg);
  });

  it("encodes the known bytes of an X509SVID (field numbers 1..5, length-delimited)", () => {
    const msg = svid({
      spiffeId: "spiffe://a/b",
      x509Svid: bytes(7),
      x509SvidKey: bytes(8),
      bundle: bytes(9),
    });
    msg.hint = "h";
    const expected = cat(
      bytes(0x0a, 12),
      ascii("spiffe://a/b"),
      bytes(0x12, 1, 7),
      bytes(0x1a, 1, 8),
      bytes(0x22, 1, 9),
      bytes(0x2a, 1),
      ascii("h"),
    );
    assert.deepEqual(encodeX509Svid(msg), expected);
  });

  it("omits empty singular fields, as proto3 does", () => {
    const empty = svid({ spiffeId: "", x509Svid: bytes(), x509SvidKey: bytes(), bundle: bytes(), hint: "" });
    assert.equal(encodeX509Svid(empty).length, 0);
    assert.deepEqual(decodeX509Svid(bytes()), empty);
  });

  it("round-trips a response with several SVIDs, CRLs and a map of federated bundles", () => {
    const msg: X509SvidResponse = {
      svids: [svid(), svid({ spiffeId: "spiffe://zenmesh.test/ingester", hint: "" })],
      crl: [bytes(1, 2), bytes(), bytes(3)],
      federatedBundles: new Map([
        ["spiffe://partner.example", bytes(0x30, 0x00)],
        ["spiffe://other.example", bytes(0x30, 0x01, 0xaa)],
        ["spiffe://third.example", bytes()],
      ]),
    };
    const decoded = decodeX509SvidResponse(encodeX509SvidResponse(msg));
    assert.deepEqual(decoded, msg);
    assert.deepEqual([...decoded.federatedBundles.keys()], [...msg.federatedBundles.keys()]);
  });

  it("decodes lengths that need multi-byte varints", () => {
    const big = new Uint8Array(70_000).fill(0x5a);
    const decoded = decodeX509SvidResponse(
      encodeX509SvidResponse({ svids: [svid({ x509Svid: big })], crl: [], federatedBundles: new Map() }),
    );
    assert.deepEqual(decoded.svids[0]?.x509Svid, big);
  });

  it("skips unknown fields of every wire type, in every message", () => {
    const inner = cat(UNKNOWN_FIELDS, encodeX509Svid(svid()), UNKNOWN_FIELDS);
    const entry = cat(
      UNKNOWN_FIELDS,
      lenField(1, ascii("spiffe://partner.example")),
      UNKNOWN_FIELDS,
      lenField(2, bytes(0x30, 0)),
    );
    const wire = cat(
      UNKNOWN_FIELDS,
      lenField(1, inner),
      UNKNOWN_FIELDS,
      lenField(3, entry),
      lenField(2, bytes(4)),
    );
    const decoded = decodeX509SvidResponse(wire);
    assert.deepEqual(decoded.svids, [svid()]);
    assert.deepEqual(decoded.crl, [bytes(4)]);
    assert.deepEqual([...decoded.federatedBundles], [["spiffe://partner.example", bytes(0x30, 0)]]);
    assert.deepEqual(decodeX509SvidRequest(UNKNOWN_FIELDS), {});
  });

  it("treats a known field with an unexpected wire type as unknown", () => {
    const wire = cat(tag(1, 0), varint(5), lenField(1, ascii("spiffe://a/b")), tag(2, 5), bytes(1, 2, 3, 4));
    assert.equal(decodeX509Svid(wire).spiffeId, "spiffe://a/b");
    assert.equal(decodeX509Svid(wire).x509Svid.length, 0);
  });

  it("keeps the last value of a repeated singular field and of a duplicate map key", () => {
    const wire = cat(lenField(1, ascii("spiffe://a/first")), lenField(1, ascii("spiffe://a/last")));
    assert.equal(decodeX509Svid(wire).spiffeId, "spiffe://a/last");
    const entry = (k: string, v: number) => lenField(3, cat(lenField(1, ascii(k)), lenField(2, bytes(v))));
    const resp = decodeX509SvidResponse(
      cat(entry("spiffe://x", 1), entry("spiffe://y", 2), entry("spiffe://x", 3)),
    );
    assert.deepEqual(
      [...resp.federatedBundles],
      [
        ["spiffe://x", bytes(3)],
        ["spiffe://y", bytes(2)],
      ],
    );
  });

  it("reads a map entry missing its key or value as the defaults", () => {
    const resp = decodeX509SvidResponse(
      cat(lenField(3, lenField(2, bytes(1))), lenField(3, lenField(1, ascii("k")))),
    );
    assert.deepEqual(
      [...resp.federatedBundles],
      [
        ["", bytes(1)],
        ["k", bytes()],
      ],
    );
  });

  it("does not alias the input buffer", () => {
    const wire = encodeX509Svid(svid());
    const decoded = decodeX509Svid(wire);
    wire.fill(0);
    assert.deepEqual(decoded, svid());
  });

  it("encodes the empty request as zero bytes", () => {
    assert.equal(encodeX509SvidRequest({}).length, 0);
  });

  for (const [name, wire] of [
    ["a truncated varint", bytes(0x08, 0x80)],
    ["a length past the end", bytes(0x0a, 0x05, 1, 2)],
    ["a truncated fixed64", cat(tag(9, 1), bytes(1, 2, 3))],
    ["a truncated fixed32", cat(tag(9, 5), bytes(1))],
    ["field number 0", bytes(0x02, 0x00)],
    ["wire type 6", cat(tag(9, 6))],
    ["wire type 7", cat(tag(9, 7))],
    ["an unterminated group", cat(tag(9, 3), tag(1, 0), varint(1))],
    ["a mismatched end group", cat(tag(9, 3), tag(8, 4))],
    ["a stray end group", cat(tag(9, 4))],
    ["an 11-byte varint", cat(tag(9, 0), new Uint8Array(10).fill(0xff), bytes(0x01))],
    ["a varint over 64 bits", cat(tag(9, 0), new Uint8Array(9).fill(0xff), bytes(0x02))],
    ["invalid UTF-8 in a string", lenField(1, bytes(0xc3, 0x28))],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(() => decodeX509Svid(wire), ProtoDecodeError);
      assert.throws(() => decodeX509SvidResponse(lenField(1, wire)), ProtoDecodeError);
    });
  }

  it("rejects groups nested without bound", () => {
    const open = Array.from({ length: 100 }, () => tag(9, 3));
    const close = Array.from({ length: 100 }, () => tag(9, 4));
    assert.throws(() => decodeX509SvidRequest(cat(...open, ...close)), /nested too deeply/);
  });
});
