/**
 * PostgreSQL restarted under load: `zenmesh up` on a private PostgreSQL
 * server (never the machine's shared one), GitHub-signed webhooks streaming
 * in, and the server restarted twice mid-stream: `pg_ctl restart -m fast`
 * (a blip), then stopped with `-m fast` and started again 3 s later (an
 * outage long enough to be seen by every sender). The stop comes while a
 * lock on `events` holds the backend's ingest transactions open, as a
 * migration or a long query would, so it always meets transactions in
 * flight rather than only when the timing happens to line up. Meanwhile the ingester
 * answers 503 with Retry-After, never another 5xx and never a 202 for
 * something it did not store; afterwards it acknowledges again, and every
 * event it acknowledged, before, during or after, is stored.
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
import { type Source, sleep, startZenmesh, until, type Zenmesh } from "../support/zenmesh-up.ts";
import { knownBug } from "./known-bugs.ts";

const SENDERS = 8;
const PACE_MS = 5;
const OUTAGE_MS = 3000;
/**
 * How long after the server is back the system may take to acknowledge again: a backend that died meanwhile
 * is restarted with the supervisor's backoff (1, 2, 4 s…) and takes a few seconds to start.
 */
const RECOVERY_BUDGET_MS = 15_000;

const missing = privatePostgresMissing();
if (missing && REQUIRE_ALL) throw new Error(`the PostgreSQL resilience suite is required in CI: ${missing}`);

describe("PostgreSQL restarted under load", { skip: missing ?? false, timeout: 300_000 }, () => {
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

  test("503 with Retry-After while the database is away, then recovery; nothing acknowledged is lost", async (t) => {
    const acked: string[] = [];
    const statuses = new Map<string, number>();
    const unavailable: { at: number; retryAfter: string | null }[] = [];
    const timeline: string[] = [];
    const t0 = Date.now();
    let stop = false;
    let sent = 0;
    let lastAck = 0;

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
        mark("pg_ctl restart -m fast");
        await server.ctl("restart", "-m", "fast");
        mark("restarted");
        await sleep(3000);
        // Ingest transactions queue behind this lock; the shutdown then ends them mid-flight.
        const blocker = new pg.Client({ connectionString: server.url });
        blocker.on("error", () => {});
        await blocker.connect();
        await blocker.query("begin");
        await blocker.query("lock table events in access exclusive mode");
        mark("events locked");
        await sleep(700);
        mark("pg_ctl stop -m fast");
        await server.ctl("stop", "-m", "fast");
        await blocker.end().catch(() => {});
        await sleep(OUTAGE_MS);
        mark("pg_ctl start");
        await server.ctl("start");
        const back = Date.now();
        mark("started");
        // Recovered: acknowledgements again, for a while.
        let recovered = false;
        while (Date.now() - back < RECOVERY_BUDGET_MS) {
          if (lastAck > back + 500) {
            recovered = true;
            break;
          }
          await sleep(200);
        }
        const hung = z.processesOf("backend").filter((pid) => pid !== z.pidOf("backend"));
        const reportedHang =
          !recovered &&
          !knownBug(
            t,
            "role-hangs-after-failed-start",
            hung.length === 0,
            `${RECOVERY_BUDGET_MS} ms after PostgreSQL came back, backend pid ${hung.join(", ")} is alive but never reported running`,
          );
        if (reportedHang) {
          // The work-around an operator would need: end the hung role so the supervisor starts it again.
          for (const pid of hung) process.kill(pid, "SIGKILL");
          mark(`killed hung backend ${hung.join(", ")}`);
          const again = Date.now();
          while (Date.now() - again < RECOVERY_BUDGET_MS && lastAck <= again + 500) await sleep(200);
        }
        mark(
          lastAck > back ? `acknowledging again ${lastAck - back} ms after the start` : "not acknowledging",
        );
        await sleep(1000);
      } finally {
        stop = true;
      }
    })();
    await Promise.all([chaos, ...Array.from({ length: SENDERS }, sender)]);

    const backendExits = z.exits().filter((l) => l.startsWith("backend"));
    const summary =
      `postgres restart: sent ${sent}, acknowledged ${acked.length}, answers ${JSON.stringify(Object.fromEntries(statuses))}; ` +
      `503s from ${unavailable[0]?.at ?? "-"} to ${unavailable.at(-1)?.at ?? "-"} ms; timeline: ${timeline.join("; ")}; ` +
      `backend exits: ${backendExits.join(" | ") || "none"}`;
    console.log(summary);
    t.diagnostic(summary);

    knownBug(
      t,
      "pg-checked-out-client-error",
      !/Unhandled 'error' event/.test(z.output()),
      `the backend died of an unhandled pg Client 'error' (${backendExits.join(" | ")})`,
    );
    assert.ok(unavailable.length > 0, "some webhooks met the outage and were answered 503");
    const withoutRetryAfter = unavailable.filter((u) => !/^\d+$/.test(u.retryAfter ?? ""));
    assert.deepEqual(withoutRetryAfter, [], "every 503 carries Retry-After in seconds");
    const otherErrors = [...statuses].filter(([s]) => /^5\d\d$/.test(s) && s !== "503");
    assert.deepEqual(otherErrors, [], "no 5xx but 503 (nothing like a 500 while the database is away)");
    assert.ok(
      lastAck > 0 && timeline.some((l) => l.includes("acknowledging again")),
      `recovered: ${timeline.join("; ")}`,
    );

    const fresh = await until("a fresh webhook acknowledged after the restart", async () => {
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
          if (r.status !== 200 || r.json?.event?.id !== id)
            notStored.push(`${id} → ${r.status} ${r.text.slice(0, 120)}`);
        }
      }),
    );
    assert.deepEqual(notStored, [], `all ${ids.size} acknowledged events are stored`);
  });
});
