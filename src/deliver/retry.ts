/**
 * When a failed delivery attempt is tried again, and whether it is tried at all.
 *
 * Guards both sides: receivers against retry storms (a fixed, widening schedule
 * with jitter so failures that began together do not retry together, and a cap
 * on how long a Retry-After may hold a delivery), and tenants against losing
 * events to transient failures (timeouts, resets, 5xx, 429, DNS hiccups retry;
 * only answers that will not change on their own fail fast).
 *
 * Retry-After follows RFC 9110 section 10.2.3: delta-seconds or an HTTP-date, the
 * latter in any of the three formats of section 5.6.7 (a recipient MUST accept all three).
 */
import { assertNever } from "../core/index.ts";

/** Delays before attempts 2..8; attempt 1 is immediate. 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = [5, 300, 1800, 7200, 18000, 36000, 36000];
/** Each delay varies by up to ±20%. */
export const DEFAULT_JITTER = 0.2;
/** A receiver's Retry-After holds a delivery back at most this long. */
export const DEFAULT_RETRY_AFTER_CAP_SECONDS = 3600;

export type AttemptVerdict =
  | { kind: "success" }
  | { kind: "retry"; errorClass: string }
  | { kind: "fail"; errorClass: string };

export type AttemptOutcome =
  | { kind: "response"; status: number }
  /** The SSRF guard refused to connect; `reason` is its refusal (`address_forbidden`, `dns_failed`, …). */
  | { kind: "refused"; reason: string }
  /** The request failed below HTTP; `errorClass` is one of NETWORK_ERROR_CLASSES, anything else counts as `network`. */
  | { kind: "error"; errorClass: string };

/**
 * The error classes a failed request reports. Unknown classes fold into
 * `network` so the set stays small enough to be a metrics label.
 */
export const NETWORK_ERROR_CLASSES: ReadonlySet<string> = new Set([
  "timeout",
  "connect",
  "tls",
  "network",
  "dns",
]);

// Resolution failures can heal on their own (a record being published, a resolver outage);
// every other refusal is a property of the URL or of where it points and will not.
const TRANSIENT_REFUSALS: ReadonlySet<string> = new Set(["dns_failed", "no_address"]);

export function classifyAttempt(o: AttemptOutcome): AttemptVerdict {
  switch (o.kind) {
    case "response":
      return classifyStatus(o.status);
    case "refused":
      if (TRANSIENT_REFUSALS.has(o.reason)) return { kind: "retry", errorClass: "dns" };
      return { kind: "fail", errorClass: o.reason === "invalid_url" ? "invalid_url" : "ssrf_refused" };
    case "error":
      return {
        kind: "retry",
        errorClass: NETWORK_ERROR_CLASSES.has(o.errorClass) ? o.errorClass : "network",
      };
    default:
      return assertNever(o);
  }
}

function classifyStatus(status: number): AttemptVerdict {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    // A 1xx surfacing as final, or no valid status at all: the receiver misbehaved, which may pass.
    return { kind: "retry", errorClass: "invalid_status" };
  }
  if (status < 300) return { kind: "success" };
  // Redirects are never followed (a redirect could point anywhere, past the SSRF guard),
  // so a 3xx is a failed attempt; the receiver may fix its URL.
  if (status < 400) return { kind: "retry", errorClass: "redirect" };
  if (status === 408) return { kind: "retry", errorClass: "http_408" };
  if (status === 429) return { kind: "retry", errorClass: "http_429" };
  if (status < 500) return { kind: "fail", errorClass: "http_4xx" };
  return { kind: "retry", errorClass: "http_5xx" };
}

const DELTA_SECONDS = /^[0-9]+$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const M = MONTHS.join("|");
const IMF_FIXDATE = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${M}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`,
);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${M})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`,
);
const ASCTIME_DATE = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${M}) ([ \\d]\\d) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`,
);

/**
 * Seconds to wait according to a Retry-After value, or undefined when it is
 * absent or unparsable. A date in the past means 0. Never negative.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (DELTA_SECONDS.test(v)) return Math.min(Number(v), Number.MAX_SAFE_INTEGER);
  const at = parseHttpDate(v, now);
  if (at === undefined) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** Milliseconds since the epoch of an HTTP-date (RFC 9110 section 5.6.7), or undefined. */
function parseHttpDate(v: string, now: Date): number | undefined {
  let m = IMF_FIXDATE.exec(v);
  if (m !== null) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = RFC850_DATE.exec(v);
  if (m !== null) {
    // Section 5.6.7: a two-digit year more than 50 years ahead is the most recent past year with those digits.
    const thisYear = now.getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME_DATE.exec(v);
  if (m !== null) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  return undefined;
}

function utc(
  year: number,
  month: string,
  day: number,
  h: string,
  min: string,
  s: string,
): number | undefined {
  const mon = MONTHS.indexOf(month);
  const hour = Number(h);
  const minute = Number(min);
  // 60 is the leap second the grammar allows.
  const second = Number(s);
  if (hour > 23 || minute > 59 || second > 60 || day < 1) return undefined;
  const t = Date.UTC(year, mon, day, hour, minute, second);
  // Date.UTC rolls 31 Feb over into March; such a date is not a date.
  const d = new Date(t);
  if (d.getUTCMonth() !== mon || d.getUTCDate() !== day) return undefined;
  return t;
}

export interface NextAttemptInput {
  /** Attempts made so far, including the one that just failed (≥ 1). */
  attemptsMade: number;
  /** Seconds before attempts 2, 3, …; its length is the number of retries. */
  schedule: readonly number[];
  /** Relative spread in [0, 1]: 0.2 is ±20%. */
  jitter: number;
  /** Uniform in [0, 1). */
  random: () => number;
  /** From the failed attempt's Retry-After, when it sent one (see parseRetryAfter). */
  retryAfterSeconds?: number;
  retryAfterCapSeconds: number;
}

/**
 * Milliseconds until the next attempt, or null when the schedule is exhausted.
 * A Retry-After can lengthen the wait (up to the cap) but never shorten it:
 * a receiver asking for "0" does not get to skip our backoff.
 */
export function nextAttemptDelay(input: NextAttemptInput): number | null {
  const { attemptsMade, schedule, jitter, retryAfterCapSeconds } = input;
  if (!Number.isSafeInteger(attemptsMade) || attemptsMade < 1) {
    throw new Error("nextAttemptDelay: attemptsMade must be an integer of at least 1");
  }
  if (!(jitter >= 0 && jitter <= 1)) throw new Error("nextAttemptDelay: jitter must be in [0, 1]");
  if (!(retryAfterCapSeconds >= 0)) throw new Error("nextAttemptDelay: retryAfterCapSeconds must be ≥ 0");
  if (attemptsMade > schedule.length) return null;
  const base = schedule[attemptsMade - 1]!;
  if (!(base >= 0) || !Number.isFinite(base))
    throw new Error("nextAttemptDelay: schedule delays must be ≥ 0");
  const r = input.random();
  if (!(r >= 0 && r <= 1)) throw new Error("nextAttemptDelay: random() must return a number in [0, 1)");
  let seconds = base * (1 + jitter * (2 * r - 1));
  const retryAfter = input.retryAfterSeconds;
  // A NaN or negative value is not a request to wait; parseRetryAfter never produces one.
  if (retryAfter !== undefined && retryAfter >= 0) {
    seconds = Math.max(seconds, Math.min(retryAfter, retryAfterCapSeconds));
  }
  return Math.max(0, Math.round(seconds * 1000));
}
