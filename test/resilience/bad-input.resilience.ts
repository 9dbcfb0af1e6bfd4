/**
 * 100,000 malformed requests (test/support/malformed.ts: random bytes,
 * truncated and oversized bodies, broken JSON, malformed and duplicated
 * signature headers, header floods, invalid UTF-8, path tricks, smuggling
 * shapes, wrong methods and content types) against the ingest listener
 * (`POST /e/{source}` of a real source) and the control API (`/v1/...`, with
 * and without a valid key), over raw sockets kept alive where the server
 * keeps them. Afterwards: no role crashed or was restarted, no answer was a
 * 5xx, every well-framed request was answered, and the backend's and
 * ingester's memory is back near where it was.
 *
 * Memory is read twice each time: resident memory from /proc/<pid>/status
 * as is (reported), and after a full GC forced through the inspector (the
 * system runs with `--inspect=127.0.0.1:0`), which is what the assertions
 * use. Without a GC, resident memory measures V8's appetite, not what is
 * held: V8 grows its heap under load and gives it back only when it
 * collects, which an idle role may not do for minutes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { INSPECT_OPTIONS, Inspectors, type LiveMemory } from "../support/inspector.ts";
import { createGenerator, type Generated } from "../support/malformed.ts";
import { RawConnection } from "../support/raw-http.ts";
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

const TOTAL = Number(process.env.ZENMESH_FUZZ_REQUESTS ?? 100_000);
const WARMUP = 2000;
const WORKERS = 32;
const SEED = Number(process.env.ZENMESH_FUZZ_SEED ?? 20_261_201);
const ANSWER_TIMEOUT_MS = 10_000;
const MiB = 1024 * 1024;
/**
 * Resident memory after a full GC may exceed the baseline by this much: V8 keeps part of a heap that
 * grew committed, glibc keeps freed arenas, and PGlite's WebAssembly memory (the backend) can only grow.
 * A leak of 1 KiB per request (100 MiB over the run) exceeds it for either role.
 */
const rssBudget = (baseline: number) => baseline * 0.25 + 64 * MiB;
/** The live JS heap after a full GC: what a leak would grow. 16 MiB is ~170 bytes per request. */
const HEAP_BUDGET = 16 * MiB;
const WATCHED: Role[] = ["ingester", "backend"];

interface Tally {
  sent: number;
  targets: Record<Generated["target"], number>;
  byCategory: Map<string, Map<number, number>>;
  serverErrors: string[];
  unanswered: string[];
  timedOut: string[];
  retried: number;
}

const describeRequest = (g: Generated) =>
  `${g.category}: ${JSON.stringify(g.req.bytes.subarray(0, 160).toString("latin1"))}`;

describe("malformed requests against the ingest listener and the control API", { timeout: 300_000 }, () => {
  let z: Zenmesh;
  let source: Source;
  let inspectors: Inspectors;

  before(async () => {
    z = await startZenmesh({
      name: "bad-input",
      env: {
        // Deeper than the limiter: requests with the valid key must reach validation, not a 429.
        ZENMESH_AUTH_FAILURE_LIMIT: "1000000",
        // Stalled and truncated requests are cut within seconds, so they do not pile up.
        ZENMESH_INGEST_HEADERS_TIMEOUT_SECONDS: "2",
        ZENMESH_INGEST_REQUEST_TIMEOUT_SECONDS: "3",
        NODE_OPTIONS: INSPECT_OPTIONS,
      },
    });
    inspectors = new Inspectors(z.output);
    source = await z.githubSource();
    await until("the source to reach the ingester", async () => {
      const r = await z.sendGithub(source, JSON.stringify({ ready: true }));
      return r.status === 202 ? true : undefined;
    });
  });

  after(async () => {
    await z?.stop();
  });

  async function run(count: number, generate: () => Generated, tally: Tally): Promise<void> {
    const ports = { ingest: Number(new URL(z.ingest).port), api: Number(new URL(z.api).port) };
    let next = 0;
    const worker = async () => {
      const conns = { ingest: new RawConnection(ports.ingest), api: new RawConnection(ports.api) };
      try {
        while (next < count) {
          next++;
          const g = generate();
          tally.sent++;
          tally.targets[g.target]++;
          let status: number;
          try {
            const r = await conns[g.target].exchange(g.req, ANSWER_TIMEOUT_MS);
            status = r.status;
          } catch {
            tally.timedOut.push(describeRequest(g));
            continue;
          }
          const h = tally.byCategory.get(g.category) ?? new Map<number, number>();
          tally.byCategory.set(g.category, h);
          h.set(status, (h.get(status) ?? 0) + 1);
          if (status >= 500) tally.serverErrors.push(`${status} ← ${describeRequest(g)}`);
          // A request cut short by the client may be dropped unanswered; a whole one must be answered.
          if (status <= 0 && !g.req.endAfterWrite) tally.unanswered.push(`${status} ← ${describeRequest(g)}`);
        }
      } finally {
        tally.retried += conns.ingest.retried + conns.api.retried;
        conns.ingest.drop();
        conns.api.drop();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
  }

  const memory = async () => {
    const out: Record<string, { rssNoGc: number; live: LiveMemory }> = {};
    for (const role of WATCHED) {
      const rssNoGc = z.rssKb(role) * 1024;
      out[role] = { rssNoGc, live: await inspectors.liveMemory(z.pidOf(role)) };
    }
    return out as Record<Role, { rssNoGc: number; live: LiveMemory }>;
  };
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

  test(`${TOTAL} malformed requests: no crash, no 5xx, every whole request answered, memory back near baseline`, async (t) => {
    const generate = createGenerator(
      {
        sourceId: source.id,
        sourceSecret: source.secret,
        projectId: z.projectId,
        tenantId: z.tenantId,
        apiKey: z.key,
      },
      SEED,
    );
    const pids = Object.fromEntries(ROLES.map((r) => [r, z.pidOf(r)])) as Record<Role, number>;
    const fresh = (): Tally => ({
      sent: 0,
      targets: { ingest: 0, api: 0 },
      byCategory: new Map(),
      serverErrors: [],
      unanswered: [],
      timedOut: [],
      retried: 0,
    });

    // Warm-up: every path compiled and every pool opened before the baseline.
    const warm = fresh();
    await run(WARMUP, generate, warm);
    await sleep(2000);
    const before = await memory();

    const tally = fresh();
    const t0 = Date.now();
    await run(TOTAL, generate, tally);
    const ms = Date.now() - t0;
    await sleep(3000);
    const afterRun = await memory();

    const lines = [...tally.byCategory]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([c, h]) =>
          `  ${c.padEnd(52)} ${JSON.stringify(Object.fromEntries([...h].sort((a, b) => a[0] - b[0])))}`,
      );
    const mem = WATCHED.map(
      (r) =>
        `${r}: rss ${mib(before[r].rssNoGc)} → ${mib(afterRun[r].rssNoGc)} without GC, ` +
        `${mib(before[r].live.rss)} → ${mib(afterRun[r].live.rss)} after a full GC; ` +
        `live heap ${mib(before[r].live.heapUsed)} → ${mib(afterRun[r].live.heapUsed)}, ` +
        `external ${mib(before[r].live.external)} → ${mib(afterRun[r].live.external)}`,
    );
    const summary = [
      `bad input: ${tally.sent} requests (seed ${SEED}, after ${warm.sent} to warm up) in ${ms} ms ` +
        `(${Math.round((tally.sent / ms) * 1000)}/s): ${tally.targets.ingest} to ingest, ${tally.targets.api} to the API, ` +
        `${WORKERS} connections at a time; ` +
        `5xx ${tally.serverErrors.length}, unanswered ${tally.unanswered.length}, timed out ${tally.timedOut.length}, ` +
        `resent after a kept-alive close ${tally.retried}; supervisor exits ${z.exits().length}`,
      ...mem,
      "answers by category (status 0: the server closed a connection the client had cut short):",
      ...lines,
    ].join("\n");
    console.log(summary);
    t.diagnostic(summary.replaceAll("\n", " | "));

    assert.deepEqual(z.exits(), [], "no role exited (the supervisor printed no 'exited' line)");
    for (const role of ROLES) {
      assert.equal(z.pidOf(role), pids[role], `${role} is the process it was before (no restart)`);
      assert.ok(alive(pids[role]), `${role} (pid ${pids[role]}) is alive`);
    }
    const serverErrors = [...warm.serverErrors, ...tally.serverErrors];
    assert.deepEqual(serverErrors.slice(0, 20), [], `no 5xx (of ${serverErrors.length})`);
    assert.deepEqual(
      tally.timedOut.slice(0, 20),
      [],
      `every request answered or closed within ${ANSWER_TIMEOUT_MS} ms`,
    );
    assert.deepEqual(tally.unanswered.slice(0, 20), [], "every whole request got an answer");
    const errors = z
      .output()
      .split("\n")
      .filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errors.slice(0, 5), [], `no error logged by any role (of ${errors.length})`);
    for (const role of WATCHED) {
      const b = before[role].live;
      const a = afterRun[role].live;
      assert.ok(
        a.rss <= b.rss + rssBudget(b.rss),
        `${role}: resident memory after a full GC ${mib(a.rss)} is within ${mib(rssBudget(b.rss))} of the baseline ${mib(b.rss)}`,
      );
      assert.ok(
        a.heapUsed <= b.heapUsed + HEAP_BUDGET,
        `${role}: live heap after a full GC ${mib(a.heapUsed)} is within ${mib(HEAP_BUDGET)} of the baseline ${mib(b.heapUsed)}`,
      );
    }
    // Still serving: a real webhook goes through after all of it.
    const ok = await z.sendGithub(source, JSON.stringify({ after: "bad input" }));
    assert.equal(ok.status, 202, "a valid webhook is acknowledged after the flood");
  });
});
