import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeWorkloadPath, parseSpiffeId, type SpiffeIdFailure } from "./spiffe-id.ts";

describe("parseSpiffeId", () => {
  test("accepts workload IDs and the trust domain's own ID", () => {
    assert.deepEqual(parseSpiffeId("spiffe://zenmesh.local/ingester"), {
      ok: true,
      value: { trustDomain: "zenmesh.local", path: "/ingester" },
    });
    assert.deepEqual(parseSpiffeId("spiffe://td-1_x.example/agent/Cluster-1.a_b"), {
      ok: true,
      value: { trustDomain: "td-1_x.example", path: "/agent/Cluster-1.a_b" },
    });
    assert.deepEqual(parseSpiffeId("spiffe://zenmesh.local"), {
      ok: true,
      value: { trustDomain: "zenmesh.local", path: "" },
    });
  });

  const cases: Array<[string, SpiffeIdFailure]> = [
    ["", "empty"],
    ["SPIFFE://td/x", "wrong_scheme"],
    ["Spiffe://td/x", "wrong_scheme"],
    ["https://td/x", "wrong_scheme"],
    ["spiffe:/td/x", "wrong_scheme"],
    ["spiffe://", "missing_trust_domain"],
    ["spiffe:///x", "missing_trust_domain"],
    ["spiffe://TD/x", "invalid_trust_domain"],
    ["spiffe://t*d/x", "invalid_trust_domain"],
    ["spiffe://td:443/x", "port"],
    ["spiffe://user@td/x", "userinfo"],
    ["spiffe://user:pw@td/x", "userinfo"],
    ["spiffe://td/x?a=b", "query"],
    ["spiffe://td?a", "query"],
    ["spiffe://td/x#frag", "fragment"],
    ["spiffe://td//x", "empty_segment"],
    ["spiffe://td/x/", "empty_segment"],
    ["spiffe://td/", "empty_segment"],
    ["spiffe://td/./x", "dot_segment"],
    ["spiffe://td/x/..", "dot_segment"],
    ["spiffe://td/x%2Fy", "percent_encoding"],
    ["spiffe://t%41d/x", "percent_encoding"],
    ["spiffe://td/x y", "invalid_path_char"],
    ["spiffe://td/ünï", "invalid_path_char"],
    [`spiffe://td/${"a".repeat(2048)}`, "too_long"],
  ];
  for (const [id, reason] of cases) {
    test(`rejects ${JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id)} as ${reason}`, () => {
      assert.deepEqual(parseSpiffeId(id), { ok: false, reason });
    });
  }

  test("accepts an ID of exactly 2048 bytes and rejects a trust domain over 255 bytes", () => {
    const prefix = "spiffe://td/";
    assert.equal(parseSpiffeId(prefix + "a".repeat(2048 - prefix.length)).ok, true);
    assert.deepEqual(parseSpiffeId(`spiffe://${"a".repeat(256)}/x`), {
      ok: false,
      reason: "invalid_trust_domain",
    });
  });
});

describe("normalizeWorkloadPath", () => {
  test("accepts a path with or without a leading slash", () => {
    assert.deepEqual(normalizeWorkloadPath("agent/cluster-1"), { ok: true, value: "/agent/cluster-1" });
    assert.deepEqual(normalizeWorkloadPath("/ingester"), { ok: true, value: "/ingester" });
  });
  test("rejects empty, dot and malformed paths", () => {
    for (const p of ["", "/", "a//b", "../x", "a/./b", "a?b", "a#b", "a%20b", "a/"]) {
      assert.equal(normalizeWorkloadPath(p).ok, false, p);
    }
  });
});
