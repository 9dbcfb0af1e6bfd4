/**
 * `zenmesh up` for the bench: started in a temp data dir with every
 * listener on a free loopback port, its role pids read from the
 * `<role> running pid N` lines, stopped with SIGINT (SIGKILL by pid after a
 * grace period), its data dir removed. Plus the few calls the scenarios
 * need: tenants (the operator CLI, or its operator client in-process for
 * many), sources, destinations and subscriptions through the control API.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { alive, exited, onCleanup, trackDir, trackPid, untrackDir, untrackPid } from "./cleanup.ts";
import { assertLoopback } from "./load.ts";
import { githubSignature } from "./webhooks.ts";

export const ROOT = resolve(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin", "zenmesh.js");
export const ROLES = ["supervisor", "database", "backend", "ingester", "egress", "bff"] as const;
export type Role = (typeof ROLES)[number];

const ANY_PORTS: Record<string, string> = {
  ZENMESH_API_PORT: "0",
  ZENMESH_INGEST_PORT: "0",
  ZENMESH_BACKEND_INTERNAL_PORT: "0",
  ZENMESH_INGESTER_INTERNAL_PORT: "0",
  ZENMESH_EGRESS_INTERNAL_PORT: "0",
  ZENMESH_BFF_INTERNAL_PORT: "0",
  ZENMESH_JOIN_PORT: "0",
  ZENMESH_METRICS_PORT: "0",
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StartOptions {
  /** An existing data dir (kept); otherwise a fresh temp dir, removed at stop. */
  dir?: string;
  env?: Record<string, string>;
  args?: string[];
  /** NODE_OPTIONS for `up` and (inherited) every role, e.g. --cpu-prof. */
  nodeOptions?: string;
  readyTimeoutMs?: number;
}

export interface Zenmesh {
  dir: string;
  api: string;
  ingest: string;
  /** Wall-clock ms from spawn to the `ready in` line, and what `up` itself reported. */
  spawnToReadyMs: number;
  reportedReadyMs: number;
  output(): string;
  /** What the roles wrote to stderr (their logs), the last few MB. */
  stderr(): string;
  /** The live pid of each role (the latest `running` line) and of `up` itself. */
  pids(): Record<Role, number>;
  /** Lines saying a role exited (a crash or restart during the bench). */
  exits(): string[];
  /** Log lines at warn or above that the roles wrote. */
  problems(): string[];
  stop(opts?: { keepDir?: boolean }): Promise<{ stopMs: number }>;
}

export async function startZenmesh(opts: StartOptions = {}): Promise<Zenmesh> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "zm-bench-"));
  if (ownDir) trackDir(dir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ZENMESH_LOG_LEVEL: "warn",
    ...ANY_PORTS,
    ZENMESH_EGRESS_ALLOW_CIDRS: "127.0.0.1/32",
    ...opts.env,
    NODE_OPTIONS: opts.nodeOptions ?? "",
  };
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [BIN, "up", "--data-dir", dir, ...(opts.args ?? [])], {
    env,
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  trackPid(child.pid);
  let out = "";
  let err = "";
  // ZENMESH_BENCH_LOG=<file> keeps every line the system wrote, for a run that needs reading afterwards.
  const logFile = process.env.ZENMESH_BENCH_LOG;
  const keep = (d: Buffer) => {
    if (logFile) appendFileSync(logFile, d);
  };
  child.stdout?.on("data", (d: Buffer) => {
    keep(d);
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    keep(d);
    err += d.toString();
    // Bounded: a flood of log lines must not eat the bench's memory.
    if (err.length > 4_000_000) err = err.slice(-2_000_000);
  });
  const rolePids = (): Record<Role, number> => {
    const pids = { supervisor: child.pid ?? 0 } as Record<Role, number>;
    // `database` is the embedded PostgreSQL server's postmaster (absent on an external database).
    for (const m of out.matchAll(/^\s+(database|backend|ingester|egress|bff)\s+running\s+pid (\d+)/gm)) {
      const pid = Number(m[2]);
      pids[m[1] as Role] = pid;
      trackPid(pid);
    }
    return pids;
  };
  let stopped = false;
  const stop = async (o: { keepDir?: boolean } = {}) => {
    if (stopped) return { stopMs: 0 };
    stopped = true;
    const pids = rolePids();
    const s0 = performance.now();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited(child);
      clearTimeout(timer);
    }
    const stopMs = Math.round(performance.now() - s0);
    // The supervisor waits for its roles; anything left behind (it was killed) goes by pid.
    for (const pid of Object.values(pids)) {
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
      if (alive(pid)) process.kill(pid, "SIGKILL");
      untrackPid(pid);
    }
    forget();
    if (ownDir && !o.keepDir) {
      rmSync(dir, { recursive: true, force: true });
      untrackDir(dir);
    }
    return { stopMs };
  };
  const forget = onCleanup(`zenmesh up ${dir}`, () => stop().then(() => {}));
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  let spawnToReadyMs = 0;
  for (;;) {
    const m = /ready in (\d+) ms/.exec(out);
    if (m) {
      spawnToReadyMs = Math.round(performance.now() - t0);
      break;
    }
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`zenmesh up did not become ready:\n${out}\n${err.slice(-4000)}`);
    }
    await sleep(20);
  }
  const endpoints = JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as Record<string, string>;
  const api = endpoints.api!;
  const ingest = endpoints.ingest!;
  assertLoopback(api);
  assertLoopback(ingest);
  rolePids();
  return {
    dir,
    api,
    ingest,
    spawnToReadyMs,
    reportedReadyMs: Number(/ready in (\d+) ms/.exec(out)?.[1]),
    output: () => out,
    stderr: () => err,
    pids: rolePids,
    exits: () => [...out.matchAll(/^\s+\w+\s+exited\s+.*$/gm)].map((m) => m[0].trim()),
    problems: () =>
      err
        .split("\n")
        .filter((l) => /"level":(40|50|60)\b/.test(l) || /\b(WARN|ERROR|FATAL)\b/.test(l))
        .slice(0, 2000),
    stop,
  };
}

export interface Tenant {
  tenant_id: string;
  project_id: string;
  api_key: string;
}

/** One tenant through the operator CLI, exactly as an operator would. */
export function createTenantCli(z: Zenmesh, name: string, env: Record<string, string> = {}): Tenant {
  const r = spawnSync(
    process.execPath,
    [BIN, "tenant", "create", "--name", name, "--json", "--data-dir", z.dir],
    {
      encoding: "utf8",
      cwd: ROOT,
      env: { ...process.env, ZENMESH_LOG_LEVEL: "warn", ...env },
      timeout: 60_000,
    },
  );
  if (r.status !== 0) throw new Error(`tenant create failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Tenant;
}

/**
 * Many tenants the way the CLI does it against a running system (its
 * operator client, mTLS as spiffe://…/operator), in-process: one CLI process
 * per tenant would spend most of the time starting Node.
 */
export async function createTenantsBulk(z: Zenmesh, n: number, concurrency = 4): Promise<Tenant[]> {
  const { callOperator } = await import("../../src/roles/operator-client.ts");
  const out: Tenant[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = (await callOperator(z.dir, { op: "tenant.create", name: `bench tenant ${i}` })) as Tenant;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

export interface ApiAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: API answers are checked where they are used
  json: any;
  text: string;
}

export async function call(
  z: Zenmesh,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const r = await fetch(z.api + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined, text };
}

async function expect201(what: string, a: Promise<ApiAnswer>): Promise<ApiAnswer> {
  const r = await a;
  if (r.status !== 201) throw new Error(`${what}: ${r.status} ${r.text}`);
  return r;
}

export interface Source {
  id: string;
  ingest_url: string;
  secret: string;
  path: string;
}

export async function createSource(z: Zenmesh, t: Tenant, name = "github"): Promise<Source> {
  const r = await expect201(
    "create a source",
    call(z, t.api_key, "POST", `/v1/projects/${t.project_id}/sources`, {
      name,
      scheme: "github",
      allow_plain_http: true,
    }),
  );
  const s = r.json as Source;
  assertLoopback(s.ingest_url);
  return { ...s, path: new URL(s.ingest_url).pathname };
}

export async function createDestination(
  z: Zenmesh,
  t: Tenant,
  url: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; secret: string }> {
  assertLoopback(url);
  const r = await expect201(
    "create a destination",
    call(z, t.api_key, "POST", `/v1/projects/${t.project_id}/destinations`, {
      name: new URL(url).pathname,
      url,
      allow_plain_http: true,
      ...extra,
    }),
  );
  return r.json as { id: string; secret: string };
}

export async function subscribe(z: Zenmesh, t: Tenant, destinationId: string): Promise<string> {
  const r = await expect201(
    "create a subscription",
    call(z, t.api_key, "POST", `/v1/projects/${t.project_id}/subscriptions`, {
      destination_id: destinationId,
    }),
  );
  return r.json.id as string;
}

/** Sends one signed webhook until the source answers 202 (a new source takes a moment to reach the ingester). */
export async function warmSource(z: Zenmesh, s: Source, timeoutMs = 30_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = "";
  for (let i = 0; ; i++) {
    const body = JSON.stringify({ ref: "refs/heads/warmup", n: i, at: Date.now(), src: s.id });
    try {
      const r = await fetch(z.ingest + s.path, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": crypto.randomUUID(),
          "x-hub-signature-256": githubSignature(s.secret, body),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      last = `${r.status} ${await r.text()}`;
      if (r.status === 202) return (JSON.parse(last.slice(4)) as { id: string }).id;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > end) throw new Error(`source ${s.id} never answered 202; last: ${last}`);
    await sleep(100);
  }
}
