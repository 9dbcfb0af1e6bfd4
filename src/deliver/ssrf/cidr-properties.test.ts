/**
 * Property tests for the egress allow-list parser (parseCidrList): it never
 * throws, refuses with a short reason naming the entry, reads back exactly
 * the networks formatIp writes, and each network it accepts holds its own
 * first and last address and nothing just outside.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type Cidr, cidrContains, formatIp, type IpFamily, parseCidrList } from "./ip.ts";

const RUNS = 300;

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  return bytes.map((b, i) => b & (0xff << (8 - Math.max(0, Math.min(8, prefix - 8 * i)))) & 0xff);
}

function lastOf(c: Cidr): Uint8Array {
  return c.bytes.map((b, i) => b | (~(0xff << (8 - Math.max(0, Math.min(8, c.prefix - 8 * i)))) & 0xff));
}

const network: fc.Arbitrary<Cidr> = fc
  .tuple(fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(128))
  .map(([v4, raw, p]) => {
    const family: IpFamily = v4 ? 4 : 6;
    const prefix = v4 ? p % 33 : p;
    const bytes = masked(v4 ? raw.subarray(0, 4) : raw, prefix);
    return { family, bytes, prefix };
  })
  // ::ffff:a.b.c.d formats as IPv4-in-IPv6; keep the IPv6 side to addresses formatIp writes plainly.
  .filter((c) => c.family === 4 || !(c.bytes.subarray(0, 10).every((b) => b === 0) && c.bytes[10] === 0xff));

const text = (c: Cidr) => `${formatIp(c.bytes, c.family)}/${c.prefix}`;

describe("parseCidrList", () => {
  test("never throws; a refusal names the entry in a bounded message", () => {
    const listish = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: "binary", maxLength: 100 }),
      fc
        .array(fc.oneof(network.map(text), fc.stringMatching(/^[0-9a-fA-F:./ x%]{0,50}$/)), { maxLength: 6 })
        .map((xs) => xs.join(",")),
      fc.string({ minLength: 1000, maxLength: 5000 }),
    );
    fc.assert(
      fc.property(listish, (s) => {
        const r = parseCidrList(s);
        if (!r.ok) assert.ok(r.reason.length < 300, `reason too long: ${r.reason.length}`);
        else for (const c of r.value) assert.equal(c.bytes.length, c.family === 4 ? 4 : 16);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  test("what formatIp writes, with any spacing and empty entries, parses back to the same networks", () => {
    const gap = fc.constantFrom(",", ", ", " ,", ",,", " , ");
    fc.assert(
      fc.property(fc.array(fc.tuple(network, gap), { maxLength: 8 }), (items) => {
        const list = items.map(([c, g]) => `${text(c)}${g}`).join("");
        const r = parseCidrList(list);
        assert.ok(r.ok, `${list}: ${r.ok ? "" : r.reason}`);
        assert.deepEqual(
          r.value.map((c) => ({ family: c.family, bytes: [...c.bytes], prefix: c.prefix })),
          items.map(([c]) => ({ family: c.family, bytes: [...c.bytes], prefix: c.prefix })),
        );
      }),
      { numRuns: RUNS },
    );
  });

  test("a network holds its first and last address, and not the one just past either end", () => {
    fc.assert(
      fc.property(network, (c) => {
        const r = parseCidrList(text(c));
        assert.ok(r.ok);
        const [net] = r.value;
        assert.ok(net);
        assert.ok(cidrContains(r.value, c.bytes, c.family), `${text(c)} holds its first address`);
        assert.ok(cidrContains(r.value, lastOf(net), c.family), `${text(c)} holds its last address`);
        if (c.prefix > 0) {
          // Flip the last network bit: an address in the neighbouring network.
          const outside = Uint8Array.from(c.bytes);
          const bit = c.prefix - 1;
          outside[bit >> 3]! ^= 0x80 >> (bit & 7);
          assert.equal(
            cidrContains(r.value, outside, c.family),
            false,
            `${text(c)} does not hold its neighbour`,
          );
        }
      }),
      { numRuns: RUNS },
    );
  });

  test("an address with host bits set is refused, naming the network it belongs to", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.nat(127),
        (v4, raw, p) => {
          const family: IpFamily = v4 ? 4 : 6;
          const bytes = v4 ? raw.subarray(0, 4) : raw;
          const prefix = v4 ? p % 32 : p;
          const net = masked(bytes, prefix);
          fc.pre(!net.every((b, i) => b === bytes[i]));
          fc.pre(family === 4 || !(bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff));
          const r = parseCidrList(`${formatIp(bytes, family)}/${prefix}`);
          assert.equal(r.ok, false);
          if (!r.ok) assert.ok(r.reason.includes(`${formatIp(net, family)}/${prefix}`), r.reason);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
