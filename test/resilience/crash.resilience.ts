/**
 * Crash resilience of `zenmesh up`: under a steady stream of GitHub-signed
 * webhooks with a destination subscribed to everything, every role is
 * killed with SIGKILL in turn (ingester, egress, bff, backend) and restarted
 * by the supervisor. Afterwards every acknowledged (202) event is stored and
 * has reached the receiver at least once, verified with `standardwebhooks`;
 * the system serves a fresh webhook end to end with no manual step.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startVerifyingReceiver, type VerifyingReceiver } from "../support/verifying-receiver.ts";
import {
  alive,
  ROLES,
  type Role,
  type Source,
  sleep,
  startZenmesh,
  until,
  type Zenmesh,
} from "../support/zenmesh-up.ts";

const KILL_ORDER: readonly Role[] = ["ingester", "egress", "bff", "backend"];
const SENDERS = 4;
/** Each sender's pause between webhooks: a steady ~60/s in all, so delivery keeps up and the drain stays short. */
const PACE_MS = 60;
/** Load before the first kill, and between a role's restart and the next kill. */
const BETWEEN_KILLS_MS = 2500;
const MAX_SENDS = 6000;
const ARRIVAL_BUDGET_MS = 90_000;
/** Short, so attempts that met a dead role come back soon; long enough in sum to outlast any restart. */
const RETRY_SCHEDULE = [1, 2, 3, 5, 8, 13];
const PATH = "/crash";

describe("kill -9 of every role under load", { timeout: 300_000 }, () => {
  let z: Zenmesh;
  let rx: VerifyingReceiver;
  let source: Source;
  const acked: string[] = [];
  /** When each acknowledgement came, to show the load ran before, between and after the kills. */
  const ackedAt: number[] = [];
  const refused = new Map<string, number>();
  let sent = 0;

  before(async () => {
    rx = await startVerifyingReceiver();
    z = await startZenmesh({
      name: "crash",
      env: {
        ZENMESH_EGRESS_ALLOW_CIDRS: "127.0.0.1/32",
        ZENMESH_DELIVER_LEASE_SECONDS: "15",
        ZENMESH_DELIVER_POLL_MS: "250",
      },
    });
    source = await z.githubSource();
    const d = await z.call("POST", `/v1/projects/${z.projectId}/destinations`, {
      name: "receiver",
      url: `${rx.url}${PATH}`,
      allow_plain_http: true,
      timeout_ms: 5000,
      retry: { schedule_seconds: RETRY_SCHEDULE },
    });
    assert.equal(d.status, 201, `create the destination: ${d.text}`);
    rx.expect(PATH, d.json.secret);
    const s = await z.call("POST", `/v1/projects/${z.projectId}/subscriptions`, {
      destination_id: d.json.id,
    });
    assert.equal(s.status, 201, `create the subscription: ${s.text}`);
    // The source and subscription reach the ingester and backend before the stream starts.
    const first = await until("the first webhook to be acknowledged", async () => {
      const r = await z.sendGithub(source, JSON.stringify({ warmup: randomUUID() }));
      return r.status === 202 ? r : undefined;
    });
    await until("the first delivery", async () => (rx.counts(PATH).has(first.id!) ? true : undefined));
  });

  after(async () => {
    await z?.stop();
    await rx?.close();
  });

  test("every acknowledged event is stored and delivered at least once across kill -9 of each role", async (t) => {
    let chaosDone = false;
    let firstKillAt: number | undefined;
    let lastRestartAt = 0;
    const killed: { role: Role; oldPid: number; newPid: number; restartMs: number }[] = [];
    const chaos = (async () => {
      try {
        for (const role of KILL_ORDER) {
          await sleep(BETWEEN_KILLS_MS);
          const starts = z.startsOf(role);
          const pid = z.pidOf(role);
          process.kill(pid, "SIGKILL");
          const at = Date.now();
          firstKillAt ??= at;
          await until(
            `the supervisor to restart ${role} (killed pid ${pid})`,
            async () => (z.startsOf(role) > starts ? true : undefined),
            30_000,
          );
          killed.push({ role, oldPid: pid, newPid: z.pidOf(role), restartMs: Date.now() - at });
          lastRestartAt = Date.now();
        }
        await sleep(BETWEEN_KILLS_MS);
      } finally {
        chaosDone = true;
      }
    })();
    const sender = async () => {
      while (!chaosDone && sent < MAX_SENDS) {
        const n = sent++;
        try {
          const r = await z.sendGithub(
            source,
            JSON.stringify({ ref: "refs/heads/crash", n, at: Date.now() }),
          );
          if (r.status === 202 && r.id) {
            acked.push(r.id);
            ackedAt.push(Date.now());
          } else refused.set(String(r.status), (refused.get(String(r.status)) ?? 0) + 1);
        } catch (err) {
          const why = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
          refused.set(why, (refused.get(why) ?? 0) + 1);
        }
        await sleep(PACE_MS);
      }
    };
    const sendStart = Date.now();
    await Promise.all([chaos, ...Array.from({ length: SENDERS }, sender)]);
    const sendMs = Date.now() - sendStart;

    const kills = `kills: ${killed.map((k) => `${k.role} ${k.oldPid}→${k.newPid} restarted in ${k.restartMs} ms`).join(", ")}`;
    console.log(`crash: ${kills}`);
    t.diagnostic(kills);
    assert.deepEqual(
      killed.map((k) => k.role),
      KILL_ORDER,
      "every role was killed and restarted in turn",
    );
    for (const role of KILL_ORDER) {
      assert.match(z.output(), new RegExp(`${role}\\s+exited\\s+SIGKILL`), `the supervisor saw ${role} die`);
    }
    const ids = new Set(acked);
    assert.equal(ids.size, acked.length, "one event id per acknowledged webhook");
    const beforeKills = ackedAt.filter((at) => at < (firstKillAt ?? 0)).length;
    const afterRestarts = ackedAt.filter((at) => at > lastRestartAt).length;
    assert.ok(
      acked.length >= 100 && beforeKills >= 10 && afterRestarts >= 10,
      `the load ran throughout: ${acked.length} of ${sent} acknowledged in ${sendMs} ms, ` +
        `${beforeKills} before the first kill, ${afterRestarts} after the last restart`,
    );

    const waitStart = Date.now();
    const missing = () => [...ids].filter((id) => !rx.counts(PATH).has(id));
    while (missing().length > 0 && Date.now() - waitStart < ARRIVAL_BUDGET_MS) await sleep(250);
    const drainMs = Date.now() - waitStart;

    // Stored: each acknowledged id reads back through the API (a few at a time).
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

    const counts = rx.counts(PATH);
    const lost = missing();
    const arrivals = [...counts.values()].reduce((a, b) => a + b, 0);
    const summary =
      `crash: sent ${sent} in ${sendMs} ms, acknowledged ${acked.length}, refused ${JSON.stringify(Object.fromEntries(refused))}; ` +
      `stored ${ids.size - notStored.length}/${ids.size}; receiver: distinct ${counts.size}, deliveries ${arrivals}, ` +
      `duplicates ${arrivals - counts.size}, failed verification ${rx.failures}; missing ${lost.length}; drained ${drainMs} ms after the stream`;
    console.log(summary);
    t.diagnostic(summary);

    assert.deepEqual(notStored, [], "every acknowledged event is stored and readable");
    if (lost.length > 0) {
      const sample = await Promise.all(
        lost
          .slice(0, 3)
          .map(
            async (id) => (await z.call("GET", `/v1/projects/${z.projectId}/deliveries?event_id=${id}`)).text,
          ),
      );
      assert.fail(
        `${lost.length} acknowledged events never arrived within ${ARRIVAL_BUDGET_MS} ms; e.g. ${sample.join(" ")}`,
      );
    }
    assert.equal(rx.failures, 0, "every delivery verifies with the destination's secret");
  });

  test("recovers with no manual step: healthy, every role running, a fresh webhook delivered", async () => {
    const health = await until("GET /healthz → 200", async () => {
      const r = await fetch(`${z.api}/healthz`);
      return r.status === 200 ? r.json() : undefined;
    });
    assert.equal((health as { status?: string }).status, "ok");
    for (const role of ROLES) assert.ok(alive(z.pidOf(role)), `${role} (pid ${z.pidOf(role)}) is running`);
    const exits = z.exits();
    assert.equal(
      exits.length,
      KILL_ORDER.length,
      `only the four kills ended a role; the supervisor printed:\n${exits.join("\n")}`,
    );
    const fresh = await z.sendGithub(
      source,
      JSON.stringify({ ref: "refs/heads/after-crash", n: randomUUID() }),
    );
    assert.equal(fresh.status, 202, "a fresh webhook is acknowledged");
    await until(`the fresh event ${fresh.id} at the receiver`, async () =>
      rx.counts(PATH).has(fresh.id!) ? true : undefined,
    );
  });
});
