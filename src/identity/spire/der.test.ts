import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { certificatesToPem, concatDer, DerError, pemToDer, splitDerSequences } from "./der.ts";
import { issue, testCa } from "./test-fixtures.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const seq = (header: number[], bodyLength: number, fill = 0xab) =>
  Uint8Array.from([...header, ...new Array<number>(bodyLength).fill(fill)]);

describe("DER certificate splitting", () => {
  it("splits a real leaf + intermediate chain and converts it to PEM node can parse", async () => {
    const ca = await testCa();
    const { svid, message } = await issue(ca, "backend");
    const parts = splitDerSequences(message.x509Svid);
    assert.equal(parts.length, 2);
    const leaf = new X509Certificate(parts[0]!);
    assert.equal(leaf.subjectAltName, `URI:${svid.spiffeId}`);
    assert.ok(leaf.checkIssued(new X509Certificate(parts[1]!)));
    assert.equal(certificatesToPem(message.x509Svid), svid.certChainPem);
  });

  it("reads short-form and one-, two- and three-octet long-form lengths", () => {
    const short = seq([0x30, 0x05], 5);
    const one = seq([0x30, 0x81, 0xc8], 200);
    const two = seq([0x30, 0x82, 0x01, 0x2c], 300);
    const three = seq([0x30, 0x83, 0x01, 0x00, 0x00], 65_536);
    const parts = splitDerSequences(concatDer([short, one, two, three]));
    assert.deepEqual(
      parts.map((p) => p.length),
      [7, 203, 304, 65_541],
    );
    assert.deepEqual(parts[2], two);
    assert.deepEqual(parts[3], three);
  });

  it("returns nothing for empty input", () => {
    assert.deepEqual(splitDerSequences(bytes()), []);
  });

  for (const [name, der, pattern] of [
    ["a non-SEQUENCE element", bytes(0x31, 0x00), /expected SEQUENCE/],
    ["the indefinite length form", bytes(0x30, 0x80, 0x00, 0x00), /indefinite/],
    ["a long form with a leading zero octet", bytes(0x30, 0x82, 0x00, 0x05, 1, 2, 3, 4, 5), /non-minimal/],
    ["a long form for a length under 128", seq([0x30, 0x81, 0x05], 5), /non-minimal/],
    ["a length field of five octets", bytes(0x30, 0x85, 1, 0, 0, 0, 0), /too long/],
    ["a truncated length", bytes(0x30, 0x82, 0x01), /truncated length/],
    ["a missing length", bytes(0x30), /truncated length/],
    ["a body shorter than its length", seq([0x30, 0x82, 0x01, 0x2c], 299), /truncated/],
    ["trailing bytes after the last element", bytes(0x30, 0x00, 0x30), /truncated length/],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => splitDerSequences(der),
        (err: unknown) => err instanceof DerError && pattern.test(err.message),
      );
    });
  }

  it("reads PEM blocks of one label back to DER", async () => {
    const ca = await testCa();
    const { svid, message } = await issue(ca, "backend");
    assert.deepEqual(concatDer(pemToDer(svid.certChainPem, "CERTIFICATE")), message.x509Svid);
    assert.deepEqual(pemToDer(svid.certChainPem, "PRIVATE KEY"), []);
    assert.equal(pemToDer(svid.keyPem, "PRIVATE KEY").length, 1);
  });
});
