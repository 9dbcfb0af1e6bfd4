import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canonicalJson, entryHash, GENESIS_HASH, type HashedFields } from "./canonical.ts";
import type { AuditEntryInput } from "./types.ts";
import { MAX_DETAIL_STRING, prepareEntry, validateDetails } from "./validate.ts";

const base: AuditEntryInput = {
  tenantId: "tnt_a",
  actor: { type: "user", id: "usr_1" },
  action: "api_key.create",
  outcome: "success",
  correlationId: "corr_1",
  at: new Date("2024-05-01T12:00:00.123Z"),
};

const rejects = (entry: AuditEntryInput) => assert.throws(() => prepareEntry(entry), { code: "INTERNAL" });

describe("canonical encoding", () => {
  test("sorts keys recursively and writes no whitespace", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [true, null], c: "x" } }),
      '{"a":{"c":"x","d":[true,null]},"b":1}',
    );
  });

  test("serializes numbers and strings as RFC 8785 does", () => {
    assert.equal(canonicalJson([1e21, 1e-7, -0, 0.1, "é\n\u0001"]), '[1e+21,1e-7,0,0.1,"é\\n\\u0001"]');
  });

  test("refuses values that have no single encoding", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, "\ud800", { a: undefined }, new Date(0), 1n]) {
      assert.throws(() => canonicalJson(bad), { code: "INTERNAL" });
    }
  });

  test("the hash covers every field and the previous hash", () => {
    const fields: HashedFields = {
      tenantId: "tnt_a",
      seq: 1,
      id: "aud_x",
      occurredAt: "2024-05-01T12:00:00.123Z",
      actorType: "user",
      actorId: "usr_1",
      action: "auth.login",
      outcome: "success",
      targetType: null,
      targetId: null,
      projectId: null,
      correlationId: "corr_1",
      ip: null,
      details: {},
    };
    const h = entryHash(GENESIS_HASH, fields).toString("hex");
    const changes: Partial<HashedFields>[] = [
      { tenantId: "tnt_b" },
      { seq: 2 },
      { id: "aud_y" },
      { occurredAt: "2024-05-01T12:00:00.124Z" },
      { actorType: "operator" },
      { actorId: null },
      { action: "auth.logout" },
      { outcome: "failure" },
      { targetType: "user" },
      { targetId: "x" },
      { projectId: "prj_1" },
      { correlationId: "corr_2" },
      { ip: "::1" },
      { details: { a: 1 } },
    ];
    for (const change of changes) {
      assert.notEqual(
        entryHash(GENESIS_HASH, { ...fields, ...change }).toString("hex"),
        h,
        JSON.stringify(change),
      );
    }
    assert.notEqual(entryHash(Buffer.alloc(32, 1), fields).toString("hex"), h);
  });
});

describe("audit entry admission", () => {
  test("maps a tenantless entry to the system chain and an anonymous actor to no id", () => {
    const e = prepareEntry({ ...base, tenantId: null, actor: { type: "anonymous" } });
    assert.equal(e.chain, "_system");
    assert.equal(e.actorId, null);
    assert.equal(e.occurredAt, "2024-05-01T12:00:00.123Z");
  });

  test("records a workload by its SPIFFE id", () => {
    const e = prepareEntry({ ...base, actor: { type: "workload", spiffeId: "spiffe://zen/ns/a/sa/b" } });
    assert.deepEqual([e.actorType, e.actorId], ["workload", "spiffe://zen/ns/a/sa/b"]);
  });

  test("rejects nested objects and arrays in details", () => {
    assert.throws(() => validateDetails({ nested: { a: 1 } }), { code: "INTERNAL" });
    assert.throws(() => validateDetails({ list: [1, 2] }), { code: "INTERNAL" });
    assert.throws(() => validateDetails([1]), { code: "INTERNAL" });
    assert.throws(() => validateDetails(new Map()), { code: "INTERNAL" });
  });

  test("rejects detail keys that are not snake_case", () => {
    for (const key of ["Name", "1st", "_x", "a-b", "a.b", "", "x".repeat(65), "ключ"]) {
      assert.throws(() => validateDetails({ [key]: 1 }), { code: "INTERNAL" }, key);
    }
    assert.deepEqual(validateDetails({ ["a".repeat(64)]: 1 }), { ["a".repeat(64)]: 1 });
  });

  test("rejects detail keys that name a secret", () => {
    for (const key of ["password", "client_secret", "access_token", "private_key", "cookie"]) {
      assert.throws(() => validateDetails({ [key]: "x" }), { code: "INTERNAL" }, key);
    }
    assert.deepEqual(validateDetails({ secret_version: 2, token_prefix: "zk_" }), {
      secret_version: 2,
      token_prefix: "zk_",
    });
  });

  test("rejects more than 32 detail keys", () => {
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
    assert.throws(() => validateDetails(many), { code: "INTERNAL" });
    delete many.k32;
    assert.equal(Object.keys(validateDetails(many)).length, 32);
  });

  test("rejects values that would not come back from the database unchanged", () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, undefined, "a\u0000b", "\udc00", 1n]) {
      assert.throws(() => validateDetails({ v: value }), { code: "INTERNAL" }, String(value));
    }
  });

  test("truncates long strings without splitting a surrogate pair", () => {
    assert.equal((validateDetails({ s: "x".repeat(2000) }).s as string).length, MAX_DETAIL_STRING);
    const pairAtCut = `${"x".repeat(MAX_DETAIL_STRING - 1)}😀tail`;
    const out = validateDetails({ s: pairAtCut }).s as string;
    assert.equal(out, "x".repeat(MAX_DETAIL_STRING - 1));
    assert.ok(out.isWellFormed());
  });

  test("rejects a malformed action, outcome, correlation id, ip, target or time", () => {
    rejects({ ...base, action: "API_KEY.create" });
    rejects({ ...base, action: "a..b" });
    rejects({ ...base, outcome: "maybe" as "success" });
    rejects({ ...base, correlationId: "" });
    rejects({ ...base, correlationId: "has space" });
    rejects({ ...base, ip: "10.0.0.300" });
    rejects({ ...base, target: { type: "User", id: "usr_1" } });
    rejects({ ...base, target: { type: "user", id: "" } });
    rejects({ ...base, at: new Date(Number.NaN) });
    rejects({ ...base, at: new Date("1969-12-31T23:59:59Z") });
  });

  test("rejects an unknown actor and a tenant named like the system chain", () => {
    rejects({ ...base, actor: { type: "robot", id: "r" } as unknown as AuditEntryInput["actor"] });
    rejects({ ...base, actor: { type: "user", id: "" } });
    rejects({ ...base, tenantId: "_system" });
    rejects({ ...base, tenantId: "" });
  });
});
