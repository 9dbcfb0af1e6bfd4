/**
 * Delivery through `zenmesh up`, end to end: GitHub-signed webhooks go in,
 * Standard Webhooks-signed CloudEvents come out at a receiver on loopback
 * that verifies every request with the `standardwebhooks` package. Egress
 * and then the backend are killed mid-stream and every acknowledged event
 * still arrives (at least once); customer credentials reach the target and
 * nothing else: not the logs, not an API answer, not the data dir.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { ANY_PORTS } from "../support/ports.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");
const TOTAL = 2000;
const SENDERS = 8;
const SEND_BUDGET_MS = 40_000;
const ARRIVAL_BUDGET_MS = 75_000;
// Short, so a failed attempt comes back within the test, and long enough in sum to outlast a role's restart.
const RETRY_SCHEDULE = [1, 2, 3, 5, 8, 13];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function githubHeaders(secret: string, body: string) {
  return {
    "content-type": "application/json",
    "x-github-event": "push",
    "x-github-delivery": randomUUID(),
    "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile() === true);
}

interface Arrival {
  id: string;
  headers: Record<string, string>;
  body: string;
}

describe("delivery through zenmesh up", () => {
  let dir: string;
  let child: ChildProcess;
  let exited: Promise<unknown>;
  let output = "";
  let api: string;
  let key: string;
  let projectId: string;
  let source: { id: string; ingest_url: string; secret: string };
  let receiver: Server;
  let target: string;
  /** Every API answer's body the test received. */
  const apiBodies: string[] = [];
  /** Receiver path → a verifier holding that destination's signing secret. */
  const verifiers = new Map<string, Webhook>();
  /** Receiver path → verified arrivals, in order. */
  const arrivals = new Map<string, Arrival[]>();
  let verifyFailures = 0;

  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(api + path, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    apiBodies.push(text);
    return { status: r.status, json: text ? JSON.parse(text) : undefined, text };
  };

  const send = async (body: string, headers: Record<string, string>, url = source.ingest_url) => {
    const r = await fetch(url, { method: "POST", headers, body });
    const json = (await r.json().catch(() => ({}))) as { id?: string };
    return { status: r.status, json };
  };

  /** The pid on the latest `<role> running pid N` line: restarts print new lines. */
  const pidOf = (role: string) => {
    let pid: number | undefined;
    for (const m of output.matchAll(new RegExp(`^\\s+${role}\\s+running\\s+pid (\\d+)`, "gm"))) {
      pid = Number(m[1]);
    }
    assert.ok(pid, `no running line for ${role}`);
    return pid;
  };
  const startsOf = (role: string) =>
    [...output.matchAll(new RegExp(`^\\s+${role}\\s+running\\s+pid`, "gm"))].length;

  const destination = async (path: string, extra: Record<string, unknown> = {}) => {
    const d = await call("POST", `/v1/projects/${projectId}/destinations`, {
      name: path,
      url: `${target}${path}`,
      allow_plain_http: true,
      timeout_ms: 5000,
      retry: { schedule_seconds: RETRY_SCHEDULE },
      ...extra,
    });
    assert.equal(d.status, 201, d.text);
    assert.match(d.json.secret, /^whsec_/);
    verifiers.set(path, new Webhook(d.json.secret));
    arrivals.set(path, []);
    return d.json as { id: string };
  };

  /** Every delivery of a destination, through the list's cursor. */
  const deliveriesOf = async (destinationId: string, status?: string) => {
    const all: { id: string; event_id: string; status: string; attempts: number }[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const q = new URLSearchParams({ destination_id: destinationId, limit: "200" });
      if (status) q.set("status", status);
      if (after) q.set("after", after);
      const r = await call("GET", `/v1/projects/${projectId}/deliveries?${q}`);
      assert.equal(r.status, 200, r.text);
      all.push(...r.json.data);
      after = r.json.next_cursor;
      if (!after) return all;
    }
    throw new Error("more than 100 pages of deliveries");
  };

  before(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        const body = Buffer.concat(chunks).toString("utf8");
        const headers = flatHeaders(req.headers);
        try {
          const verifier = verifiers.get(path);
          if (!verifier) throw new Error(`no destination at ${path}`);
          verifier.verify(body, headers);
          const event = JSON.parse(body) as { id?: unknown; specversion?: unknown };
          if (event.specversion !== "1.0" || event.id !== headers["webhook-id"]) {
            throw new Error("not a structured CloudEvent carrying the webhook-id");
          }
        } catch {
          verifyFailures++;
          res.writeHead(400, { "content-type": "text/plain" }).end("refused");
          return;
        }
        arrivals.get(path)?.push({ id: headers["webhook-id"]!, headers, body });
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    target = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    dir = mkdtempSync(join(tmpdir(), "zm-deliver-"));
    const env = {
      ...process.env,
      ZENMESH_LOG_LEVEL: "info",
      ...ANY_PORTS,
      ZENMESH_EGRESS_ALLOW_CIDRS: "127.0.0.1/32",
      ZENMESH_DELIVER_LEASE_SECONDS: "15",
      ZENMESH_DELIVER_POLL_MS: "250",
    };
    child = spawn(process.execPath, [BIN, "up", "--data-dir", dir], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((r) => child.once("exit", r));
    child.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    await until("ready", async () => (/ready in \d+ ms/.test(output) ? true : undefined), 60_000);
    const endpoints = JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as Record<string, string>;
    api = endpoints.api!;
    const t = spawnSync(
      process.execPath,
      [BIN, "tenant", "create", "--name", "acme", "--json", "--data-dir", dir],
      { encoding: "utf8", env },
    );
    assert.equal(t.status, 0, t.stderr);
    ({ api_key: key, project_id: projectId } = JSON.parse(t.stdout));
    const created = await call("POST", `/v1/projects/${projectId}/sources`, {
      name: "github",
      scheme: "github",
      allow_plain_http: true,
    });
    assert.equal(created.status, 201, created.text);
    source = created.json;
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    if (receiver) {
      const closed = new Promise((r) => receiver.close(r));
      receiver.closeAllConnections();
      await closed;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Bounded well past the runner's default, so a lost event fails with its numbers, not a timeout.
  test("every acknowledged event reaches the target at least once across egress and backend crashes", {
    timeout: 180_000,
  }, async () => {
    const dst = await destination("/all");
    const sub = await call("POST", `/v1/projects/${projectId}/subscriptions`, { destination_id: dst.id });
    assert.equal(sub.status, 201, sub.text);
    const first = JSON.stringify({ ref: "refs/heads/warmup", n: randomUUID() });
    // The new source and subscription reach the ingester and backend before the stream starts.
    await until("the source to reach the ingester", async () => {
      const x = await send(first, githubHeaders(source.secret, first));
      return x.status === 202 ? x : undefined;
    });
    await until("the first delivery", async () => (arrivals.get("/all")!.length > 0 ? true : undefined));

    const acked: string[] = [];
    let refused = 0;
    let started = 0;
    const sendStart = Date.now();
    const stopAt = sendStart + SEND_BUDGET_MS;
    const sending = () => started < TOTAL && Date.now() < stopAt;
    // A quarter and half of the way through, by count or, on a slow machine, by time.
    const reached = (fraction: number) =>
      started >= TOTAL * fraction || Date.now() - sendStart >= SEND_BUDGET_MS * fraction;
    const killed: string[] = [];
    let backendKilledAt = 0;
    let backOnlineAt = 0;
    const refusals = new Map<string, number>();
    const refuse = (why: string) => refusals.set(why, (refusals.get(why) ?? 0) + 1);
    const chaos = (async () => {
      while (sending() && !reached(0.25)) await sleep(20);
      if (!sending()) return;
      const egressStarts = startsOf("egress");
      process.kill(pidOf("egress"), "SIGKILL");
      killed.push("egress");
      while (sending() && startsOf("egress") === egressStarts) await sleep(50);
      if (startsOf("egress") === egressStarts) return;
      killed.push("egress restarted");
      while (sending() && !reached(0.5)) await sleep(20);
      if (!sending()) return;
      process.kill(pidOf("backend"), "SIGKILL");
      killed.push("backend");
      backendKilledAt = Date.now();
    })();
    const worker = async () => {
      while (sending()) {
        const n = started++;
        const at = Date.now();
        const body = JSON.stringify({ ref: "refs/heads/stream", n, at });
        try {
          const r = await send(body, githubHeaders(source.secret, body));
          if (r.status === 202 && r.json.id) {
            acked.push(r.json.id);
            if (backendKilledAt && at > backendKilledAt && !backOnlineAt) backOnlineAt = Date.now();
            continue;
          }
          refuse(String(r.status));
        } catch {
          refuse("network");
        }
        refused++;
        // The backend is away: do not spin against the ingester while it restarts.
        await sleep(50);
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, worker));
    const sendMs = Date.now() - sendStart;
    await chaos;
    assert.deepEqual(
      killed,
      ["egress", "egress restarted", "backend"],
      `sent ${started} in ${sendMs} ms, acknowledged ${acked.length}`,
    );
    assert.match(output, /egress\s+exited\s+SIGKILL/);
    assert.match(output, /backend\s+exited\s+SIGKILL/);
    assert.ok(acked.length >= 200, `only ${acked.length} acknowledged of ${started} sent`);
    const ackedIds = new Set(acked);
    assert.equal(ackedIds.size, acked.length, "one event id per acknowledged webhook");

    const waitStart = Date.now();
    const missing = () => {
      const got = new Set(arrivals.get("/all")!.map((a) => a.id));
      return [...ackedIds].filter((id) => !got.has(id));
    };
    while (missing().length > 0 && Date.now() - waitStart < ARRIVAL_BUDGET_MS) await sleep(250);
    const waitMs = Date.now() - waitStart;
    const lost = missing();
    const all = arrivals.get("/all")!;
    const distinct = new Set(all.map((a) => a.id)).size;
    console.log(
      `delivery across crashes: acknowledged ${acked.length}, refused ${refused}, distinct arrived ${distinct}, ` +
        `total arrivals ${all.length}, duplicates ${all.length - distinct}, signature failures ${verifyFailures}, ` +
        `missing ${lost.length}; sent ${started} in ${sendMs} ms, all arrived ${waitMs} ms later; ` +
        `refusals ${JSON.stringify(Object.fromEntries(refusals))}, ingest back ${backOnlineAt ? `${backOnlineAt - backendKilledAt} ms` : "only after sending"} after the backend's kill`,
    );
    if (lost.length > 0) {
      const sample = await Promise.all(
        lost.slice(0, 3).map(async (id) => {
          const r = await call("GET", `/v1/projects/${projectId}/deliveries?event_id=${id}`);
          return r.text;
        }),
      );
      assert.fail(`${lost.length} acknowledged events never arrived; e.g. ${sample.join(" ")}`);
    }
    assert.equal(verifyFailures, 0, "every delivery verifies with the destination's secret");

    // Arrival runs ahead of the record: results egress could not report while the backend was away come in later.
    const settleStart = Date.now();
    const recorded = await until(
      "every acknowledged event's delivery recorded as succeeded",
      async () => {
        const rows = (await deliveriesOf(dst.id)).filter((d) => ackedIds.has(d.event_id));
        return rows.length === ackedIds.size && rows.every((d) => d.status !== "pending") ? rows : undefined;
      },
      20_000,
    );
    const dead = recorded.filter((d) => d.status === "dead");
    assert.deepEqual(
      dead.map((d) => d.id),
      [],
      "no delivery of an acknowledged event is dead",
    );
    assert.ok(recorded.every((d) => d.status === "succeeded"));
    console.log(
      `delivery records: ${recorded.length} succeeded, settled ${Date.now() - settleStart} ms after the last arrival, ` +
        `attempts ${recorded.reduce((n, d) => n + d.attempts, 0)}`,
    );
  });

  test("egress refuses zenmesh's own listeners although 127.0.0.1 is allow-listed, and still delivers to the receiver beside them", async () => {
    const endpoints = JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as Record<string, string>;
    const mesh = JSON.parse(readFileSync(join(dir, "run", "mesh.json"), "utf8")) as {
      internal: Record<string, string>;
    };
    const own = [endpoints.api!, endpoints.ingest!, ...Object.values(mesh.internal)];
    assert.equal(own.length, 6, JSON.stringify(own));
    const src = await call("POST", `/v1/projects/${projectId}/sources`, {
      name: "github own listeners",
      scheme: "github",
      allow_plain_http: true,
    });
    assert.equal(src.status, 201, src.text);
    const targets: { url: string; id: string }[] = [];
    for (const [i, base] of own.entries()) {
      const u = new URL(base);
      // The dev listeners speak plain http (API, ingest) or https (internal); point at each as it is.
      const d = await call("POST", `/v1/projects/${projectId}/destinations`, {
        name: `own ${i}`,
        url: `${u.protocol}//127.0.0.1:${u.port}/v1/projects`,
        allow_plain_http: true,
        timeout_ms: 2000,
        retry: { schedule_seconds: [1] },
      });
      assert.equal(d.status, 201, d.text);
      targets.push({ url: `${u.protocol}//127.0.0.1:${u.port}`, id: d.json.id });
    }
    const receiverDst = await destination("/beside-own");
    for (const d of [...targets, receiverDst]) {
      const sub = await call("POST", `/v1/projects/${projectId}/subscriptions`, {
        destination_id: d.id,
        source_ids: [src.json.id],
      });
      assert.equal(sub.status, 201, sub.text);
    }
    const body = JSON.stringify({ ref: "refs/heads/own-listeners", n: randomUUID() });
    const sent = await until("the own-listeners source to reach the ingester", async () => {
      const x = await send(body, githubHeaders(src.json.secret, body), src.json.ingest_url);
      return x.status === 202 ? x : undefined;
    });
    await until("the event at the receiver", async () =>
      arrivals.get("/beside-own")!.some((a) => a.id === sent.json.id) ? true : undefined,
    );
    for (const t of targets) {
      const attempts = await until(`a refused attempt at ${t.url}`, async () => {
        const [dlv] = await deliveriesOf(t.id);
        if (!dlv || dlv.attempts === 0) return undefined;
        const r = await call("GET", `/v1/projects/${projectId}/deliveries/${dlv.id}`);
        return r.json.attempt_history as { error_class: string | null; detail: string | null }[];
      });
      for (const a of attempts) {
        assert.equal(a.error_class, "ssrf_refused", `${t.url}: ${JSON.stringify(a)}`);
        assert.match(a.detail ?? "", /zenmesh's own listener/, t.url);
      }
    }
  });

  test("bearer and basic credentials arrive at the target and appear nowhere else", async () => {
    const hex = () => randomBytes(12).toString("hex");
    const token = `tokcanary${hex()}`;
    const username = `usercanary${hex()}`;
    const password = `passcanary${hex()}`;
    const basic = Buffer.from(`${username}:${password}`, "utf8").toString("base64");
    const canaries = [token, username, password, basic];

    const src = await call("POST", `/v1/projects/${projectId}/sources`, {
      name: "github credentials",
      scheme: "github",
      allow_plain_http: true,
    });
    assert.equal(src.status, 201, src.text);
    const bearerDst = await destination("/bearer", { credentials: { auth: { type: "bearer", token } } });
    const basicDst = await destination("/basic", {
      credentials: { auth: { type: "basic", username, password } },
    });
    for (const d of [bearerDst, basicDst]) {
      const s = await call("POST", `/v1/projects/${projectId}/subscriptions`, {
        destination_id: d.id,
        source_ids: [src.json.id],
      });
      assert.equal(s.status, 201, s.text);
    }

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const body = JSON.stringify({ ref: "refs/heads/credentials", i, n: randomUUID() });
      const r = await until("the credentials source to reach the ingester", async () => {
        const x = await send(body, githubHeaders(src.json.secret, body), src.json.ingest_url);
        return x.status === 202 ? x : undefined;
      });
      ids.push(r.json.id!);
    }
    for (const path of ["/bearer", "/basic"]) {
      await until(`every event at ${path}`, async () => {
        const got = new Set(arrivals.get(path)!.map((a) => a.id));
        return ids.every((id) => got.has(id)) ? true : undefined;
      });
    }
    assert.equal(verifyFailures, 0);
    for (const a of arrivals.get("/bearer")!) assert.equal(a.headers.authorization, `Bearer ${token}`);
    for (const a of arrivals.get("/basic")!) assert.equal(a.headers.authorization, `Basic ${basic}`);
    // Only the authorization header carries them to the target.
    for (const a of [...arrivals.get("/bearer")!, ...arrivals.get("/basic")!]) {
      const { authorization: _, ...rest } = a.headers;
      const seen = JSON.stringify(rest) + a.body;
      for (const c of canaries) assert.ok(!seen.includes(c), "a credential outside the authorization header");
    }

    // Read everything the API shows about these destinations and their deliveries.
    for (const d of [bearerDst, basicDst]) {
      const one = await call("GET", `/v1/projects/${projectId}/destinations/${d.id}`);
      assert.equal(one.status, 200, one.text);
      assert.ok(one.json.credentials.kinds.length > 0, one.text);
      for (const dlv of await deliveriesOf(d.id)) {
        const r = await call("GET", `/v1/projects/${projectId}/deliveries/${dlv.id}`);
        assert.equal(r.status, 200, r.text);
        assert.ok(r.json.attempt_history.length > 0, r.text);
      }
    }
    assert.equal((await call("GET", `/v1/projects/${projectId}/destinations`)).status, 200);
    for (const id of ids)
      assert.equal((await call("GET", `/v1/projects/${projectId}/events/${id}`)).status, 200);

    // Stopped, so the database has written everything it holds to the data dir and every log line is out.
    child.kill("SIGTERM");
    await exited;
    const inLogs = canaries.filter((c) => output.includes(c));
    assert.deepEqual(inLogs, [], "a credential in the logs");
    const inApi = apiBodies.filter((b) => canaries.some((c) => b.includes(c)));
    assert.equal(inApi.length, 0, `a credential in an API answer: ${inApi[0]?.slice(0, 200)}`);
    const files = filesUnder(dir);
    assert.ok(
      files.some((f) => f.startsWith(join(dir, "pg"))),
      "the database files are there",
    );
    const needles = canaries.map((c) => Buffer.from(c, "utf8"));
    const inFiles = files.filter((f) => {
      const bytes = readFileSync(f);
      return needles.some((n) => bytes.includes(n));
    });
    assert.deepEqual(inFiles, [], "a credential in plaintext in the data dir");
  });
});
