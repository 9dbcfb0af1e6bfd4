import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type AddressClass,
  cidrContains,
  classifyAddress,
  formatIp,
  type IpAddress,
  parseCidrList,
  parseIpLiteral,
} from "./ip.ts";

function parse(text: string): IpAddress {
  const ip = parseIpLiteral(text);
  assert.ok(ip, `${text} should parse`);
  return ip;
}

function classOf(text: string): AddressClass {
  const ip = parse(text);
  return classifyAddress(ip.bytes, ip.family);
}

describe("parseIpLiteral reads every notation a URL host may use", () => {
  const loopbackForms = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "0X7F000001",
    "0x7f.0.0.1",
    "0x7f.1",
    "0177.0.0.1",
    "017700000001",
    "0177.0x0.0.01",
    "127.0.0.1.",
    "[::ffff:127.0.0.1]",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "0:0:0:0:0:ffff:7f00:1",
  ];
  for (const form of loopbackForms) {
    test(`reads ${form} as 127.0.0.1`, () => {
      const ip = parse(form);
      const v4 = ip.family === 4 ? ip.bytes : ip.bytes.subarray(12);
      assert.deepEqual([...v4], [127, 0, 0, 1]);
    });
  }

  const notAddresses = [
    "",
    "example.com",
    "localhost",
    "1.2.3.4.5",
    "256.1",
    "1.2.3.256",
    "4294967296",
    "08.1.1.1",
    "0x1g",
    "1..2",
    ".",
    " 127.0.0.1",
    "127.0.0.1 ",
    "-1",
    "fe80::1%eth0",
    "[fe80::1%25eth0]",
    "::ffff:127.0.0.01",
    "1::2::3",
    "12345::",
    ":1::",
    "::1:",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "1.2.3.4::",
    "[::1",
    "[127.0.0.1]",
  ];
  for (const text of notAddresses) {
    test(`does not take ${JSON.stringify(text)} for an address`, () => {
      assert.equal(parseIpLiteral(text), null);
    });
  }

  test("reads IPv6 with and without brackets, compressed or not", () => {
    assert.deepEqual(parse("[::1]"), parse("0:0:0:0:0:0:0:1"));
    assert.deepEqual(parse("1:2:3:4:5:6:7::"), parse("1:2:3:4:5:6:7:0"));
    assert.equal(formatIp(parse("2001:DB8:0:0:1:0:0:1").bytes, 6), "2001:db8::1:0:0:1");
  });
});

describe("classifyAddress", () => {
  const table: [string, AddressClass][] = [
    ["127.0.0.1", "loopback"],
    ["127.1", "loopback"],
    ["0x7f000001", "loopback"],
    ["2130706433", "loopback"],
    ["0177.0.0.1", "loopback"],
    ["[::ffff:127.0.0.1]", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::127.0.0.1", "loopback"],
    ["::1", "loopback"],
    ["2002:7f00:1::", "loopback"],
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b:1::7f00:1", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["::ffff:10.0.0.1", "private"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["fec0::1", "private"],
    ["64:ff9b:1::808:808", "private"],
    ["169.254.1.1", "link_local"],
    ["fe80::1", "link_local"],
    ["100.64.0.1", "cgnat"],
    ["100.127.255.255", "cgnat"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["ff05::2", "multicast"],
    ["0.0.0.0", "unspecified"],
    ["0", "unspecified"],
    ["0.1", "unspecified"],
    ["::", "unspecified"],
    ["169.254.169.254", "metadata"],
    ["0xa9fea9fe", "metadata"],
    ["::ffff:169.254.169.254", "metadata"],
    ["64:ff9b::a9fe:a9fe", "metadata"],
    ["2002:a9fe:a9fe::", "metadata"],
    ["169.254.170.2", "metadata"],
    ["100.100.100.200", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["255.255.255.255", "broadcast"],
    ["192.0.2.1", "documentation"],
    ["198.51.100.7", "documentation"],
    ["203.0.113.9", "documentation"],
    ["2001:db8::1", "documentation"],
    ["3fff::1", "documentation"],
    ["192.0.0.8", "reserved"],
    ["192.88.99.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["198.19.255.255", "reserved"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.254", "reserved"],
    ["100::1", "reserved"],
    ["2001::1", "reserved"],
    ["2001:1ff::1", "reserved"],
    ["5f00::1", "reserved"],
    ["4000::1", "reserved"],
    ["::ffff:0:7f00:1", "reserved"],
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["0x08080808", "public"],
    ["134744072", "public"],
    ["172.32.0.1", "public"],
    ["100.63.255.255", "public"],
    ["100.128.0.0", "public"],
    ["192.169.0.1", "public"],
    ["2606:4700::1111", "public"],
    ["2001:4860:4860::8888", "public"],
    ["::ffff:8.8.8.8", "public"],
    ["64:ff9b::808:808", "public"],
    ["2002:808:808::1", "public"],
  ];
  for (const [text, cls] of table) {
    test(`classifies ${text} as ${cls}`, () => {
      assert.equal(classOf(text), cls);
    });
  }

  test("refuses bytes of the wrong length as a bug", () => {
    assert.throws(() => classifyAddress(new Uint8Array(5), 4));
  });
});

describe("parseCidrList and cidrContains", () => {
  test("parses IPv4 and IPv6 entries; a bare address is a single host", () => {
    const r = parseCidrList(" 10.0.0.0/8, 192.168.0.0/16,fd00::/8, 127.0.0.1 , ::1,");
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((c) => `${formatIp(c.bytes, c.family)}/${c.prefix}`),
      ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8", "127.0.0.1/32", "::1/128"],
    );
  });

  test("an empty list is empty", () => {
    assert.deepEqual(parseCidrList(""), { ok: true, value: [] });
  });

  const bad: [string, RegExp][] = [
    ["10.0.0.0/33", /"10\.0\.0\.0\/33".*0\.\.32/],
    ["::/129", /"::\/129".*0\.\.128/],
    ["10.0.0.0/08", /"10\.0\.0\.0\/08"/],
    ["10.0.0.0/", /"10\.0\.0\.0\/"/],
    ["10.1/16", /"10\.1\/16".*dotted-quad/],
    ["0x0a000000/8", /"0x0a000000\/8"/],
    ["nope", /"nope" is not a CIDR/],
    ["10.0.0.1/8", /host bits set \(the network is 10\.0\.0\.0\/8\)/],
    ["fe80::1/10", /the network is fe80::\/10/],
  ];
  for (const [entry, message] of bad) {
    test(`refuses ${entry} and names it`, () => {
      const r = parseCidrList(`127.0.0.0/8, ${entry}`);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.reason, message);
    });
  }

  test("matches on the prefix boundary and nowhere else", () => {
    const r = parseCidrList("172.16.0.0/12");
    assert.ok(r.ok);
    const has = (t: string) => {
      const ip = parse(t);
      return cidrContains(r.value, ip.bytes, ip.family);
    };
    assert.equal(has("172.16.0.0"), true);
    assert.equal(has("172.31.255.255"), true);
    assert.equal(has("172.32.0.0"), false);
    assert.equal(has("172.15.255.255"), false);
    assert.equal(has("2001:db8::1"), false);
  });

  test("an IPv4-mapped IPv6 address matches IPv4 CIDRs, and the reverse", () => {
    const v4 = parseCidrList("127.0.0.1/32");
    const v6 = parseCidrList("::ffff:0:0/96");
    assert.ok(v4.ok && v6.ok);
    const mapped = parse("::ffff:127.0.0.1");
    assert.equal(cidrContains(v4.value, mapped.bytes, 6), true);
    assert.equal(cidrContains(v6.value, parse("10.0.0.1").bytes, 4), true);
    assert.equal(cidrContains(v4.value, parse("64:ff9b::7f00:1").bytes, 6), false);
  });

  test("/0 holds every address of its own family only", () => {
    const r = parseCidrList("0.0.0.0/0");
    assert.ok(r.ok);
    assert.equal(cidrContains(r.value, parse("8.8.8.8").bytes, 4), true);
    assert.equal(cidrContains(r.value, parse("2606:4700::1111").bytes, 6), false);
  });
});

/** Mostly numeric dotted text in mixed radices, some of it out of range. */
const ipv4ish = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.nat({ max: 300 }).map(String),
        fc.nat().map((n) => `0x${n.toString(16)}`),
        fc.nat().map((n) => `0${n.toString(8)}`),
        fc.constantFrom("", "0x", "08", "4294967295", "4294967296"),
      ),
      { minLength: 1, maxLength: 5 },
    ),
    fc.boolean(),
  )
  .map(([parts, dot]) => `${parts.join(".")}${dot ? "." : ""}`);

/** Mostly well-formed IPv6 text: groups, at most one gap, sometimes a trailing dotted quad. */
const ipv6ish = fc
  .tuple(
    fc.array(fc.stringMatching(/^[0-9a-f]{1,4}$/), { maxLength: 9 }),
    fc.nat({ max: 9 }),
    fc.boolean(),
    fc.option(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))),
  )
  .map(([groups, at, gap, quad]) => {
    const parts = [...groups];
    if (quad !== null) parts.push(quad.join("."));
    if (!gap) return parts.join(":");
    const i = Math.min(at, parts.length);
    return `${parts.slice(0, i).join(":")}::${parts.slice(i).join(":")}`;
  });

describe("properties", () => {
  test("formatIp then parseIpLiteral is the identity, for both families", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 16 }), (v4, raw) => {
        const family = v4 ? 4 : 6;
        const bytes = v4 ? raw.slice(0, 4) : raw;
        const back = parse(formatIp(bytes, family));
        assert.equal(back.family, family);
        assert.deepEqual([...back.bytes], [...bytes]);
      }),
      { numRuns: 500 },
    );
  });

  test("every IPv4 notation of one number reads as that number", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const [a, b, c, d] = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
        const forms = [
          String(n),
          `0x${n.toString(16)}`,
          `0${n.toString(8)}`,
          `${a}.${n & 0xffffff}`,
          `${a}.${b}.${(c << 8) | d}`,
          `0x${a.toString(16)}.0${b.toString(8)}.${c}.0x${d.toString(16)}`,
        ];
        for (const form of forms) {
          const ip = parse(form);
          assert.deepEqual([...ip.bytes], [a, b, c, d], form);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("never throws, whatever the string", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^[[\]0-9a-fA-FxX.:%]{0,45}$/)),
        (s) => {
          const ip = parseIpLiteral(s);
          if (ip !== null) assert.equal(ip.bytes.length, ip.family === 4 ? 4 : 16);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("agrees with WHATWG URL host parsing on IPv4", () => {
    fc.assert(
      fc.property(fc.oneof(fc.stringMatching(/^[0-9a-fxX.]{1,24}$/), ipv4ish), (s) => {
        let host: string | null = null;
        try {
          host = new URL(`http://${s}/`).hostname;
        } catch {}
        const ours = parseIpLiteral(s);
        const urlSaysIpv4 = host !== null && /^\d+\.\d+\.\d+\.\d+$/.test(host);
        if (urlSaysIpv4) {
          assert.ok(ours, `URL reads ${s} as ${host}`);
          assert.equal(formatIp(ours.bytes, ours.family), host);
        } else {
          assert.equal(ours, null, `URL does not read ${s} as an address`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test("agrees with WHATWG URL host parsing on IPv6, and formats as it does", () => {
    fc.assert(
      fc.property(fc.oneof(fc.stringMatching(/^[0-9a-f:.]{1,45}$/), ipv6ish), (s) => {
        let host: string | null = null;
        try {
          host = new URL(`http://[${s}]/`).hostname;
        } catch {}
        const ours = parseIpLiteral(`[${s}]`);
        if (host === null) {
          assert.equal(ours, null, `URL refuses [${s}]`);
          return;
        }
        assert.ok(ours, `URL reads [${s}] as ${host}`);
        assert.deepEqual(parse(host).bytes, ours.bytes);
        const mapped = ours.bytes.subarray(0, 12).join() === "0,0,0,0,0,0,0,0,0,0,255,255";
        if (!mapped) assert.equal(`[${formatIp(ours.bytes, 6)}]`, host);
      }),
      { numRuns: 3000 },
    );
  });
});
