import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { CertificateAuthority } from "./ca.ts";
import { parseSpiffeId } from "./spiffe-id.ts";
import { type LeafSpec, type TestIssuer, testIssuer, testLeaf } from "./test-certs.ts";
import { type SvidFailure, SvidLeafCache, validateSvidLeaf, validateSvidLeafCached } from "./validate.ts";
import { x509 } from "./x509.ts";

const TD = "zenmesh.local";
const DS = x509.KeyUsageFlags.digitalSignature;
const GOOD: LeafSpec = { uris: [`spiffe://${TD}/ingester`], ca: false, usages: DS };

describe("validateSvidLeaf", () => {
  let issuer: TestIssuer;
  before(async () => {
    issuer = await testIssuer(TD);
  });

  test("accepts a well-formed leaf built outside the CA, with extra DNS SANs", async () => {
    const der = await testLeaf(issuer, { ...GOOD, dns: ["ingester.internal"] });
    const r = validateSvidLeaf(der, { trustDomain: TD, now: new Date() });
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.value.spiffeId, `spiffe://${TD}/ingester`);
  });

  const now = Date.now();
  const table: Array<[string, LeafSpec, SvidFailure]> = [
    ["two URI SANs", { ...GOOD, uris: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] }, "multiple_uri_sans"],
    ["no URI SAN (DNS only)", { ...GOOD, uris: [], dns: ["ingester.internal"] }, "no_uri_san"],
    ["no SAN at all", { ...GOOD, uris: [] }, "no_uri_san"],
    ["cA=true", { ...GOOD, ca: true }, "ca_certificate"],
    ["no basic constraints", { uris: GOOD.uris, usages: DS }, "basic_constraints_missing"],
    ["keyCertSign", { ...GOOD, usages: DS | x509.KeyUsageFlags.keyCertSign }, "key_usage_cert_sign"],
    ["cRLSign", { ...GOOD, usages: DS | x509.KeyUsageFlags.cRLSign }, "key_usage_crl_sign"],
    ["no key usage", { uris: GOOD.uris, ca: false }, "key_usage_missing"],
    [
      "keyEncipherment without digitalSignature",
      { ...GOOD, usages: x509.KeyUsageFlags.keyEncipherment },
      "key_usage_no_digital_signature",
    ],
    ["another trust domain", { ...GOOD, uris: ["spiffe://evil.example/ingester"] }, "wrong_trust_domain"],
    ["the bare trust domain ID", { ...GOOD, uris: [`spiffe://${TD}`] }, "invalid_spiffe_id"],
    ["a query", { ...GOOD, uris: [`spiffe://${TD}/ingester?x=1`] }, "invalid_spiffe_id"],
    ["a fragment", { ...GOOD, uris: [`spiffe://${TD}/ingester#x`] }, "invalid_spiffe_id"],
    ["a port", { ...GOOD, uris: [`spiffe://${TD}:8443/ingester`] }, "invalid_spiffe_id"],
    ["userinfo", { ...GOOD, uris: [`spiffe://admin@${TD}/ingester`] }, "invalid_spiffe_id"],
    ["an empty segment", { ...GOOD, uris: [`spiffe://${TD}//x`] }, "invalid_spiffe_id"],
    ["a . segment", { ...GOOD, uris: [`spiffe://${TD}/./x`] }, "invalid_spiffe_id"],
    ["a .. segment", { ...GOOD, uris: [`spiffe://${TD}/../x`] }, "invalid_spiffe_id"],
    ["an upper-case scheme", { ...GOOD, uris: [`SPIFFE://${TD}/ingester`] }, "invalid_spiffe_id"],
    ["percent-encoding", { ...GOOD, uris: [`spiffe://${TD}/in%67ester`] }, "invalid_spiffe_id"],
    [
      "expired",
      { ...GOOD, notBefore: new Date(now - 7200_000), notAfter: new Date(now - 3600_000) },
      "expired",
    ],
    [
      "not yet valid",
      { ...GOOD, notBefore: new Date(now + 3600_000), notAfter: new Date(now + 7200_000) },
      "not_yet_valid",
    ],
  ];
  for (const [name, spec, reason] of table) {
    test(`rejects a leaf with ${name} as ${reason}`, async () => {
      const der = await testLeaf(issuer, spec);
      assert.deepEqual(validateSvidLeaf(der, { trustDomain: TD, now: new Date() }), { ok: false, reason });
      // The cache gives the same verdict, twice.
      const cache = new SvidLeafCache();
      assert.deepEqual(cache.validate(der, { trustDomain: TD, now: new Date() }), { ok: false, reason });
      assert.deepEqual(cache.validate(der, { trustDomain: TD, now: new Date() }), { ok: false, reason });
      // The URI-level defects are the ones parseSpiffeId names.
      if (reason === "invalid_spiffe_id" && spec.uris?.[0] !== `spiffe://${TD}`) {
        assert.equal(parseSpiffeId(spec.uris?.[0] ?? "").ok, false);
      }
    });
  }

  test("rejects garbage and empty input as malformed", () => {
    const opts = { trustDomain: TD, now: new Date() };
    assert.deepEqual(validateSvidLeaf(new Uint8Array([0x30, 0x03, 0x02, 0x01]), opts), {
      ok: false,
      reason: "malformed",
    });
    assert.deepEqual(validateSvidLeaf(new Uint8Array(), opts), { ok: false, reason: "malformed" });
    assert.deepEqual(validateSvidLeaf("not a pem", opts), { ok: false, reason: "malformed" });
  });

  test("accepts the CA's own leaves, as DER and as a PEM chain", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    for (const path of ["ingester", "agent/cluster-1", "backend"]) {
      const svid = await ca.issueSvid({ path });
      const der = Buffer.from(
        (svid.certChainPem.split("-----END CERTIFICATE-----")[0] ?? "")
          .replace("-----BEGIN CERTIFICATE-----", "")
          .replace(/\s+/g, ""),
        "base64",
      );
      for (const input of [der, svid.certChainPem]) {
        const r = validateSvidLeaf(input, { trustDomain: TD, now: new Date() });
        assert.deepEqual(r, { ok: true, value: { spiffeId: svid.spiffeId, notAfter: svid.notAfter } });
      }
    }
    // The CA's own certificates are not SVIDs.
    assert.deepEqual(validateSvidLeaf(ca.intermediatePem(), { trustDomain: TD, now: new Date() }), {
      ok: false,
      reason: "invalid_spiffe_id",
    });
  });
});

describe("SvidLeafCache", () => {
  test("re-checks validity on every hit, so a cached leaf expires on time", async () => {
    const issuer = await testIssuer(TD);
    const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000);
    const der = await testLeaf(issuer, { ...GOOD, notAfter });
    const cache = new SvidLeafCache(8);
    assert.equal(cache.validate(der, { trustDomain: TD, now: new Date() }).ok, true);
    assert.deepEqual(cache.validate(der, { trustDomain: TD, now: new Date(notAfter.getTime() + 1) }), {
      ok: false,
      reason: "expired",
    });
    assert.equal(cache.size, 1);
    // The expected trust domain is part of the key.
    assert.deepEqual(cache.validate(der, { trustDomain: "other.td", now: new Date() }), {
      ok: false,
      reason: "wrong_trust_domain",
    });
    assert.equal(cache.size, 2);
  });

  test("stays within its bound, evicting the least recently used", async () => {
    const issuer = await testIssuer(TD);
    const leaves = await Promise.all([1, 2, 3].map(() => testLeaf(issuer, GOOD)));
    const cache = new SvidLeafCache(2);
    const opts = { trustDomain: TD, now: new Date() };
    for (const der of leaves) assert.equal(cache.validate(der, opts).ok, true);
    assert.equal(cache.size, 2);
  });

  test("validateSvidLeafCached answers like validateSvidLeaf, and fast on a hit", async () => {
    const ca = await CertificateAuthority.create({ trustDomain: TD });
    const svid = await ca.issueSvid({ path: "egress" });
    const opts = { trustDomain: TD, now: new Date() };
    assert.deepEqual(
      validateSvidLeafCached(svid.certChainPem, opts),
      validateSvidLeaf(svid.certChainPem, opts),
    );
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) validateSvidLeafCached(svid.certChainPem, opts);
    assert.ok(performance.now() - t0 < 1000, "1000 cached validations take under a second");
  });
});
