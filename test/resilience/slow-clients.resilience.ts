/**
 * Slowloris against the ingester: 240 connections that trickle their
 * headers one byte at a time, or send whole headers and then a body that
 * never finishes, one byte at a time. While at least 200 of them are open,
 * ordinary GitHub-signed webhooks keep getting 202 promptly; every slow
 * connection is cut within the configured header and request timeouts
 * (plus the server's one-second check interval). The slow sockets come from
 * several loopback addresses, as slow clients would: the ingester's per-client
 * connection cap (which refuses one address's connections beyond its share) is
 * proven in src/ingest/ingester/limits.test.ts, not here.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  alive,
  githubHeaders,
  ROLES,
  type Source,
  sleep,
  startZenmesh,
  until,
  type Zenmesh,
} from "../support/zenmesh-up.ts";

const HEADERS_TIMEOUT_S = 2;
const REQUEST_TIMEOUT_S = 4;
/** Node checks the two timeouts once a second (the ingester's connectionsCheckingInterval), plus scheduling slack. */
const CHECK_SLACK_MS = 1000 + 1500;
const TRICKLE_HEADERS = 120;
const STALL_BODIES = 120;
const MIN_OPEN = 200;
/** Slow clients' own addresses (127.0.0.2 …): each holds far fewer sockets than the per-client cap. */
const SLOW_ADDRESSES = 8;

interface Slow {
  kind: "headers" | "body";
  socket: Socket;
  openedAt: number;
  closedAt?: number;
  answer: string;
  timer?: NodeJS.Timeout;
}

function slowClient(
  port: number,
  kind: Slow["kind"],
  sourceId: string,
  secret: string,
  from: string,
): Promise<Slow> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: from });
    const s: Slow = { kind, socket, openedAt: 0, answer: "" };
    socket.on("data", (d: Buffer) => {
      s.answer += d.toString("latin1");
    });
    socket.on("error", () => {});
    socket.once("close", () => {
      s.closedAt = Date.now();
      clearInterval(s.timer);
    });
    socket.once("connect", () => {
      s.openedAt = Date.now();
      if (kind === "headers") {
        socket.write(`POST /e/${sourceId} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: `);
        s.timer = setInterval(() => socket.writable && socket.write("a"), 150);
      } else {
        const body = JSON.stringify({ ref: "refs/heads/slow", pad: "x".repeat(1000) });
        const h = githubHeaders(secret, body);
        const head = Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`);
        socket.write(
          `POST /e/${sourceId} HTTP/1.1\r\nhost: 127.0.0.1\r\n${head.join("")}content-length: ${body.length}\r\n\r\n`,
        );
        let at = 0;
        s.timer = setInterval(() => socket.writable && socket.write(body[at++] ?? " "), 300);
      }
      resolve(s);
    });
    socket.once("error", reject);
  });
}

describe("slow clients against the ingester", { timeout: 120_000 }, () => {
  let z: Zenmesh;
  let source: Source;

  before(async () => {
    z = await startZenmesh({
      name: "slowloris",
      env: {
        ZENMESH_INGEST_HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_S),
        ZENMESH_INGEST_REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_S),
      },
    });
    source = await z.githubSource();
    await until("the source to reach the ingester", async () => {
      const r = await z.sendGithub(source, JSON.stringify({ ready: randomUUID() }));
      return r.status === 202 ? true : undefined;
    });
  });

  after(async () => {
    await z?.stop();
  });

  test(`${TRICKLE_HEADERS + STALL_BODIES} slow sockets: normal webhooks keep getting 202, and the slow ones are cut in time`, async (t) => {
    const pids = ROLES.map((r) => z.pidOf(r));
    const port = Number(new URL(z.ingest).port);
    const slow = await Promise.all([
      ...Array.from({ length: TRICKLE_HEADERS }, (_, i) =>
        slowClient(port, "headers", source.id, source.secret, `127.0.0.${2 + (i % SLOW_ADDRESSES)}`),
      ),
      ...Array.from({ length: STALL_BODIES }, (_, i) =>
        slowClient(port, "body", source.id, source.secret, `127.0.0.${2 + (i % SLOW_ADDRESSES)}`),
      ),
    ]);
    const openNow = () => slow.filter((s) => s.closedAt === undefined).length;
    try {
      const normal: { status: number; ms: number; open: number }[] = [];
      const sender = async () => {
        while (openNow() > 0 && normal.length < 2000) {
          const t0 = Date.now();
          const open = openNow();
          const r = await z.sendGithub(source, JSON.stringify({ ref: "refs/heads/normal", n: randomUUID() }));
          normal.push({ status: r.status, ms: Date.now() - t0, open });
          await sleep(20);
        }
      };
      const deadline = Date.now() + (REQUEST_TIMEOUT_S * 1000 + CHECK_SLACK_MS) * 2;
      await Promise.race([
        Promise.all(Array.from({ length: 4 }, sender)),
        (async () => {
          while (Date.now() < deadline) await sleep(200);
        })(),
      ]);

      const duringFlood = normal.filter((n) => n.open >= MIN_OPEN);
      const notAccepted = normal.filter((n) => n.status !== 202);
      const slowest = Math.max(...normal.map((n) => n.ms));
      const lifetimes = (kind: Slow["kind"]) =>
        slow.filter((s) => s.kind === kind).map((s) => (s.closedAt ?? Number.POSITIVE_INFINITY) - s.openedAt);
      const worst = (kind: Slow["kind"]) => Math.max(...lifetimes(kind));
      const answered408 = slow.filter((s) => s.answer.startsWith("HTTP/1.1 408")).length;
      const summary =
        `slow clients: ${slow.length} open at once; normal webhooks ${normal.length} ` +
        `(${duringFlood.length} while ≥ ${MIN_OPEN} slow sockets were open), not 202: ${notAccepted.length}, slowest ${slowest} ms; ` +
        `cut after at most ${worst("headers")} ms (trickled headers, timeout ${HEADERS_TIMEOUT_S} s) and ` +
        `${worst("body")} ms (unfinished bodies, timeout ${REQUEST_TIMEOUT_S} s); answered 408: ${answered408}`;
      console.log(summary);
      t.diagnostic(summary);

      assert.ok(
        duringFlood.length >= 20,
        `only ${duringFlood.length} normal webhooks went while ≥ ${MIN_OPEN} slow sockets were open`,
      );
      assert.deepEqual(notAccepted.slice(0, 5), [], "every normal webhook is acknowledged during the flood");
      assert.ok(slowest < 3000, `normal webhooks stay prompt (slowest ${slowest} ms)`);
      assert.equal(openNow(), 0, "every slow socket was cut");
      assert.ok(
        worst("headers") <= HEADERS_TIMEOUT_S * 1000 + CHECK_SLACK_MS,
        `trickled headers are cut within the headers timeout (worst ${worst("headers")} ms)`,
      );
      assert.ok(
        worst("body") <= REQUEST_TIMEOUT_S * 1000 + CHECK_SLACK_MS,
        `unfinished bodies are cut within the request timeout (worst ${worst("body")} ms)`,
      );
      assert.deepEqual(z.exits(), [], "no role exited");
      for (const [i, role] of ROLES.entries())
        assert.ok(alive(pids[i]!) && z.pidOf(role) === pids[i], `${role} unchanged`);
      const after = await z.sendGithub(source, JSON.stringify({ ref: "refs/heads/after", n: randomUUID() }));
      assert.equal(after.status, 202, "still acknowledging afterwards");
    } finally {
      for (const s of slow) {
        clearInterval(s.timer);
        s.socket.destroy();
      }
    }
  });
});
