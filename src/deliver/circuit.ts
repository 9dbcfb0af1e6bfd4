/**
 * A per-destination circuit breaker, as a pure state machine: the caller
 * persists the state and passes in the clock.
 *
 * Guards a failing receiver against a flood of attempts it cannot answer (and
 * our workers against spending themselves on it): after `failureThreshold`
 * consecutive failures the circuit opens, deliveries wait, and once the cooldown
 * has passed a single probe tests the water. Its success closes the circuit; its
 * failure reopens it. A destination failing without a break for longer than a
 * configurable period (DEFAULT_DISABLE_AFTER_MS) is the caller's to disable, read
 * from `failingFor`.
 *
 *   closed ──failures ≥ threshold──▶ open ──cooldown elapsed: gate says probe──▶ half_open
 *     ▲                               ▲                                            │
 *     └──────────── success ──────────┴──────────── failure (reopened) ────────────┘
 *
 * Cooldown: `cooldownMs`, doubled for every failure past the threshold (each
 * failed probe is one) up to `maxCooldownMs`; without `maxCooldownMs` it is fixed.
 *
 * While half_open, `openedAt` holds when the probe started, so a probe lost with
 * its worker (no result will ever come) is replaced after `probeTimeoutMs`
 * instead of holding the destination shut forever.
 */
import { assertNever } from "../core/index.ts";

export interface CircuitState {
  state: "closed" | "open" | "half_open";
  consecutiveFailures: number;
  /** When the circuit opened; while half_open, when the probe started. */
  openedAt: Date | null;
  /** The first failure of the current streak, kept across opening and reopening. */
  failingSince: Date | null;
}

export interface CircuitConfig {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit waits before a probe. */
  cooldownMs: number;
  /** When set, the cooldown doubles per failure past the threshold, up to this. */
  maxCooldownMs?: number;
  /** How long a probe may stay unanswered before another is allowed; DEFAULT_PROBE_TIMEOUT_MS when unset. */
  probeTimeoutMs?: number;
}

export type CircuitGate = "allow" | "probe" | "wait";
export type CircuitTransition = "opened" | "closed" | "reopened";

export const CLOSED: CircuitState = Object.freeze({
  state: "closed",
  consecutiveFailures: 0,
  openedAt: null,
  failingSince: null,
});

/** Longer than any single delivery attempt may run, so only a lost probe is replaced. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_CIRCUIT: CircuitConfig = Object.freeze({ failureThreshold: 5, cooldownMs: 30_000 });
/** A destination failing without a success for this long is disabled by the caller. */
export const DEFAULT_DISABLE_AFTER_MS = 5 * 24 * 60 * 60_000;

function assertConfig(config: CircuitConfig): void {
  const { failureThreshold, cooldownMs, maxCooldownMs, probeTimeoutMs } = config;
  const ms = (v: number) => Number.isFinite(v) && v >= 0;
  if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
    throw new Error("circuit: failureThreshold must be an integer of at least 1");
  }
  if (!ms(cooldownMs)) throw new Error("circuit: cooldownMs must be a finite number ≥ 0");
  if (maxCooldownMs !== undefined && !ms(maxCooldownMs))
    throw new Error("circuit: maxCooldownMs must be ≥ 0");
  if (probeTimeoutMs !== undefined && !ms(probeTimeoutMs))
    throw new Error("circuit: probeTimeoutMs must be ≥ 0");
}

/** The cooldown an open circuit in `state` waits. */
export function cooldownFor(state: CircuitState, config: CircuitConfig): number {
  assertConfig(config);
  if (config.maxCooldownMs === undefined) return config.cooldownMs;
  const doublings = Math.max(0, state.consecutiveFailures - config.failureThreshold);
  // 2 ** 1100 is Infinity, which the cap absorbs.
  return Math.max(config.cooldownMs, Math.min(config.cooldownMs * 2 ** doublings, config.maxCooldownMs));
}

/** When the gate next answers "probe"; null while closed. */
export function reopenAt(state: CircuitState, config: CircuitConfig): Date | null {
  assertConfig(config);
  switch (state.state) {
    case "closed":
      return null;
    case "open":
      // An open circuit without openedAt is a broken record: probing at once heals it.
      return new Date((state.openedAt?.getTime() ?? 0) + cooldownFor(state, config));
    case "half_open":
      return new Date((state.openedAt?.getTime() ?? 0) + (config.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS));
    default:
      return assertNever(state.state);
  }
}

/**
 * Whether an attempt may go now. On "probe" the caller sends exactly one
 * attempt and records `onProbeStarted` before sending it.
 */
export function gate(state: CircuitState, now: Date, config: CircuitConfig): CircuitGate {
  if (state.state === "closed") {
    assertConfig(config);
    return "allow";
  }
  return now.getTime() >= reopenAt(state, config)!.getTime() ? "probe" : "wait";
}

export function onProbeStarted(state: CircuitState, now: Date): CircuitState {
  if (state.state === "closed") throw new Error("circuit: a probe started while the circuit is closed");
  return { ...state, state: "half_open", openedAt: now };
}

/** Records an attempt's result: any success closes; failures open, and a failed probe reopens. */
export function onResult(
  state: CircuitState,
  success: boolean,
  now: Date,
  config: CircuitConfig,
): { state: CircuitState; transition?: CircuitTransition } {
  assertConfig(config);
  if (success) {
    const closed: CircuitState = { ...CLOSED };
    return state.state === "closed" ? { state: closed } : { state: closed, transition: "closed" };
  }
  const failed: CircuitState = {
    ...state,
    consecutiveFailures: state.consecutiveFailures + 1,
    failingSince: state.failingSince ?? now,
  };
  switch (state.state) {
    case "closed":
      if (failed.consecutiveFailures < config.failureThreshold) return { state: failed };
      return { state: { ...failed, state: "open", openedAt: now }, transition: "opened" };
    case "open":
      // An attempt let through before the circuit opened, failing late: the circuit already knows.
      return { state: failed };
    case "half_open":
      return { state: { ...failed, state: "open", openedAt: now }, transition: "reopened" };
    default:
      return assertNever(state.state);
  }
}

/** Milliseconds the current failure streak has lasted; 0 without one. */
export function failingFor(state: CircuitState, now: Date): number {
  if (state.failingSince === null) return 0;
  return Math.max(0, now.getTime() - state.failingSince.getTime());
}
