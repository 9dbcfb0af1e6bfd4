import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  type AttemptOutcome,
  classifyAttempt,
  DEFAULT_JITTER,
  DEFAULT_RETRY_AFTER_CAP_SECONDS,
  DEFAULT_RETRY_SCHEDULE_SECONDS,
  type NextAttemptInput,
  nextAttemptDelay,
  parseRetryAfter,
} from "./retry.ts";

const fixed = (r: number) => () => r;
const base: NextAttemptInput = {
  attemptsMade: 1,
  schedule: DEFAULT_RETRY_SCHEDULE_SECONDS,
  jitter: DEFAULT_JITTER,
  random: fixed(0.5),
  retryAfterCapSeconds: DEFAULT_RETRY_AFTER_CAP_SECONDS,
};
const delay = (patch: Partial<NextAttemptInput>) => nextAttemptDelay({ ...base, ...patch });

test("the default schedule is immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h", () => {
  assert.deepEqual(DEFAULT_RETRY_SCHEDULE_SECONDS, [5, 300, 1800, 7200, 18000, 36000, 36000]);
  assert.equal(DEFAULT_JITTER, 0.2);
  assert.equal(DEFAULT_RETRY_AFTER_CAP_SECONDS, 3600);
});

test("with random at the midpoint, each delay is the schedule's exactly, in milliseconds", () => {
  const got = [1, 2, 3, 4, 5, 6, 7].map((attemptsMade) => delay({ attemptsMade }));
  assert.deepEqual(got, [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
});

test("jitter stretches a delay by up to ±20% at the ends of random's range", () => {
  assert.equal(delay({ attemptsMade: 2, random: fixed(0) }), 240_000);
  assert.equal(delay({ attemptsMade: 2, random: fixed(0.75) }), 330_000);
  assert.equal(delay({ attemptsMade: 1, random: fixed(0.25) }), 4_500);
  assert.equal(delay({ attemptsMade: 2, jitter: 0, random: fixed(0) }), 300_000);
});

test("a delivery gets eight attempts: after the eighth the schedule is exhausted", () => {
  assert.notEqual(delay({ attemptsMade: 7 }), null);
  assert.equal(delay({ attemptsMade: 8 }), null);
  assert.equal(delay({ attemptsMade: 100 }), null);
  assert.equal(delay({ attemptsMade: 1, schedule: [] }), null);
});

test("every jittered delay stays within ±20% of the schedule and is never negative", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 7 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attemptsMade, r) => {
        const ms = delay({ attemptsMade, random: fixed(r) })!;
        const scheduled = DEFAULT_RETRY_SCHEDULE_SECONDS[attemptsMade - 1]! * 1000;
        assert.ok(
          ms >= Math.floor(scheduled * 0.8) && ms <= Math.ceil(scheduled * 1.2),
          `${ms} vs ${scheduled}`,
        );
      },
    ),
  );
});

test("any schedule, jitter and Retry-After give a non-negative delay at least the capped Retry-After", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 10 }),
      fc.integer({ min: 1, max: 12 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined }),
      (schedule, attemptsMade, jitter, r, retryAfterSeconds) => {
        const ms = nextAttemptDelay({
          ...base,
          schedule,
          attemptsMade,
          jitter,
          random: fixed(r),
          retryAfterSeconds,
        });
        if (attemptsMade > schedule.length) return assert.equal(ms, null);
        assert.ok(ms !== null && ms >= 0);
        if (retryAfterSeconds !== undefined) {
          assert.ok(ms >= Math.min(retryAfterSeconds, DEFAULT_RETRY_AFTER_CAP_SECONDS) * 1000);
        }
      },
    ),
  );
});

test("a Retry-After longer than the schedule is honoured; a shorter one does not cut the backoff", () => {
  assert.equal(delay({ attemptsMade: 1, retryAfterSeconds: 120 }), 120_000);
  assert.equal(delay({ attemptsMade: 3, retryAfterSeconds: 120 }), 1_800_000);
  assert.equal(delay({ attemptsMade: 1, retryAfterSeconds: 0 }), 5_000);
});

test("a huge Retry-After is capped; an invalid one is ignored", () => {
  assert.equal(delay({ attemptsMade: 1, retryAfterSeconds: 10 ** 12 }), 3_600_000);
  assert.equal(delay({ attemptsMade: 1, retryAfterSeconds: Number.MAX_SAFE_INTEGER }), 3_600_000);
  assert.equal(delay({ attemptsMade: 1, retryAfterSeconds: 500, retryAfterCapSeconds: 60 }), 60_000);
  assert.equal(delay({ attemptsMade: 1, retryAfterSeconds: -30 }), 5_000);
  assert.equal(delay({ attemptsMade: 1, retryAfterSeconds: Number.NaN }), 5_000);
  // The schedule still applies past the cap: the cap bounds Retry-After, not our own backoff.
  assert.equal(delay({ attemptsMade: 6, retryAfterSeconds: 10 ** 12 }), 36_000_000);
});

test("a call that breaks the contract throws", () => {
  for (const patch of [
    { attemptsMade: 0 },
    { attemptsMade: 1.5 },
    { jitter: -0.1 },
    { jitter: 1.5 },
    { jitter: Number.NaN },
    { random: fixed(Number.NaN) },
    { random: fixed(2) },
    { retryAfterCapSeconds: -1 },
    { schedule: [-5] },
  ] satisfies Partial<NextAttemptInput>[]) {
    assert.throws(() => delay(patch), Error, JSON.stringify(patch));
  }
});

const NOW = new Date("2026-03-01T12:00:00.000Z");

test("Retry-After in delta-seconds", () => {
  assert.equal(parseRetryAfter("120", NOW), 120);
  assert.equal(parseRetryAfter("0", NOW), 0);
  assert.equal(parseRetryAfter(" 30 ", NOW), 30);
  assert.equal(parseRetryAfter("007", NOW), 7);
  assert.equal(parseRetryAfter("9".repeat(400), NOW), Number.MAX_SAFE_INTEGER);
});

test("Retry-After as an HTTP-date in each of the three formats, in seconds from now", () => {
  assert.equal(parseRetryAfter("Sun, 01 Mar 2026 12:02:00 GMT", NOW), 120);
  assert.equal(parseRetryAfter("Sunday, 01-Mar-26 12:02:00 GMT", NOW), 120);
  assert.equal(parseRetryAfter("Sun Mar  1 12:02:00 2026", NOW), 120);
  assert.equal(parseRetryAfter("Mon Mar 16 12:00:00 2026", NOW), 15 * 86_400);
  // A fraction of a second still to go rounds up: waiting less would arrive early.
  assert.equal(parseRetryAfter("Sun, 01 Mar 2026 12:00:01 GMT", new Date(NOW.getTime() + 500)), 1);
});

test("an HTTP-date in the past means no wait", () => {
  assert.equal(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", NOW), 0);
  assert.equal(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", NOW), 0);
  assert.equal(parseRetryAfter("Sun Nov  6 08:49:37 1994", NOW), 0);
});

test("a two-digit RFC 850 year more than 50 years ahead is read as the past century", () => {
  // 77 would be 2077, more than 50 years after 2026: it is 1977, so in the past.
  assert.equal(parseRetryAfter("Tuesday, 01-Mar-77 12:00:00 GMT", NOW), 0);
  // 76 is 2076, exactly 50 years ahead and not more.
  const s = parseRetryAfter("Sunday, 01-Mar-76 12:00:00 GMT", NOW)!;
  assert.equal(s, (Date.UTC(2076, 2, 1, 12) - NOW.getTime()) / 1000);
});

test("garbage, negative, fractional and impossible values are unparsable", () => {
  for (const v of [
    undefined,
    "",
    "soon",
    "-5",
    "+5",
    "1.5",
    "1e3",
    "0x10",
    "12 34",
    "Sun, 1 Mar 2026 12:02:00 GMT",
    "Sun, 01 Mar 2026 12:02:00 UTC",
    "Sun, 01 mar 2026 12:02:00 GMT",
    "Sun, 31 Feb 2026 12:00:00 GMT",
    "Sun, 01 Mar 2026 24:00:00 GMT",
    "Sun, 01 Mar 2026 12:60:00 GMT",
    "Sun, 00 Mar 2026 12:00:00 GMT",
    "2026-03-01T12:02:00Z",
    "Sun Mar 1 12:02:00 2026",
    "Sun, 01 Mar 2026 12:02:00 GMT extra",
  ]) {
    assert.equal(parseRetryAfter(v, NOW), undefined, JSON.stringify(v));
  }
});

test("parseRetryAfter never throws and never returns a negative or non-finite number", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (v) => {
      const s = parseRetryAfter(v, NOW);
      assert.ok(s === undefined || (Number.isFinite(s) && s >= 0));
    }),
  );
});

const verdict = (o: AttemptOutcome) => classifyAttempt(o);

test("2xx is success", () => {
  for (const status of [200, 201, 202, 204, 299])
    assert.deepEqual(verdict({ kind: "response", status }), { kind: "success" });
});

test("5xx, 429, 408 and redirects are retried with their class", () => {
  const cases: [number, string][] = [
    [500, "http_5xx"],
    [502, "http_5xx"],
    [503, "http_5xx"],
    [599, "http_5xx"],
    [429, "http_429"],
    [408, "http_408"],
    [301, "redirect"],
    [302, "redirect"],
    [304, "redirect"],
    [307, "redirect"],
    [308, "redirect"],
  ];
  for (const [status, errorClass] of cases) {
    assert.deepEqual(verdict({ kind: "response", status }), { kind: "retry", errorClass }, String(status));
  }
});

test("other 4xx fail fast", () => {
  for (const status of [400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 499]) {
    assert.deepEqual(
      verdict({ kind: "response", status }),
      { kind: "fail", errorClass: "http_4xx" },
      String(status),
    );
  }
});

test("a status outside 200..599 is a misbehaving receiver, retried", () => {
  for (const status of [100, 101, 199, 600, 0, -1, 200.5, Number.NaN]) {
    assert.deepEqual(verdict({ kind: "response", status }), { kind: "retry", errorClass: "invalid_status" });
  }
});

test("network errors retry with their class; an unknown class counts as network", () => {
  for (const errorClass of ["timeout", "connect", "tls", "network", "dns"]) {
    assert.deepEqual(verdict({ kind: "error", errorClass }), { kind: "retry", errorClass });
  }
  assert.deepEqual(verdict({ kind: "error", errorClass: "ECONNRESET" }), {
    kind: "retry",
    errorClass: "network",
  });
  assert.deepEqual(verdict({ kind: "error", errorClass: "__proto__" }), {
    kind: "retry",
    errorClass: "network",
  });
});

test("an SSRF refusal fails fast, except a resolution failure, which retries as dns", () => {
  assert.deepEqual(verdict({ kind: "refused", reason: "dns_failed" }), { kind: "retry", errorClass: "dns" });
  assert.deepEqual(verdict({ kind: "refused", reason: "no_address" }), { kind: "retry", errorClass: "dns" });
  assert.deepEqual(verdict({ kind: "refused", reason: "invalid_url" }), {
    kind: "fail",
    errorClass: "invalid_url",
  });
  for (const reason of ["address_forbidden", "plain_http_not_allowed", "port_forbidden", "anything_else"]) {
    assert.deepEqual(
      verdict({ kind: "refused", reason }),
      { kind: "fail", errorClass: "ssrf_refused" },
      reason,
    );
  }
});
