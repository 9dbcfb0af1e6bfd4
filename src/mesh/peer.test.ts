import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileAllowList } from "./peer.ts";

describe("SPIFFE allow-lists", () => {
  const allowed = compileAllowList(["spiffe://td/ingester", "spiffe://td/agent/*"], "td");

  it("admits exact IDs and IDs under a /* prefix", () => {
    assert.equal(allowed("spiffe://td/ingester"), true);
    assert.equal(allowed("spiffe://td/agent/c1"), true);
    assert.equal(allowed("spiffe://td/agent/c1/x"), true);
  });

  it("refuses look-alikes: longer IDs, the bare prefix, sibling paths, other trust domains", () => {
    for (const idv of [
      "spiffe://td/ingester2",
      "spiffe://td/ingester/x",
      "spiffe://td/agent",
      "spiffe://td/agent/",
      "spiffe://td/agents/c1",
      "spiffe://other/ingester",
      "spiffe://td.evil/ingester",
    ]) {
      assert.equal(allowed(idv), false, idv);
    }
  });

  it("refuses misconfigured lists at startup", () => {
    assert.throws(() => compileAllowList([], "td"));
    assert.throws(() => compileAllowList(["spiffe://other/ingester"], "td"));
    assert.throws(() => compileAllowList(["*"], "td"));
    assert.throws(() => compileAllowList(["spiffe://td/a/../b"], "td"));
  });
});
