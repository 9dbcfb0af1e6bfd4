import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  checkDestinationUrl,
  type GuardOptions,
  type GuardRefusal,
  type Lookup,
  systemLookup,
} from "./guard.ts";
import { type Cidr, parseCidrList } from "./ip.ts";

type Answer = { address: string; family: 4 | 6 }[] | Error | "hang";

/** A resolver from a fixed table, recording every name it was asked for. */
function fakeLookup(table: Record<string, Answer>): Lookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string) => {
    calls.push(hostname);
    const answer = table[hostname];
    if (answer === "hang") return new Promise<never>(() => {});
    if (answer === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return Object.assign(lookup, { calls });
}

function cidrs(text: string): Cidr[] {
  const r = parseCidrList(text);
  assert.ok(r.ok);
  return r.value;
}

const v4 = (address: string) => ({ address, family: 4 as const });
const v6 = (address: string) => ({ address, family: 6 as const });

const dns = fakeLookup({
  "public.test": [v4("93.184.216.34")],
  "internal.test": [v4("10.0.0.5")],
  "mixed.test": [v4("93.184.216.34"), v4("10.0.0.5")],
  "mixed-v6.test": [v6("2606:4700::1111"), v6("fd00:ec2::254")],
  "mapped.test": [v6("::ffff:10.0.0.1")],
  "empty.test": [],
  "garbage.test": [v4("not-an-address")],
  "broken.test": Object.assign(new Error("boom with ?secret=1"), { code: "ESERVFAIL" }),
  "slow.test": "hang",
});

function opts(over: Partial<GuardOptions> = {}): GuardOptions {
  return { lookup: dns, allowCidrs: [], allowPlainHttp: false, ...over };
}

async function refusal(
  url: string,
  o: GuardOptions = opts(),
): Promise<{ reason: GuardRefusal; detail: string }> {
  const r = await checkDestinationUrl(url, o);
  assert.equal(r.ok, false, `${url} should be refused`);
  if (r.ok) throw new Error("unreachable");
  return r;
}

describe("checkDestinationUrl", () => {
  test("accepts a name resolving to a public address and pins that address", async () => {
    const r = await checkDestinationUrl("https://public.test/hooks?x=1", opts());
    assert.ok(r.ok);
    assert.equal(r.value.address, "93.184.216.34");
    assert.equal(r.value.family, 4);
    assert.equal(r.value.hostname, "public.test");
    assert.equal(r.value.url.href, "https://public.test/hooks?x=1");
  });

  test("refuses a name resolving to a private address", async () => {
    const r = await refusal("https://internal.test/");
    assert.equal(r.reason, "address_forbidden");
    assert.equal(r.detail, "internal.test resolves to 10.0.0.5, which is private");
  });

  test("refuses a name with one public and one private record, in either family", async () => {
    assert.equal((await refusal("https://mixed.test/")).reason, "address_forbidden");
    const r = await refusal("https://mixed-v6.test/");
    assert.equal(r.reason, "address_forbidden");
    assert.match(r.detail, /fd00:ec2::254, which is metadata/);
  });

  test("a failing lookup is dns_failed and its message is not echoed", async () => {
    const r = await refusal("https://broken.test/");
    assert.equal(r.reason, "dns_failed");
    assert.equal(r.detail, "broken.test did not resolve (ESERVFAIL)");
    assert.equal((await refusal("https://unknown.test/")).reason, "dns_failed");
  });

  test("a lookup that never answers is dns_failed after the timeout", async () => {
    const started = performance.now();
    const r = await refusal("https://slow.test/", opts({ lookupTimeoutMs: 30 }));
    assert.equal(r.reason, "dns_failed");
    assert.match(r.detail, /timed out after 30 ms/);
    assert.ok(performance.now() - started < 1000);
  });

  test("an empty answer is no_address; an answer that is not an address is dns_failed", async () => {
    assert.equal((await refusal("https://empty.test/")).reason, "no_address");
    assert.equal((await refusal("https://garbage.test/")).reason, "dns_failed");
  });

  test("an allow-listed CIDR opens a private range", async () => {
    const r = await checkDestinationUrl("https://internal.test/", opts({ allowCidrs: cidrs("10.0.0.0/8") }));
    assert.ok(r.ok);
    assert.equal(r.value.address, "10.0.0.5");
    assert.equal(
      (await refusal("https://internal.test/", opts({ allowCidrs: cidrs("10.1.0.0/16") }))).reason,
      "address_forbidden",
    );
  });

  test("no allow-list opens cloud metadata, unspecified, multicast or broadcast addresses", async () => {
    const everything = opts({ allowCidrs: cidrs("0.0.0.0/0,::/0"), allowPlainHttp: true });
    for (const url of [
      "http://169.254.169.254/latest/meta-data/",
      "http://[fd00:ec2::254]/",
      "http://0.0.0.0/",
      "http://[::]/",
      "http://224.0.0.1/",
      "http://255.255.255.255/",
      "http://[ff02::1]/",
    ]) {
      const r = await refusal(url, everything);
      assert.equal(r.reason, "address_forbidden", url);
    }
    assert.ok((await checkDestinationUrl("http://10.0.0.5/", everything)).ok, "the rest it does open");
  });

  test("an IPv4-mapped answer is checked and connected to as IPv4", async () => {
    const r = await checkDestinationUrl("https://mapped.test/", opts({ allowCidrs: cidrs("10.0.0.0/8") }));
    assert.ok(r.ok);
    assert.deepEqual([r.value.address, r.value.family], ["10.0.0.1", 4]);
  });

  test("plain http needs both allowPlainHttp and an allow-listed address", async () => {
    const allow = cidrs("10.0.0.0/8");
    const off = await refusal("http://internal.test/", opts({ allowCidrs: allow }));
    assert.equal(off.reason, "plain_http_not_allowed");
    const publicTarget = await refusal(
      "http://public.test/",
      opts({ allowPlainHttp: true, allowCidrs: allow }),
    );
    assert.equal(publicTarget.reason, "plain_http_not_allowed");
    assert.match(publicTarget.detail, /93\.184\.216\.34, which is not allow-listed for plain http/);
    const notListed = await refusal("http://internal.test/", opts({ allowPlainHttp: true }));
    assert.equal(notListed.reason, "address_forbidden");
    const ok = await checkDestinationUrl(
      "http://internal.test/",
      opts({ allowPlainHttp: true, allowCidrs: allow }),
    );
    assert.ok(ok.ok);
  });

  test("refuses credentials in the URL without repeating them", async () => {
    for (const url of [
      "https://user:hunter2@public.test/",
      "https://hunter2@public.test/",
      "https://:hunter2@public.test/",
    ]) {
      const r = await refusal(url);
      assert.equal(r.reason, "credentials_in_url");
      assert.ok(!r.detail.includes("hunter2"));
    }
  });

  test("refuses anything but http and https, and what is not a URL", async () => {
    for (const url of [
      "ftp://public.test/",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "gopher://public.test/",
    ]) {
      assert.equal((await refusal(url)).reason, "scheme_not_allowed", url);
    }
    for (const url of ["", "public.test/hooks", "https://", "https://exa mple.test/", "https://[::1/"]) {
      assert.equal((await refusal(url)).reason, "invalid_url", url);
    }
  });

  test("never calls lookup for IP literals, in any notation", async () => {
    const spy = fakeLookup({});
    const forms = [
      "https://127.1/",
      "https://0x7f000001/",
      "https://2130706433/",
      "https://0177.0.0.1/",
      "https://[::ffff:127.0.0.1]/",
      "https://[::ffff:7f00:1]/",
      "https://[64:ff9b::a9fe:a9fe]/",
      "https://[2002:7f00:1::]/",
      "https://169.254.169.254/latest/meta-data/",
      "https://[fd00:ec2::254]/",
      "https://0.0.0.0/",
      "https://[::]/",
    ];
    for (const url of forms) {
      assert.equal((await refusal(url, opts({ lookup: spy }))).reason, "address_forbidden", url);
    }
    const ok = await checkDestinationUrl("https://[2606:4700::1111]:8443/", opts({ lookup: spy }));
    assert.ok(ok.ok);
    assert.deepEqual(
      [ok.value.hostname, ok.value.address, ok.value.family],
      ["2606:4700::1111", "2606:4700::1111", 6],
    );
    assert.deepEqual(spy.calls, []);
  });

  test("names the address and its class for a literal", async () => {
    assert.equal((await refusal("https://0x7f000001:8080/?token=s3cret")).detail, "127.0.0.1 is loopback");
    assert.equal((await refusal("https://[::ffff:a9fe:a9fe]/")).detail, "::ffff:169.254.169.254 is metadata");
  });

  test("details never carry the query or the path", async () => {
    const r = await refusal("https://internal.test/p/s3cret?token=s3cret#s3cret");
    assert.ok(!r.detail.includes("s3cret"));
  });

  test("a trailing dot is dropped before resolving and from the URL", async () => {
    const spy = fakeLookup({ "public.test": [v4("93.184.216.34")] });
    const r = await checkDestinationUrl("https://public.test./x", opts({ lookup: spy }));
    assert.ok(r.ok);
    assert.deepEqual(spy.calls, ["public.test"]);
    assert.equal(r.value.url.host, "public.test");
    assert.equal(r.value.hostname, "public.test");
  });

  test("the system lookup treats localhost as a name, and it is refused as loopback", async () => {
    const r = await refusal("https://localhost/", opts({ lookup: systemLookup }));
    assert.equal(r.reason, "address_forbidden");
    assert.match(r.detail, /^localhost resolves to .*, which is loopback$/);
  });
});
