/**
 * One `zenmesh up` in a temporary data dir for a resilience suite: started,
 * watched (every supervisor line kept, role pids read from its
 * `<role> running pid N` lines) and torn down, with a tenant, an API key and
 * helpers to call the control API and send GitHub-signed webhooks.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ANY_PORTS } from "./ports.ts";

export const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");
export const ROLES = ["backend", "ingester", "egress", "bff"] as const;
export type Role = (typeof ROLES)[number];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const atExit = new Set<() => void>();
let exitHooked = false;

/**
 * Runs `fn` (synchronous, best effort) if this test process is ended before its `after` hooks run (a
 * signal from the runner, or an exit): a started server must not outlive the suite. Returns an undo.
 */
export function onAbandon(fn: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    const runAll = () => {
      for (const f of atExit) {
        try {
          f();
        } catch {
          // Best effort: the process is going away.
        }
      }
      atExit.clear();
    };
    process.once("exit", runAll);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => {
        runAll();
        process.exit(128 + (signal === "SIGTERM" ? 15 : 2));
      });
    }
  }
  atExit.add(fn);
  return () => atExit.delete(fn);
}

/** Polls until `fn` gives a value (errors count as "not yet"), or fails naming `what` and the last error. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await sleep(200);
  }
}

export function githubHeaders(secret: string, body: string | Buffer): Record<string, string> {
  return {
    "content-type": "application/json",
    "x-github-event": "push",
    "x-github-delivery": randomUUID(),
    "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
  };
}

export interface ApiAnswer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are narrowed by each assertion
  json: any;
}

export interface Source {
  id: string;
  ingest_url: string;
  secret: string;
}

export interface Zenmesh {
  dir: string;
  /** The supervisor (`zenmesh up`) itself. */
  supervisorPid: number;
  api: string;
  ingest: string;
  env: Record<string, string | undefined>;
  key: string;
  tenantId: string;
  projectId: string;
  /** Everything the supervisor and its roles printed so far, stdout and stderr. */
  output(): string;
  /** The pid on the latest `<role> running pid N` line (restarts print new lines). */
  pidOf(role: Role): number;
  /** How many times the role reported running. */
  startsOf(role: Role): number;
  /** The supervisor's `<role> exited …` lines. */
  exits(): string[];
  call(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  /** A GitHub source allowing plain HTTP (the dev listener is loopback HTTP). */
  githubSource(name?: string): Promise<Source>;
  /** POSTs a GitHub-signed body; resolves with the status and the event id on 202. */
  sendGithub(
    source: Source,
    body: string,
  ): Promise<{ status: number; id?: string; retryAfter?: string | null }>;
  /** Resident set size of a role's live process in KiB, from /proc/<pid>/status. */
  rssKb(role: Role): number;
  /** The supervisor's live child processes running `serve <role>`, whether or not they reported running. */
  processesOf(role: Role): number[];
  stop(): Promise<void>;
}

export function rssKbOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  assert.ok(m, `no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** Live direct children of `parent`, with their command lines, from /proc. */
export function childProcesses(parent: number): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses: fields resume after the last ")".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== parent || fields[0] === "Z") continue;
      out.push({
        pid: Number(entry),
        cmdline: readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " "),
      });
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

function childCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}

/** Live postmasters of this data dir: only a postmaster keeps `-D <dir>/pg` in its command line. */
export function postmastersOf(dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const d = cmd.indexOf("-D");
      if (cmd[0]?.endsWith("/postgres") && cmd[d + 1] === join(dir, "pg")) out.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startZenmesh(
  opts: {
    name: string;
    env?: Record<string, string>;
    args?: string[];
    readyTimeoutMs?: number;
    /** Start on this existing data dir (another run's, left to that run to remove) instead of a fresh one. */
    dir?: string;
  } = {
    name: "resilience",
  },
): Promise<Zenmesh> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `zm-${opts.name}-`));
  const ownsDir = opts.dir === undefined;
  const args = opts.args ?? [];
  const env: Record<string, string | undefined> = {
    ...process.env,
    ZENMESH_LOG_LEVEL: "warn",
    ...ANY_PORTS,
    ...(opts.env ?? {}),
  };
  const child: ChildProcess = spawn(process.execPath, [BIN, "up", "--data-dir", dir, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  // The supervisor's own lines are read from stdout alone, so stderr cannot split one mid-line.
  let out = "";
  let all = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    all += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    all += d.toString();
  });
  const matchAll = (role: Role) => [
    ...out.matchAll(new RegExp(`^\\s+${role}\\s+running\\s+pid (\\d+)`, "gm")),
  ];

  // Abandoned, the supervisor still stops its roles on SIGTERM.
  const forget = onAbandon(() => {
    child.kill("SIGTERM");
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
  });
  const stop = async () => {
    forget();
    // The roles alive now are ours; after the supervisor is gone only those, still running in our data dir, are ended.
    const roles = child.pid === undefined ? [] : childProcesses(child.pid);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    }
    for (const r of roles) {
      const now = childCmdline(r.pid);
      if (now?.includes(dir)) process.kill(r.pid, "SIGKILL");
    }
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    await until(
      "zenmesh up to print ready",
      async () => {
        if (child.exitCode !== null)
          throw new Error(`zenmesh up exited ${child.exitCode}: ${all.slice(-2000)}`);
        return /ready in \d+ ms/.test(out) ? true : undefined;
      },
      opts.readyTimeoutMs ?? 60_000,
    );
    const endpoints = JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as Record<string, string>;
    const api = endpoints.api!;
    const ingest = endpoints.ingest!;
    const t = spawnSync(
      process.execPath,
      [BIN, "tenant", "create", "--name", "resilience", "--json", "--data-dir", dir, ...args],
      { encoding: "utf8", env },
    );
    assert.equal(t.status, 0, `tenant create: ${t.stderr}`);
    const created = JSON.parse(t.stdout) as { api_key: string; project_id: string; tenant_id: string };
    const key = created.api_key;

    const call = async (method: string, path: string, body?: unknown): Promise<ApiAnswer> => {
      const r = await fetch(api + path, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await r.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: r.status, text, json };
    };

    const z: Zenmesh = {
      dir,
      supervisorPid: child.pid!,
      api,
      ingest,
      env,
      key,
      tenantId: created.tenant_id,
      projectId: created.project_id,
      output: () => all,
      pidOf(role) {
        const all = matchAll(role);
        const pid = Number(all.at(-1)?.[1]);
        assert.ok(pid > 0, `no "${role} running pid N" line in the supervisor's output`);
        return pid;
      },
      startsOf: (role) => matchAll(role).length,
      exits: () => [...out.matchAll(/^\s+\w+\s+exited\s+.*$/gm)].map((m) => m[0].trim()),
      call,
      async githubSource(name = "github") {
        const r = await call("POST", `/v1/projects/${created.project_id}/sources`, {
          name,
          scheme: "github",
          allow_plain_http: true,
        });
        assert.equal(r.status, 201, `create a source: ${r.text}`);
        return r.json as Source;
      },
      async sendGithub(source, body) {
        const r = await fetch(source.ingest_url, {
          method: "POST",
          headers: githubHeaders(source.secret, body),
          body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await r.text();
        let id: string | undefined;
        try {
          id = (JSON.parse(text) as { id?: string }).id;
        } catch {}
        return { status: r.status, ...(id ? { id } : {}), retryAfter: r.headers.get("retry-after") };
      },
      rssKb: (role) => rssKbOf(z.pidOf(role)),
      processesOf: (role) =>
        childProcesses(child.pid!)
          .filter((p) => p.cmdline.includes(` serve ${role} `))
          .map((p) => p.pid),
      stop,
    };
    for (const role of ROLES) z.pidOf(role);
    return z;
  } catch (err) {
    await stop();
    throw err;
  }
}
