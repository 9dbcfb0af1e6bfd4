import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  type CircuitConfig,
  type CircuitState,
  CLOSED,
  cooldownFor,
  DEFAULT_CIRCUIT,
  DEFAULT_DISABLE_AFTER_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  failingFor,
  gate,
  onProbeStarted,
  onResult,
  reopenAt,
} from "./circuit.ts";

const T0 = new Date("2026-03-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);
const cfg: CircuitConfig = { failureThreshold: 3, cooldownMs: 10_000 };

function failTimes(n: number, config = cfg, from: CircuitState = CLOSED, start = 0): CircuitState {
  let s = from;
  for (let i = 0; i < n; i++) s = onResult(s, false, at(start + i), config).state;
  return s;
}

test("the defaults: five failures open for 30 s; disable after five days", () => {
  assert.deepEqual(DEFAULT_CIRCUIT, { failureThreshold: 5, cooldownMs: 30_000 });
  assert.equal(DEFAULT_DISABLE_AFTER_MS, 5 * 24 * 3600 * 1000);
  assert.deepEqual(CLOSED, { state: "closed", consecutiveFailures: 0, openedAt: null, failingSince: null });
  assert.ok(Object.isFrozen(CLOSED));
});

test("a closed circuit allows every attempt", () => {
  assert.equal(gate(CLOSED, T0, cfg), "allow");
  assert.equal(reopenAt(CLOSED, cfg), null);
  assert.equal(gate(failTimes(2), at(5), cfg), "allow");
});

test("failures below the threshold stay closed, counting from the first failure of the streak", () => {
  const r = onResult(CLOSED, false, T0, cfg);
  assert.equal(r.transition, undefined);
  assert.deepEqual(r.state, { state: "closed", consecutiveFailures: 1, openedAt: null, failingSince: T0 });
  const s = onResult(r.state, false, at(1000), cfg).state;
  assert.equal(s.consecutiveFailures, 2);
  assert.deepEqual(s.failingSince, T0);
});

test("the failure that reaches the threshold opens the circuit", () => {
  const before = failTimes(2);
  const r = onResult(before, false, at(50), cfg);
  assert.equal(r.transition, "opened");
  assert.deepEqual(r.state, { state: "open", consecutiveFailures: 3, openedAt: at(50), failingSince: T0 });
});

test("a success while closed resets the streak without a transition", () => {
  const r = onResult(failTimes(2), true, at(10), cfg);
  assert.equal(r.transition, undefined);
  assert.deepEqual(r.state, CLOSED);
  assert.notEqual(r.state, CLOSED);
});

test("an open circuit waits through the cooldown, then asks for a probe", () => {
  const open = onResult(failTimes(2), false, at(100), cfg).state;
  assert.equal(gate(open, at(100), cfg), "wait");
  assert.equal(gate(open, at(10_099), cfg), "wait");
  assert.deepEqual(reopenAt(open, cfg), at(10_100));
  assert.equal(gate(open, at(10_100), cfg), "probe");
  assert.equal(gate(open, at(99_999_999), cfg), "probe");
});

test("a started probe makes the circuit half-open, which waits while the probe is in flight", () => {
  const open = failTimes(3);
  const half = onProbeStarted(open, at(20_000));
  assert.deepEqual(half, { ...open, state: "half_open", openedAt: at(20_000) });
  assert.equal(gate(half, at(20_000), cfg), "wait");
  assert.equal(gate(half, at(20_000 + DEFAULT_PROBE_TIMEOUT_MS - 1), cfg), "wait");
});

test("a probe that never answers is replaced after the probe timeout", () => {
  const half = onProbeStarted(failTimes(3), at(20_000));
  assert.deepEqual(reopenAt(half, cfg), at(20_000 + DEFAULT_PROBE_TIMEOUT_MS));
  assert.equal(gate(half, at(20_000 + DEFAULT_PROBE_TIMEOUT_MS), cfg), "probe");
  const short = { ...cfg, probeTimeoutMs: 1000 };
  assert.equal(gate(half, at(20_999), short), "wait");
  assert.equal(gate(half, at(21_000), short), "probe");
  // Replacing it starts the clock again.
  const again = onProbeStarted(half, at(21_000));
  assert.equal(again.state, "half_open");
  assert.equal(gate(again, at(21_500), short), "wait");
});

test("a successful probe closes the circuit and ends the streak", () => {
  const half = onProbeStarted(failTimes(3), at(20_000));
  const r = onResult(half, true, at(20_500), cfg);
  assert.equal(r.transition, "closed");
  assert.deepEqual(r.state, CLOSED);
  assert.equal(failingFor(r.state, at(30_000)), 0);
  assert.equal(gate(r.state, at(20_500), cfg), "allow");
});

test("a failed probe reopens the circuit with a new openedAt, keeping the streak's start", () => {
  const half = onProbeStarted(failTimes(3), at(20_000));
  const r = onResult(half, false, at(20_500), cfg);
  assert.equal(r.transition, "reopened");
  assert.deepEqual(r.state, {
    state: "open",
    consecutiveFailures: 4,
    openedAt: at(20_500),
    failingSince: T0,
  });
  assert.equal(gate(r.state, at(30_499), cfg), "wait");
  assert.equal(gate(r.state, at(30_500), cfg), "probe");
});

test("a late failure while open counts but changes neither the state nor openedAt", () => {
  const open = failTimes(3);
  const r = onResult(open, false, at(5000), cfg);
  assert.equal(r.transition, undefined);
  assert.deepEqual(r.state, { ...open, consecutiveFailures: 4 });
});

test("a late success while open closes the circuit", () => {
  const r = onResult(failTimes(3), true, at(5000), cfg);
  assert.equal(r.transition, "closed");
  assert.deepEqual(r.state, CLOSED);
});

test("without maxCooldownMs the cooldown is fixed; with it, each failed probe doubles it up to the cap", () => {
  const fixed = failTimes(10);
  assert.equal(cooldownFor(fixed, cfg), 10_000);
  const growing = { ...cfg, maxCooldownMs: 60_000 };
  let s = failTimes(3, growing);
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    seen.push(cooldownFor(s, growing));
    const probeAt = reopenAt(s, growing)!;
    assert.equal(gate(s, probeAt, growing), "probe");
    s = onResult(onProbeStarted(s, probeAt), false, probeAt, growing).state;
  }
  assert.deepEqual(seen, [10_000, 20_000, 40_000, 60_000, 60_000]);
  assert.equal(cooldownFor({ ...s, consecutiveFailures: 5000 }, growing), 60_000);
  // A cap below the base cooldown never shortens it.
  assert.equal(cooldownFor(s, { ...cfg, maxCooldownMs: 1 }), 10_000);
});

test("failingFor measures the streak from its first failure, across opening and reopening", () => {
  assert.equal(failingFor(CLOSED, T0), 0);
  let s = failTimes(3);
  s = onResult(onProbeStarted(s, at(20_000)), false, at(21_000), cfg).state;
  assert.equal(failingFor(s, at(DEFAULT_DISABLE_AFTER_MS + 1)), DEFAULT_DISABLE_AFTER_MS + 1);
  assert.ok(failingFor(s, at(DEFAULT_DISABLE_AFTER_MS + 1)) > DEFAULT_DISABLE_AFTER_MS);
  // A clock that went backwards does not make it negative.
  assert.equal(failingFor(s, new Date(T0.getTime() - 1000)), 0);
});

test("an open record without openedAt (a broken record) asks for a probe rather than waiting forever", () => {
  const broken: CircuitState = { state: "open", consecutiveFailures: 3, openedAt: null, failingSince: T0 };
  assert.equal(gate(broken, T0, cfg), "probe");
});

test("starting a probe on a closed circuit, or an invalid config, is a bug", () => {
  assert.throws(() => onProbeStarted(CLOSED, T0));
  for (const bad of [
    { failureThreshold: 0, cooldownMs: 1000 },
    { failureThreshold: 1.5, cooldownMs: 1000 },
    { failureThreshold: 3, cooldownMs: -1 },
    { failureThreshold: 3, cooldownMs: Number.NaN },
    { failureThreshold: 3, cooldownMs: 1000, maxCooldownMs: Number.POSITIVE_INFINITY },
    { failureThreshold: 3, cooldownMs: 1000, probeTimeoutMs: -5 },
  ]) {
    assert.throws(() => gate(CLOSED, T0, bad), Error, JSON.stringify(bad));
    assert.throws(() => onResult(CLOSED, false, T0, bad), Error, JSON.stringify(bad));
  }
});

test("any sequence of results and probes keeps the invariants", () => {
  const config: CircuitConfig = { failureThreshold: 3, cooldownMs: 1000, maxCooldownMs: 8000 };
  const step = fc.oneof(
    fc.record({ kind: fc.constant("result" as const), success: fc.boolean(), dt: fc.nat(5000) }),
    fc.record({ kind: fc.constant("tick" as const), dt: fc.nat(20_000) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      let s = CLOSED;
      let now = T0.getTime();
      for (const st of steps) {
        now += st.dt;
        const g = gate(s, new Date(now), config);
        if (st.kind === "tick") {
          if (g === "probe") s = onProbeStarted(s, new Date(now));
          continue;
        }
        if (g === "wait") continue;
        if (g === "probe") s = onProbeStarted(s, new Date(now));
        const before = s;
        const r = onResult(s, st.success, new Date(now), config);
        s = r.state;
        if (st.success) assert.deepEqual(s, CLOSED);
        else assert.equal(s.consecutiveFailures, before.consecutiveFailures + 1);
        if (r.transition === "opened") assert.equal(before.state, "closed");
        if (r.transition === "reopened") assert.equal(before.state, "half_open");
        assert.equal(s.state === "closed", s.openedAt === null);
        assert.equal(s.consecutiveFailures === 0, s.failingSince === null);
        assert.ok(s.state === "closed" ? s.consecutiveFailures < 3 : s.consecutiveFailures >= 3);
      }
    }),
  );
});
