import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  clientAddress,
  clientBucket,
  parseTrustProxy,
  type TrustProxy,
  trustProxyNotice,
} from "./client-address.ts";

function trust(text: string): TrustProxy {
  const r = parseTrustProxy(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

describe("parseTrustProxy", () => {
  test("unset, empty and false trust nobody", () => {
    for (const text of ["", "  ", "false", "FALSE"]) assert.deepEqual(trust(text), { kind: "none" }, text);
  });

  test("refuses true, naming the forms that replace it", () => {
    for (const text of ["true", "TRUE", " true "]) {
      const r = parseTrustProxy(text);
      assert.equal(r.ok, false, text);
      if (r.ok) continue;
      assert.match(r.reason, /any X-Forwarded-For/);
      assert.match(r.reason, /CIDRs/);
      assert.match(r.reason, /number of proxies/);
    }
  });

  test("reads a hop count of 1..16 and refuses others", () => {
    assert.deepEqual(trust("2"), { kind: "hops", hops: 2 });
    for (const text of ["0", "17", "1000"]) assert.equal(parseTrustProxy(text).ok, false, text);
  });

  test("reads a CIDR list and refuses a malformed one", () => {
    const t = trust("10.0.0.0/8, 127.0.0.1 ,fd00::/8");
    assert.equal(t.kind, "cidrs");
    if (t.kind === "cidrs") assert.equal(t.cidrs.length, 3);
    for (const text of ["10.0.0.1/8", "proxy.internal", "10.0.0.0/33", "10.1"]) {
      const r = parseTrustProxy(text);
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.reason, /CIDRs/, text);
    }
  });
});

describe("clientAddress", () => {
  const proxies = trust("10.0.0.0/8,fd00::/8");

  test("without trust the peer is the client, whatever the header says", () => {
    assert.equal(clientAddress("10.0.0.5", "198.51.100.1", trust("")), "10.0.0.5");
    assert.equal(clientAddress("::ffff:192.0.2.1", "198.51.100.1", trust("")), "192.0.2.1");
  });

  test("a peer that is not a listed proxy is the client", () => {
    assert.equal(clientAddress("192.0.2.1", "198.51.100.1", proxies), "192.0.2.1");
  });

  test("the client is the rightmost address that is not a listed proxy", () => {
    assert.equal(clientAddress("10.0.0.5", "198.51.100.1, 203.0.113.9", proxies), "203.0.113.9");
    assert.equal(clientAddress("10.0.0.5", "198.51.100.1, 203.0.113.9, 10.2.3.4", proxies), "203.0.113.9");
    assert.equal(clientAddress("10.0.0.5", ["198.51.100.1", "203.0.113.9, fd00::7"], proxies), "203.0.113.9");
    assert.equal(clientAddress("fd00::1", "2001:db8::1", proxies), "2001:db8::1");
  });

  test("when every hop is a proxy, the leftmost one is the client", () => {
    assert.equal(clientAddress("10.0.0.5", "10.9.9.9, 10.2.3.4", proxies), "10.9.9.9");
    assert.equal(clientAddress("10.0.0.5", undefined, proxies), "10.0.0.5");
  });

  test("a non-address in the header is never believed: the walk stops at the proxy that sent it", () => {
    for (const bad of ["unknown", "", "[2001:db8::1]:443", "198.51.100.1:80", "10.1", "0x7f.1", "<script>"]) {
      assert.equal(clientAddress("10.0.0.5", `203.0.113.9, ${bad}`, proxies), "10.0.0.5", bad);
    }
  });

  test("a hop count trusts exactly that many proxies from the right", () => {
    const xff = "198.51.100.1, 203.0.113.9, 192.0.2.44";
    assert.equal(clientAddress("192.0.2.1", xff, trust("1")), "192.0.2.44");
    assert.equal(clientAddress("192.0.2.1", xff, trust("2")), "203.0.113.9");
    // More hops than entries: the leftmost entry, never beyond.
    assert.equal(clientAddress("192.0.2.1", "198.51.100.1", trust("5")), "198.51.100.1");
  });

  test("addresses come back canonical, IPv4-mapped as IPv4", () => {
    assert.equal(clientAddress("::ffff:10.0.0.5", "2001:DB8:0:0::1", proxies), "2001:db8::1");
    assert.equal(clientAddress("10.0.0.5", "::ffff:198.51.100.1", proxies), "198.51.100.1");
  });
});

describe("clientBucket", () => {
  test("IPv6 addresses of one /64 share a bucket; the next /64 is another", () => {
    assert.equal(clientBucket("2001:db8:1:2::a"), "2001:db8:1:2::/64");
    assert.equal(clientBucket("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
    assert.notEqual(clientBucket("2001:db8:1:3::a"), clientBucket("2001:db8:1:2::a"));
  });

  test("IPv4 is its own bucket, also when written IPv4-mapped", () => {
    assert.equal(clientBucket("198.51.100.1"), "198.51.100.1");
    assert.equal(clientBucket("::ffff:198.51.100.1"), "198.51.100.1");
    assert.notEqual(clientBucket("198.51.100.1"), clientBucket("198.51.100.2"));
  });
});

describe("trustProxyNotice", () => {
  test("warns when a listener others can reach believes no proxy", () => {
    assert.match(trustProxyNotice("", "0.0.0.0") ?? "", /ZENMESH_API_TRUST_PROXY is not set/);
    assert.match(trustProxyNotice("", "::") ?? "", /shares its address/);
    assert.match(trustProxyNotice("false", "api.internal") ?? "", /ZENMESH_API_TRUST_PROXY/);
  });

  test("says nothing on loopback or when proxies are listed", () => {
    for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost"]) {
      assert.equal(trustProxyNotice("", host), undefined, host);
    }
    assert.equal(trustProxyNotice("10.0.0.0/8", "0.0.0.0"), undefined);
    assert.equal(trustProxyNotice("1", "0.0.0.0"), undefined);
  });
});
