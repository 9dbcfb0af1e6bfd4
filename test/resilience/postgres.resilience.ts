/**
 * PostgreSQL going away under load: `zenmesh up` on a private PostgreSQL
 * server (never the machine's shared one) with GitHub-signed webhooks
 * streaming in, while
 *   1. the server terminates the backend's sessions that are in the middle
 *      of a transaction (pg_terminate_backend: what a restart does to every
 *      session, made deterministic),
 *   2. the server is restarted (`pg_ctl restart -m fast`),
 *   3. the server is stopped (`-m fast`), the backend is killed while it is
 *      down, so its restart fails, and the server is started again 5 s later.
 * Meanwhile the ingester answers 503 with Retry-After, never another 5xx
 * and never a 202 for something it did not store. The backend survives 1
 * and 2; after 3 the supervisor's retries bring it back with no manual
 * step; every event acknowledged before, during or after is stored.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { REQUIRE_ALL } from "../support/env.ts";
import {
  type PrivatePostgres,
  privatePostgresMissing,
  startPrivatePostgres,
} from "../support/private-services.ts";
import { alive, type Source, sleep, startZenmesh, until, type Zenmesh } from "../support/zenmesh-up.ts";

const SENDERS = 8;
const PACE_MS = 5;
/** Long enough that the killed backend's first restart (after the supervisor's 1 s backoff) meets it. */
const OUTAGE_MS = 5000;
/** Sessions to end mid-transaction in step 1 (each one crashed the backend while it had no listener). */
const TERMINATIONS = 5;
/**
 * How long after the server is back the system may take to acknowledge again: the killed backend is
 * restarted with the supervisor's backoff (1, 2, 4 s…) and takes a few seconds to start.
 */
const RECOVERY_BUDGET_MS = 20_000;

const missing = privatePostgresMissing();
if (missing && REQUIRE_ALL) throw new Error(`the PostgreSQL resilience suite is required in CI: ${missing}`);

describe("PostgreSQL going away under load", { skip: missing ?? false, timeout: 300_000 }, () => {
  let server: PrivatePostgres;
  let z: Zenmesh;
  let source: Source;

  before(async () => {
    server = await startPrivatePostgres();
    z = await startZenmesh({ name: "pg-restart", args: ["--database-url", server.url] });
    source = await z.githubSource();
    await until("the source to reach the ingester", async () => {
      const r = await z.sendGithub(source, JSON.stringify({ warmup: randomUUID() }));
      return r.status === 202 ? true : undefined;
    });
  });

  after(async () => {
    await z?.stop();
    await server?.stop();
  });

  /** Ends the backend's sessions that are inside a transaction, as the server does to every session when it stops. */
  async function terminateMidTransaction(): Promise<string[]> {
    const admin = new pg.Client({ connectionString: server.url, application_name: "resilience-admin" });
    admin.on("error", () => {});
    await admin.connect();
    const ended: string[] = [];
    try {
      const deadline = Date.now() + 5000;
      while (ended.length < TERMINATIONS && Date.now() < deadline) {
        const r = await admin.query<{ pid: number; query: string }>(
          `select pid, left(query, 40) as query from pg_stat_activity
            where application_name = 'zenmesh' and state = 'idle in transaction'`,
        );
        for (const row of r.rows.slice(0, TERMINATIONS - ended.length)) {
          await admin.query("select pg_terminate_backend($1)", [row.pid]);
          ended.push(`${row.pid} after "${row.query}"`);
        }
        await sleep(20);
      }
    } finally {
      await admin.end().catch(() => {});
    }
    return ended;
  }

  test("503 with Retry-After while the database is away, the backend survives or restarts by itself, nothing acknowledged is lost", async (t) => {
    const acked: string[] = [];
    const statuses = new Map<string, number>();
    const unavailable: { at: number; retryAfter: string | null }[] = [];
    const timeline: string[] = [];
    const t0 = Date.now();
    let stop = false;
    let sent = 0;
    let lastAck = 0;
    let terminated: string[] = [];
    let backendPid = z.pidOf("backend");
    let exitsBeforeKill: string[] = [];
    let recoveredAfterMs: number | undefined;
    let hung: number[] = [];

    const sender = async () => {
      while (!stop) {
        const n = sent++;
        let status: string;
        try {
          const r = await z.sendGithub(source, JSON.stringify({ ref: "refs/heads/pg", n, at: Date.now() }));
          status = String(r.status);
          if (r.status === 202 && r.id) {
            acked.push(r.id);
            lastAck = Date.now();
          }
          if (r.status === 503) unavailable.push({ at: Date.now() - t0, retryAfter: r.retryAfter ?? null });
        } catch (err) {
          status = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        await sleep(status === "202" ? PACE_MS : 100);
      }
    };
    const mark = (what: string) => timeline.push(`${Date.now() - t0} ms ${what}`);

    const chaos = (async () => {
      try {
        await sleep(2000);
        terminated = await terminateMidTransaction();
        mark(`terminated ${terminated.length} sessions mid-transaction`);
        await sleep(1500);
        mark("pg_ctl restart -m fast");
        await server.ctl("restart", "-m", "fast");
        mark("restarted");
        await sleep(3000);
        exitsBeforeKill = z.exits();
        backendPid = z.pidOf("backend");
        mark("pg_ctl stop -m fast");
        await server.ctl("stop", "-m", "fast");
        if (alive(backendPid)) {
          process.kill(backendPid, "SIGKILL");
          mark(`killed the backend (pid ${backendPid}) while the database is down`);
        } else {
          mark(`the backend (pid ${backendPid}) was already gone`);
        }
        await sleep(OUTAGE_MS);
        mark("pg_ctl start");
        await server.ctl("start");
        const back = Date.now();
        mark("started");
        while (Date.now() - back < RECOVERY_BUDGET_MS && lastAck <= back + 500) await sleep(200);
        if (lastAck > back + 500) {
          recoveredAfterMs = lastAck - back;
          mark(`acknowledging again ${recoveredAfterMs} ms after the start`);
        } else {
          // A backend that neither reported running nor exited: the supervisor would wait on it forever.
          hung = z.processesOf("backend").filter((pid) => pid !== z.pidOf("backend"));
          mark(`not acknowledging ${RECOVERY_BUDGET_MS} ms after the start`);
        }
        await sleep(1000);
      } finally {
        stop = true;
      }
    })();
    await Promise.all([chaos, ...Array.from({ length: SENDERS }, sender)]);

    const summary =
      `postgres: sent ${sent}, acknowledged ${acked.length}, answers ${JSON.stringify(Object.fromEntries(statuses))}; ` +
      `503s from ${unavailable[0]?.at ?? "-"} to ${unavailable.at(-1)?.at ?? "-"} ms; timeline: ${timeline.join("; ")}; ` +
      `supervisor: ${z.exits().join(" | ") || "no exits"}`;
    console.log(summary);
    t.diagnostic(summary);

    assert.ok(terminated.length > 0, "step 1 found sessions in the middle of a transaction to terminate");
    assert.ok(
      !/Unhandled 'error' event/.test(z.output()),
      "no unhandled 'error' from the database driver when the server ends a session",
    );
    assert.deepEqual(
      exitsBeforeKill,
      [],
      "the backend survives sessions ended mid-transaction and a restart of the server (no exit before the kill)",
    );
    assert.ok(unavailable.length > 0, "some webhooks met the outage and were answered 503");
    const withoutRetryAfter = unavailable.filter((u) => !/^\d+$/.test(u.retryAfter ?? ""));
    assert.deepEqual(withoutRetryAfter, [], "every 503 carries Retry-After in seconds");
    const otherErrors = [...statuses].filter(([s]) => /^5\d\d$/.test(s) && s !== "503");
    assert.deepEqual(otherErrors, [], "no 5xx but 503 (nothing like a 500 while the database is away)");
    assert.ok(
      recoveredAfterMs !== undefined,
      `acknowledging again within ${RECOVERY_BUDGET_MS} ms of the database's return, with no manual step; ` +
        (hung.length > 0
          ? `backend pid ${hung.join(", ")} is alive but never reported running (a failed start that did not exit)`
          : `no hung backend; ${timeline.join("; ")}`),
    );
    assert.ok(
      z.exits().some((l) => /^backend\s+exited\s+code 1/.test(l)),
      `the killed backend's restart met the outage and failed (the path under test): ${z.exits().join(" | ")}`,
    );

    const fresh = await until("a fresh webhook acknowledged after the outage", async () => {
      const r = await z.sendGithub(source, JSON.stringify({ ref: "refs/heads/after-pg", n: randomUUID() }));
      return r.status === 202 ? r : undefined;
    });
    acked.push(fresh.id!);
    const health = await fetch(`${z.api}/healthz`);
    assert.equal(health.status, 200, "healthy again");

    const ids = new Set(acked);
    assert.equal(ids.size, acked.length, "one event id per acknowledged webhook");
    const notStored: string[] = [];
    const queue = [...ids];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
          const r = await z.call("GET", `/v1/projects/${z.projectId}/events/${id}`);
          if (r.status !== 200 || r.json?.event?.id !== id) {
            notStored.push(`${id} → ${r.status} ${r.text.slice(0, 120)}`);
          }
        }
      }),
    );
    assert.deepEqual(notStored, [], `all ${ids.size} acknowledged events are stored`);
  });
});
