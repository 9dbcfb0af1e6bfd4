import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CONDITION_OPS,
  type Condition,
  MAX_CONDITION_VALUE_BYTES,
  matchesConditions,
  matchesType,
  validateConditions,
  validateTypePatterns,
} from "./filter.ts";

const reasonOf = (r: { ok: true } | { ok: false; reason: string }) => (r.ok ? "ok" : r.reason);
const ANYTHING = fc.anything({
  withNullPrototype: true,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  withBoxedValues: true,
  withObjectString: true,
});

// ---- type patterns ----

test("exact types, * and prefix wildcards are valid type patterns", () => {
  const patterns = ["com.github.push", "*", "com.github.*", "com.stripe.invoice.*", "com.stripe.inv*", "a"];
  assert.deepEqual(validateTypePatterns(patterns), { ok: true, value: patterns });
  assert.deepEqual(validateTypePatterns([]), { ok: true, value: [] });
  assert.ok(validateTypePatterns(Array(50).fill("x")).ok);
  assert.ok(validateTypePatterns(["x".repeat(256)]).ok);
});

test("type patterns are refused with a reason naming the index", () => {
  const cases: [unknown, string][] = [
    ["com.github.*", "types: must be an array of strings"],
    [null, "types: must be an array of strings"],
    [Array(51).fill("x"), "types: at most 50 patterns"],
    [["ok", 7], "types[1]: must be a string"],
    [[""], "types[0]: must not be empty"],
    [["x".repeat(257)], "types[0]: at most 256 characters"],
    [["com.exämple"], "types[0]: printable ASCII only"],
    [["com.x\n"], "types[0]: must not contain invisible or control characters"],
    [["com.x\u0000"], "types[0]: must not contain invisible or control characters"],
    [["com.\u202epush"], "types[0]: must not contain invisible or control characters"],
    [["a", "com.*.push"], 'types[1]: "*" is allowed only at the end'],
    [["*.push"], 'types[0]: "*" is allowed only at the end'],
    [["com.**"], 'types[0]: "*" is allowed only at the end'],
  ];
  for (const [input, reason] of cases) assert.equal(reasonOf(validateTypePatterns(input)), reason);
});

test("an empty pattern list matches every type", () => {
  assert.ok(matchesType([], "com.github.push"));
  assert.ok(matchesType([], ""));
});

test("exact patterns match only their type; * matches everything", () => {
  assert.ok(matchesType(["com.github.push"], "com.github.push"));
  assert.equal(matchesType(["com.github.push"], "com.github.push.x"), false);
  assert.equal(matchesType(["com.github.push"], "com.github.pus"), false);
  assert.ok(matchesType(["*"], "anything.at.all"));
});

test("a prefix wildcard matches types that start with the prefix, and only those", () => {
  assert.ok(matchesType(["com.github.*"], "com.github.push"));
  assert.ok(matchesType(["com.github.*"], "com.github.pull_request.opened"));
  assert.equal(matchesType(["com.github.*"], "com.github"), false);
  assert.equal(matchesType(["com.github.*"], "com.githubx.push"), false);
  assert.ok(matchesType(["com.stripe.inv*"], "com.stripe.invoice.paid"));
  assert.equal(matchesType(["com.stripe.inv*"], "com.stripe.charge"), false);
  assert.ok(matchesType(["com.stripe.charge.*", "com.github.*"], "com.github.push"));
});

// ---- conditions: validation ----

test("every operator validates with a value of its kind", () => {
  const conditions: Condition[] = [
    { path: "data.object.amount", op: "eq", value: 1200 },
    { path: "data", op: "ne", value: { a: [1, "x", null] } },
    { path: "status", op: "in", value: ["paid", 3, true, null] },
    { path: "status", op: "nin", value: [] },
    { path: "data.id", op: "exists" },
    { path: "data.deleted", op: "not_exists" },
    { path: "tags", op: "contains", value: { k: "v" } },
    { path: "name", op: "prefix", value: "acme-" },
    { path: "n", op: "gt", value: 5 },
    { path: "n", op: "gte", value: "2026-01-01" },
    { path: "items.0.sku", op: "lt", value: -1.5 },
    { path: "$", op: "lte", value: "z" },
  ];
  assert.deepEqual(new Set(conditions.map((c) => c.op)), new Set(CONDITION_OPS));
  assert.deepEqual(validateConditions(conditions), { ok: true, value: conditions });
  assert.deepEqual(validateConditions([]), { ok: true, value: [] });
});

test("conditions are refused with a reason naming the index and the field", () => {
  const good = { path: "a", op: "eq", value: 1 };
  const cases: [unknown, string][] = [
    [{}, "conditions: must be an array"],
    [Array(21).fill(good), "conditions: at most 20 conditions"],
    [[good, good, { path: "a", op: "regex", value: "x" }], "conditions[2].op: unknown operator"],
    [[{ path: "a", op: "toString", value: "x" }], "conditions[0].op: unknown operator"],
    [[{ path: "a", value: 1 }], "conditions[0].op: unknown operator"],
    [[null], "conditions[0]: must be an object"],
    [[[good]], "conditions[0]: must be an object"],
    [[{ ...good, extra: 1 }], 'conditions[0]: unknown field "extra"'],
    [[{ op: "eq", value: 1 }], "conditions[0].path: must be a string"],
    [[{ path: "a", op: "eq" }], "conditions[0].value: required with eq"],
    [[{ path: "a", op: "eq", value: undefined }], "conditions[0].value: required with eq"],
    [[{ path: "a", op: "exists", value: true }], "conditions[0].value: not allowed with exists"],
    [[{ path: "a", op: "not_exists", value: null }], "conditions[0].value: not allowed with not_exists"],
    [
      [{ path: "a", op: "in", value: "paid" }],
      "conditions[0].value: in takes an array of at most 100 strings, numbers, booleans or nulls",
    ],
    [
      [{ path: "a", op: "nin", value: Array(101).fill(1) }],
      "conditions[0].value: nin takes an array of at most 100 strings, numbers, booleans or nulls",
    ],
    [
      [{ path: "a", op: "in", value: [[1]] }],
      "conditions[0].value: in takes an array of at most 100 strings, numbers, booleans or nulls",
    ],
    [
      [{ path: "a", op: "in", value: [{}] }],
      "conditions[0].value: in takes an array of at most 100 strings, numbers, booleans or nulls",
    ],
    [[{ path: "a", op: "gt", value: true }], "conditions[0].value: gt takes a number or a string"],
    [[{ path: "a", op: "lte", value: null }], "conditions[0].value: lte takes a number or a string"],
    [[{ path: "a", op: "prefix", value: 1 }], "conditions[0].value: prefix takes a string"],
  ];
  for (const [input, reason] of cases) assert.equal(reasonOf(validateConditions(input)), reason, reason);
});

test("a path is $ or up to 16 dotted segments of [A-Za-z0-9_-], 1 to 64 each", () => {
  const valid = [
    "$",
    "a",
    "data.object.amount",
    "items.0.sku",
    "a-b_C9",
    "x".repeat(64),
    Array(16).fill("a").join("."),
  ];
  for (const path of valid) assert.ok(validateConditions([{ path, op: "exists" }]).ok, path);
  const invalid = [
    "",
    ".",
    "a.",
    ".a",
    "a..b",
    "$.a",
    "$$",
    "a b",
    "a/b",
    "a[0]",
    "é",
    "x".repeat(65),
    Array(17).fill("a").join("."),
  ];
  for (const path of invalid) {
    assert.match(reasonOf(validateConditions([{ path, op: "exists" }])), /^conditions\[0\]\.path: /, path);
  }
});

test("values must be plain JSON", () => {
  const sparse: unknown[] = [];
  sparse[2] = 1;
  class Thing {
    x = 1;
  }
  const withGetter = Object.defineProperty({}, "x", { get: () => 1, enumerable: true });
  for (const value of [
    Number.NaN,
    Number.POSITIVE_INFINITY,
    () => 1,
    Symbol("s"),
    10n,
    new Date(0),
    new Map(),
    new Thing(),
    [undefined],
    { a: undefined },
    sparse,
    withGetter,
  ]) {
    assert.equal(
      reasonOf(validateConditions([{ path: "a", op: "eq", value }])),
      "conditions[0].value: must be JSON (null, booleans, finite numbers, strings, arrays, objects)",
      String(value),
    );
  }
  assert.ok(
    validateConditions([{ path: "a", op: "eq", value: Object.assign(Object.create(null), { k: 1 }) }]).ok,
  );
});

test("values nested too deeply or larger than 4 KiB in total are refused", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  assert.equal(
    reasonOf(validateConditions([{ path: "a", op: "eq", value: deep }])),
    "conditions[0].value: nested more than 32 levels",
  );
  const tooLarge = "conditions[1].value: the values together exceed 4096 bytes of JSON";
  const half = "x".repeat(2100);
  assert.equal(
    reasonOf(
      validateConditions([
        { path: "a", op: "eq", value: half },
        { path: "b", op: "eq", value: half },
      ]),
    ),
    tooLarge,
  );
  // Counted in UTF-8 bytes of the JSON encoding: 1400 three-byte characters plus quotes.
  const wide = "€".repeat(1400);
  assert.equal(
    reasonOf(
      validateConditions([
        { path: "a", op: "eq", value: 1 },
        { path: "b", op: "eq", value: wide },
      ]),
    ),
    tooLarge,
  );
  const exact = "x".repeat(MAX_CONDITION_VALUE_BYTES - 2);
  assert.ok(validateConditions([{ path: "a", op: "eq", value: exact }]).ok);
  assert.equal(
    reasonOf(validateConditions([{ path: "a", op: "eq", value: Array(5000).fill(0) }])),
    "conditions[0].value: the values together exceed 4096 bytes of JSON",
  );
  const huge: unknown[] = [];
  huge.length = 2 ** 31;
  assert.ok(!validateConditions([{ path: "a", op: "eq", value: huge }]).ok);
});

test("validated conditions are copies the caller can no longer change", () => {
  const value = { amount: 1 };
  const r = validateConditions([{ path: "a", op: "eq", value }]);
  assert.ok(r.ok);
  value.amount = 2;
  assert.deepEqual(r.value[0]!.value, { amount: 1 });
});

// ---- conditions: matching ----

const event = {
  type: "invoice.paid",
  data: {
    object: { amount: 1200, currency: "eur", customer: null, metadata: { plan: "pro" } },
    items: [
      { sku: "A-1", qty: 2 },
      { sku: "B-2", qty: 1 },
    ],
    tags: ["vip", "eu", { k: "v" }],
    name: "acme-corp",
    version: "2026-01-15",
  },
};
const match = (c: Condition | Condition[], payload: unknown = event) =>
  matchesConditions(Array.isArray(c) ? c : [c], payload);

test("eq and ne compare scalars and, deeply, objects and arrays", () => {
  assert.ok(match({ path: "data.object.amount", op: "eq", value: 1200 }));
  assert.equal(match({ path: "data.object.amount", op: "eq", value: "1200" }), false);
  assert.ok(match({ path: "data.object.customer", op: "eq", value: null }));
  assert.ok(match({ path: "data.object.metadata", op: "eq", value: { plan: "pro" } }));
  assert.equal(match({ path: "data.object.metadata", op: "eq", value: { plan: "pro", x: 1 } }), false);
  assert.ok(match({ path: "data.items.0", op: "eq", value: { qty: 2, sku: "A-1" } }));
  assert.ok(match({ path: "data.tags", op: "eq", value: ["vip", "eu", { k: "v" }] }));
  assert.equal(match({ path: "data.tags", op: "eq", value: ["eu", "vip", { k: "v" }] }), false);
  assert.equal(match({ path: "data.tags", op: "eq", value: { 0: "vip", 1: "eu", 2: { k: "v" } } }), false);
  assert.ok(match({ path: "data.object.currency", op: "ne", value: "usd" }));
  assert.equal(match({ path: "data.object.currency", op: "ne", value: "eur" }), false);
});

test("in and nin test membership", () => {
  assert.ok(match({ path: "data.object.currency", op: "in", value: ["usd", "eur"] }));
  assert.equal(match({ path: "data.object.currency", op: "in", value: ["usd"] }), false);
  assert.equal(match({ path: "data.object.currency", op: "in", value: [] }), false);
  assert.ok(match({ path: "data.object.customer", op: "in", value: [null] }));
  assert.ok(match({ path: "data.object.currency", op: "nin", value: ["usd", "gbp"] }));
  assert.equal(match({ path: "data.object.currency", op: "nin", value: ["eur"] }), false);
});

test("exists and not_exists look at presence: a null value exists", () => {
  assert.ok(match({ path: "data.object.customer", op: "exists" }));
  assert.equal(match({ path: "data.object.customer", op: "not_exists" }), false);
  assert.ok(match({ path: "data.object.refund", op: "not_exists" }));
  assert.equal(match({ path: "data.object.refund", op: "exists" }), false);
  assert.ok(match({ path: "data.object.amount.deeper", op: "not_exists" }));
});

test("a missing path fails every operator but not_exists, ne and nin included", () => {
  for (const c of [
    { path: "nope", op: "eq", value: 1 },
    { path: "nope", op: "ne", value: 1 },
    { path: "nope", op: "in", value: [1] },
    { path: "nope", op: "nin", value: [1] },
    { path: "nope", op: "contains", value: "x" },
    { path: "nope", op: "prefix", value: "x" },
    { path: "nope", op: "gt", value: 0 },
    { path: "nope", op: "exists" },
  ] satisfies Condition[]) {
    assert.equal(match(c), false, c.op);
  }
});

test("contains finds a substring in a string and a deep-equal member in an array", () => {
  assert.ok(match({ path: "data.name", op: "contains", value: "e-c" }));
  assert.equal(match({ path: "data.name", op: "contains", value: "zzz" }), false);
  assert.ok(match({ path: "data.tags", op: "contains", value: "vip" }));
  assert.ok(match({ path: "data.tags", op: "contains", value: { k: "v" } }));
  assert.equal(match({ path: "data.tags", op: "contains", value: "vi" }), false);
  assert.equal(match({ path: "data.name", op: "contains", value: 1 }), false);
  assert.equal(match({ path: "data.object", op: "contains", value: "eur" }), false);
});

test("prefix matches the start of a string", () => {
  assert.ok(match({ path: "data.name", op: "prefix", value: "acme-" }));
  assert.equal(match({ path: "data.name", op: "prefix", value: "corp" }), false);
  assert.equal(match({ path: "data.object.amount", op: "prefix", value: "12" }), false);
});

test("gt, gte, lt and lte compare numbers numerically and strings lexicographically; mixed types are false", () => {
  assert.ok(match({ path: "data.object.amount", op: "gt", value: 1000 }));
  assert.equal(match({ path: "data.object.amount", op: "gt", value: 1200 }), false);
  assert.ok(match({ path: "data.object.amount", op: "gte", value: 1200 }));
  assert.ok(match({ path: "data.object.amount", op: "lt", value: 1200.5 }));
  assert.ok(match({ path: "data.object.amount", op: "lte", value: 1200 }));
  assert.equal(match({ path: "data.object.amount", op: "lte", value: 1199 }), false);
  // Numerically 9 < 10, lexicographically "9" > "10".
  assert.ok(match({ path: "n", op: "lt", value: 10 }, { n: 9 }));
  assert.ok(match({ path: "n", op: "gt", value: "10" }, { n: "9" }));
  assert.ok(match({ path: "data.version", op: "gte", value: "2026-01-01" }));
  assert.ok(match({ path: "data.version", op: "lt", value: "2026-02-01" }));
  for (const op of ["gt", "gte", "lt", "lte"] as const) {
    assert.equal(match({ path: "data.object.amount", op, value: "1200" }), false, op);
    assert.equal(match({ path: "data.version", op, value: 5 }), false, op);
    assert.equal(match({ path: "data.object.customer", op, value: 0 }), false, op);
  }
});

test("paths index arrays by decimal position; $ is the whole payload", () => {
  assert.ok(match({ path: "data.items.1.sku", op: "eq", value: "B-2" }));
  assert.equal(match({ path: "data.items.2.sku", op: "exists" }), false);
  assert.equal(match({ path: "data.items.01.sku", op: "exists" }), false);
  assert.equal(match({ path: "data.items.length", op: "exists" }), false);
  assert.ok(match({ path: "$", op: "eq", value: [1, 2] }, [1, 2]));
  assert.ok(match({ path: "0", op: "eq", value: 1 }, [1, 2]));
  assert.ok(match({ path: "$", op: "exists" }, null));
  assert.ok(match({ path: "$", op: "eq", value: "text" }, "text"));
  assert.ok(match({ path: "$", op: "exists" }, event));
});

test("all conditions must hold; an empty list holds", () => {
  const amount = { path: "data.object.amount", op: "gte", value: 1000 } satisfies Condition;
  const eur = { path: "data.object.currency", op: "eq", value: "eur" } satisfies Condition;
  const usd = { path: "data.object.currency", op: "eq", value: "usd" } satisfies Condition;
  assert.ok(match([amount, eur]));
  assert.equal(match([amount, usd]), false);
  assert.ok(matchesConditions([], event));
  assert.ok(matchesConditions([], undefined));
});

test("a payload that is not JSON satisfies only not_exists", () => {
  for (const op of CONDITION_OPS) {
    const c = { path: "$", op, value: op === "in" || op === "nin" ? [1] : 1 } as Condition;
    assert.equal(matchesConditions([c], undefined), op === "not_exists", op);
    assert.equal(matchesConditions([{ ...c, path: "a.b" }], undefined), op === "not_exists", op);
  }
});

test("prototype members never resolve: __proto__, constructor and friends read only own data", () => {
  for (const path of [
    "__proto__",
    "constructor",
    "constructor.name",
    "toString",
    "hasOwnProperty",
    "__proto__.toString",
    "data.__proto__",
  ]) {
    assert.equal(match({ path, op: "exists" }, { data: {} }), false, path);
    assert.ok(match({ path, op: "not_exists" }, { data: {} }), path);
  }
  assert.equal(match({ path: "items.constructor", op: "exists" }, { items: [] }), false);
  // JSON.parse makes "__proto__" an own data property: that data is reachable, nothing more.
  const parsed: unknown = JSON.parse('{"__proto__":{"polluted":"yes"},"a":1}');
  assert.ok(match({ path: "__proto__.polluted", op: "eq", value: "yes" }, parsed));
  assert.ok(match({ path: "__proto__", op: "eq", value: { polluted: "yes" } }, parsed));
  assert.equal("polluted" in {}, false);
});

test("a condition that never passed validation fails instead of throwing", () => {
  const broken = [
    { path: "a", op: "regex", value: "x" },
    { path: 7, op: "eq", value: 1 },
    { path: "a..b", op: "exists" },
    { path: "a", op: "in", value: "not an array" },
    null,
    "eq",
  ] as unknown as Condition[];
  for (const c of broken) assert.equal(matchesConditions([c], { a: "x" }), false, JSON.stringify(c));
});

test("validation and matching never throw on arbitrary input", () => {
  const condition = fc.record(
    {
      path: fc.oneof(
        fc.constantFrom("$", "a", "a.b", "a.0", "__proto__", "constructor.name", "0"),
        fc.string(),
        ANYTHING,
      ),
      op: fc.oneof(fc.constantFrom(...CONDITION_OPS), fc.string(), ANYTHING),
      value: ANYTHING,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(ANYTHING, fc.array(condition, { maxLength: 25 })), ANYTHING, (input, payload) => {
      validateTypePatterns(input);
      const v = validateConditions(input);
      assert.equal(
        typeof matchesConditions(Array.isArray(input) ? (input as Condition[]) : [], payload),
        "boolean",
      );
      if (v.ok) {
        assert.equal(typeof matchesConditions(v.value, payload), "boolean");
        assert.deepEqual(validateConditions(v.value), v);
      }
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.string(), ANYTHING), { maxLength: 60 }),
      fc.string(),
      (patterns, type) => {
        const v = validateTypePatterns(patterns);
        if (v.ok) assert.equal(typeof matchesType(v.value, type), "boolean");
      },
    ),
  );
  assert.equal("polluted" in {}, false);
});

test("valid conditions of every operator match any JSON payload without throwing", () => {
  const scalar = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null));
  const condition: fc.Arbitrary<Condition> = fc
    .oneof(
      fc.record({
        op: fc.constantFrom("eq" as const, "ne" as const, "contains" as const),
        value: fc.jsonValue({ maxDepth: 3 }),
      }),
      fc.record({
        op: fc.constantFrom("in" as const, "nin" as const),
        value: fc.array(scalar, { maxLength: 5 }),
      }),
      fc.record({ op: fc.constantFrom("exists" as const, "not_exists" as const) }),
      fc.record({ op: fc.constant("prefix" as const), value: fc.string({ maxLength: 4 }) }),
      fc.record({
        op: fc.constantFrom("gt" as const, "gte" as const, "lt" as const, "lte" as const),
        value: fc.oneof(fc.string({ maxLength: 4 }), fc.double({ noNaN: true, noDefaultInfinity: true })),
      }),
    )
    .chain((c) =>
      fc
        .constantFrom("$", "a", "a.b", "a.0", "0", "__proto__", "constructor")
        .map((path) => ({ ...c, path })),
    );
  fc.assert(
    fc.property(
      fc.array(condition, { maxLength: 5 }),
      fc.oneof(fc.jsonValue(), fc.constant(undefined)),
      (conditions, payload) => {
        const v = validateConditions(conditions);
        assert.ok(v.ok, v.ok ? "" : v.reason);
        assert.equal(typeof matchesConditions(v.value, payload), "boolean");
      },
    ),
    { numRuns: 500 },
  );
  assert.equal("polluted" in {}, false);
});

test("exists and not_exists are exact opposites for any JSON payload and path", () => {
  const path = fc.oneof(
    fc.constant("$"),
    fc
      .array(
        fc.oneof(
          fc.constantFrom("a", "b", "0", "1", "__proto__", "constructor"),
          fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
        ),
        {
          minLength: 1,
          maxLength: 4,
        },
      )
      .map((s) => s.join(".")),
  );
  fc.assert(
    fc.property(fc.jsonValue(), path, (payload, p) => {
      assert.notEqual(
        match({ path: p, op: "exists" }, payload),
        match({ path: p, op: "not_exists" }, payload),
      );
      assert.ok(
        match({ path: p, op: "eq", value: 1 }, payload) !== match({ path: p, op: "ne", value: 1 }, payload) ||
          match({ path: p, op: "not_exists" }, payload),
      );
    }),
  );
});
