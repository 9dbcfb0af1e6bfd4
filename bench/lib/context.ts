/** What every scenario gets: the run's durations, the shared ceiling, and how to start zenmesh. */
import type { LoadResult } from "./load.ts";
import type { StartOptions } from "./zenmesh.ts";

export interface Durations {
  /** Discarded warm-up before every measured run. */
  warmMs: number;
  /** Max-rate runs (fixed connections). */
  maxMs: number;
  /** Rate-limited runs at half the max rate. */
  rateMs: number;
  /** Each payload size, and the 1 vs many tenants runs. */
  sizeMs: number;
  /** End to end: sending at max rate; then the bound on waiting for arrivals. */
  e2eMs: number;
  drainMs: number;
  /** Events sent to 100 destinations each. */
  fanoutEvents: number;
  tenants: number;
  idleMs: number;
  footLoadMs: number;
  soakMs: number;
  soakSampleMs: number;
}

export const QUICK: Durations = {
  warmMs: 500,
  maxMs: 3000,
  rateMs: 2000,
  sizeMs: 2000,
  e2eMs: 3000,
  drainMs: 15_000,
  fanoutEvents: 20,
  tenants: 50,
  idleMs: 1000,
  footLoadMs: 2000,
  soakMs: 60_000,
  soakSampleMs: 5000,
};

export const FULL: Durations = {
  warmMs: 2000,
  maxMs: 15_000,
  rateMs: 10_000,
  sizeMs: 8000,
  e2eMs: 15_000,
  drainMs: 60_000,
  fanoutEvents: 200,
  tenants: 1000,
  idleMs: 5000,
  footLoadMs: 10_000,
  soakMs: 600_000,
  soakSampleMs: 10_000,
};

/** The same for the ceiling and for zenmesh, in every scenario. */
export const CONNECTIONS = 32;
/** A bound on any one run's request count, whatever the duration. */
export const MAX_REQUESTS_PER_S = 60_000;

export interface Ceiling {
  /** Max rate at this body size (measured once per run and size, then reused). */
  max(size: number): Promise<LoadResult>;
  /** Latency at half its own max rate, 1 KiB. */
  half(): Promise<LoadResult>;
}

export interface Context {
  d: Durations;
  quick: boolean;
  ceiling: Ceiling;
  /** Extra options for every `zenmesh up` (NODE_OPTIONS for --cpu-prof). */
  zenmeshOptions: StartOptions;
  /** Called with each zenmesh instance's role pids, for profile attribution. */
  notePids(scenario: string, pids: Record<string, number>): void;
  log(line: string): void;
}

export function maxRequests(ms: number): number {
  return Math.ceil((ms / 1000) * MAX_REQUESTS_PER_S);
}
