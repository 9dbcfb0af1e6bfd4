import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixedClock, systemClock } from "../../core/index.ts";
import { concatDer, splitDerSequences } from "./der.ts";
import { selectSvid, spiffeIdTrustDomain, toSvid } from "./svid.ts";
import { issue, response, testCa } from "./test-fixtures.ts";

describe("SVIDs from Workload API messages", () => {
  it("turns a CA-issued message back into the same Svid", async () => {
    const ca = await testCa();
    const { svid, message } = await issue(ca, "backend");
    const got = toSvid(message, systemClock);
    assert.ok(got.ok);
    assert.equal(got.svid.spiffeId, svid.spiffeId);
    assert.equal(got.svid.certChainPem, svid.certChainPem);
    assert.equal(got.svid.bundlePem, svid.bundlePem);
    assert.equal(got.svid.notAfter.getTime(), svid.notAfter.getTime());
    assert.match(got.svid.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  it("accepts a chain that ends with the root itself", async () => {
    const ca = await testCa();
    const { message } = await issue(ca, "backend");
    const withRoot = { ...message, x509Svid: concatDer([message.x509Svid, message.bundle]) };
    assert.ok(toSvid(withRoot, systemClock).ok);
  });

  it("selects the SVID with the requested SPIFFE ID, else the first", async () => {
    const ca = await testCa();
    const backend = await issue(ca, "backend");
    const ingester = await issue(ca, "ingester");
    const resp = response(backend.message, ingester.message);
    const picked = selectSvid(resp, { spiffeId: ingester.svid.spiffeId }, systemClock);
    assert.ok(picked.ok);
    assert.equal(picked.svid.spiffeId, "spiffe://zenmesh.test/ingester");
    const first = selectSvid(resp, {}, systemClock);
    assert.ok(first.ok);
    assert.equal(first.svid.spiffeId, "spiffe://zenmesh.test/backend");
  });

  it("selects by trust domain and refuses SVIDs of another one", async () => {
    const other = await issue(await testCa("partner.example"), "backend");
    const ours = await issue(await testCa(), "backend");
    const picked = selectSvid(
      response(other.message, ours.message),
      { trustDomain: "zenmesh.test" },
      systemClock,
    );
    assert.ok(picked.ok);
    assert.equal(picked.svid.spiffeId, ours.svid.spiffeId);
    const none = selectSvid(response(other.message), { trustDomain: "zenmesh.test" }, systemClock);
    assert.deepEqual(none.ok ? null : none.reason, "no_matching_svid");
  });

  it("reports an empty response and a missing identity", async () => {
    const ca = await testCa();
    const { message } = await issue(ca, "backend");
    const empty = selectSvid(response(), {}, systemClock);
    assert.equal(empty.ok ? null : empty.reason, "no_svids");
    const missing = selectSvid(response(message), { spiffeId: "spiffe://zenmesh.test/egress" }, systemClock);
    assert.equal(missing.ok ? null : missing.reason, "no_matching_svid");
    assert.match(missing.ok ? "" : missing.message, /spiffe:\/\/zenmesh\.test\/backend/);
  });

  it("refuses a message whose SPIFFE ID differs from the certificate's URI SAN", async () => {
    const ca = await testCa();
    const { message } = await issue(ca, "backend");
    const got = toSvid({ ...message, spiffeId: "spiffe://zenmesh.test/ingester" }, systemClock);
    assert.equal(got.ok ? null : got.reason, "uri_san_mismatch");
  });

  it("refuses an invalid SPIFFE ID", async () => {
    const ca = await testCa();
    const { message } = await issue(ca, "backend");
    const got = toSvid({ ...message, spiffeId: "spiffe://ZenMesh.test/backend" }, systemClock);
    assert.equal(got.ok ? null : got.reason, "invalid_spiffe_id");
  });

  it("refuses a key that does not belong to the leaf, without quoting it", async () => {
    const ca = await testCa();
    const a = await issue(ca, "backend");
    const b = await issue(ca, "backend");
    const got = toSvid({ ...a.message, x509SvidKey: b.message.x509SvidKey }, systemClock);
    assert.equal(got.ok ? null : got.reason, "key_mismatch");
    const garbage = toSvid(
      { ...a.message, x509SvidKey: Uint8Array.from([0x30, 0x03, 1, 2, 3]) },
      systemClock,
    );
    assert.equal(garbage.ok ? null : garbage.reason, "malformed_key");
  });

  it("refuses a chain that does not lead to the bundle", async () => {
    const ours = await issue(await testCa(), "backend");
    const foreign = await issue(await testCa(), "backend");
    const got = toSvid({ ...ours.message, bundle: foreign.message.bundle }, systemClock);
    assert.equal(got.ok ? null : got.reason, "chain_untrusted");
    const leafOnly = splitDerSequences(ours.message.x509Svid)[0]!;
    const noIntermediate = toSvid({ ...ours.message, x509Svid: leafOnly }, systemClock);
    assert.equal(noIntermediate.ok ? null : noIntermediate.reason, "chain_untrusted");
  });

  it("refuses malformed chains and empty bundles", async () => {
    const { message } = await issue(await testCa(), "backend");
    const truncated = toSvid({ ...message, x509Svid: message.x509Svid.subarray(0, 100) }, systemClock);
    assert.equal(truncated.ok ? null : truncated.reason, "malformed_chain");
    const noChain = toSvid({ ...message, x509Svid: new Uint8Array(0) }, systemClock);
    assert.equal(noChain.ok ? null : noChain.reason, "malformed_chain");
    const noBundle = toSvid({ ...message, bundle: new Uint8Array(0) }, systemClock);
    assert.equal(noBundle.ok ? null : noBundle.reason, "malformed_bundle");
  });

  it("refuses an SVID outside its validity window by the given clock", async () => {
    const { svid, message } = await issue(await testCa(), "backend", 600);
    const later = fixedClock(svid.notAfter.getTime() + 1000);
    assert.equal(((r) => (r.ok ? null : r.reason))(toSvid(message, later)), "expired");
    const earlier = fixedClock(svid.notBefore.getTime() - 1000);
    assert.equal(((r) => (r.ok ? null : r.reason))(toSvid(message, earlier)), "not_yet_valid");
  });

  it("parses trust domains of SPIFFE IDs", () => {
    assert.equal(spiffeIdTrustDomain("spiffe://zenmesh.test/agent/c1"), "zenmesh.test");
    assert.equal(spiffeIdTrustDomain("spiffe://zenmesh.test/a/../b"), null);
    assert.equal(spiffeIdTrustDomain("https://zenmesh.test/a"), null);
  });
});
