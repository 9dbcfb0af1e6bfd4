/**
 * Webhooks into `zenmesh up`, end to end: a provider-signed request is
 * verified by the ingester, committed (encrypted) by the backend, and only
 * then acknowledged; the backend killed mid-stream never costs an
 * acknowledged event.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { CloudEvent, HTTP } from "cloudevents";
import { Webhook } from "standardwebhooks";
import { ANY_PORTS } from "../support/ports.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");

function githubHeaders(secret: string, body: string, event = "push") {
  return {
    "content-type": "application/json",
    "x-github-event": event,
    "x-github-delivery": randomUUID(),
    "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("ingest through zenmesh up", () => {
  let dir: string;
  let child: ChildProcess;
  let stdout = "";
  let api: string;
  let ingest: string;
  let key: string;
  let projectId: string;
  let source: { id: string; ingest_url: string; secret: string };

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
    return { status: r.status, json: text ? JSON.parse(text) : undefined, text };
  };

  // biome-ignore lint/suspicious/noExplicitAny: response bodies are narrowed by each assertion
  type Answer = { status: number; json: any };
  const send = (body: string, headers: Record<string, string>, url = source.ingest_url): Promise<Answer> =>
    fetch(url, { method: "POST", headers, body }).then(async (r) => ({
      status: r.status,
      json: await r.json(),
    }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zm-ingest-"));
    const env = {
      ...process.env,
      ZENMESH_LOG_LEVEL: "warn",
      ...ANY_PORTS,
      // Short enough that the slow-client test need not wait long.
      ZENMESH_INGEST_HEADERS_TIMEOUT_SECONDS: "2",
      ZENMESH_INGEST_REQUEST_TIMEOUT_SECONDS: "3",
    };
    child = spawn(process.execPath, [BIN, "up", "--data-dir", dir], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    await until("ready", async () => (/ready in \d+ ms/.test(stdout) ? true : undefined));
    const endpoints = JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as Record<string, string>;
    api = endpoints.api!;
    ingest = endpoints.ingest!;
    const t = spawnSync(
      process.execPath,
      [BIN, "tenant", "create", "--name", "acme", "--json", "--data-dir", dir],
      {
        encoding: "utf8",
        env,
      },
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
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("shows the ingester's real address as the source's ingest URL", () => {
    assert.equal(source.ingest_url, `${ingest}/e/${source.id}`);
  });

  test("acknowledges a GitHub-signed webhook only once it is stored, encrypted, as a CloudEvent", async () => {
    const canary = `canary-${randomBytes(8).toString("hex")}`;
    const body = JSON.stringify({
      ref: "refs/heads/main",
      note: canary,
      repository: { full_name: "acme/api" },
    });
    const r = await until("the source to reach the ingester", async () => {
      const x = await send(body, githubHeaders(source.secret, body));
      return x.status === 202 ? x : undefined;
    });
    const id: string = r.json.id;
    assert.match(id, /^evt_/);
    const ev = await call("GET", `/v1/projects/${projectId}/events/${id}`);
    assert.equal(ev.status, 200, ev.text);
    assert.equal(ev.json.event.specversion, "1.0");
    assert.equal(ev.json.event.type, "com.github.push");
    assert.equal(ev.json.event.data.note, canary);
    // At rest the payload is sealed: the plaintext is nowhere in the database files.
    const files = spawnSync("grep", ["-rl", canary, join(dir, "pg")], { encoding: "utf8" });
    assert.equal(files.stdout.trim(), "", `plaintext found in ${files.stdout}`);
  });

  test("a resent GitHub delivery is its first event: the same signature under any delivery id, event or ce-* header", async () => {
    const body = JSON.stringify({ ref: "refs/heads/replay", n: randomUUID() });
    const headers = githubHeaders(source.secret, body);
    const first = await send(body, headers);
    assert.equal(first.status, 202);
    const redelivered = await send(body, headers);
    assert.equal(redelivered.status, 202, JSON.stringify(redelivered.json));
    assert.equal(redelivered.json.id, first.json.id);
    assert.equal(redelivered.json.duplicate, true);
    // GitHub signs no timestamp: the same body under new unsigned headers repeats the signature.
    const forged = await send(body, {
      ...headers,
      "x-github-delivery": randomUUID(),
      "content-type": "application/json; v=1",
      "ce-specversion": "1.0",
      "ce-id": randomUUID(),
      "ce-source": "/attacker",
      "ce-type": "com.github.release.published",
    });
    assert.equal(forged.status, 202, JSON.stringify(forged.json));
    assert.equal(forged.json.id, first.json.id);
    const ev = await call("GET", `/v1/projects/${projectId}/events/${first.json.id}`);
    assert.equal(ev.json.event.type, "com.github.push");
  });

  test("Standard Webhooks: the same content under a new signed webhook-id is a new event; the same id is a replay", async () => {
    const sw = await call("POST", `/v1/projects/${projectId}/sources`, {
      name: "standard webhooks",
      scheme: "standard-webhooks",
      allow_plain_http: true,
    });
    assert.equal(sw.status, 201, sw.text);
    // The standardwebhooks package signs, independently of zenmesh's own code.
    const signer = new Webhook(sw.json.secret);
    const body = JSON.stringify({ type: "invoice.paid", data: { id: randomUUID() } });
    const signed = (id: string, payload = body) => {
      const at = new Date();
      return {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
        "webhook-signature": signer.sign(id, at, payload),
      };
    };
    const first = await until(
      "the new source to reach the ingester",
      async () => {
        const x = await send(body, signed(`msg_${randomUUID()}`), sw.json.ingest_url);
        return x.status === 202 ? x : undefined;
      },
      5000,
    );
    const another = await send(body, signed(`msg_${randomUUID()}`), sw.json.ingest_url);
    assert.equal(another.status, 202, JSON.stringify(another.json));
    assert.notEqual(another.json.id, first.json.id);
    assert.equal(another.json.duplicate, undefined);
    const id = `msg_${randomUUID()}`;
    const third = await send(body, signed(id), sw.json.ingest_url);
    assert.equal(third.status, 202);
    // A retry keeps its webhook-id (and body): the first event again, answered 2xx so the sender stops.
    const retry = await send(body, signed(id), sw.json.ingest_url);
    assert.equal(retry.status, 202, JSON.stringify(retry.json));
    assert.deepEqual(retry.json, { id: third.json.id, duplicate: true });
    // The same webhook-id with another body is not that message: refused.
    const other = JSON.stringify({ type: "invoice.voided", data: { id: randomUUID() } });
    const reused = await send(other, signed(id, other), sw.json.ingest_url);
    assert.equal(reused.status, 409, JSON.stringify(reused.json));
    assert.equal(reused.json.error.code, "REPLAY_DETECTED");
    const list = await call("GET", `/v1/projects/${projectId}/events?source_id=${sw.json.id}`);
    assert.equal(list.json.data.length, 3, "one event per signed webhook-id");
  });

  test("refuses a bad signature, an unknown source, a foreign media type and an oversized body", async () => {
    const body = JSON.stringify({ ref: "x" });
    const bad = await send(body, githubHeaders("not-the-secret", body));
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error.code, "SIGNATURE_INVALID");
    const unknown = await send(
      body,
      githubHeaders(source.secret, body),
      `${ingest}/e/src_0000000000000000000000`,
    );
    assert.equal(unknown.status, 404);
    const text = await send(body, { ...githubHeaders(source.secret, body), "content-type": "text/plain" });
    assert.equal(text.status, 415);
    const big = "x".repeat(1024 * 1024 + 1);
    const large = await fetch(source.ingest_url, {
      method: "POST",
      headers: githubHeaders(source.secret, big),
      body: big,
    });
    assert.equal(large.status, 413);
    // Headers past the 16 KiB limit: 431, and the connection is closed.
    const port = Number(new URL(ingest).port);
    const head = await new Promise<string>((resolve, reject) => {
      const s = connect(port, "127.0.0.1");
      let got = "";
      s.on("data", (d: Buffer) => {
        got += d.toString("latin1");
      });
      s.on("error", reject);
      s.on("close", () => resolve(got));
      s.write(`POST /e/${source.id} HTTP/1.1\r\nhost: x\r\nx-huge: ${"h".repeat(20_000)}\r\n\r\n`);
    });
    assert.match(head, /^HTTP\/1\.1 431 /);
  });

  test("refuses malformed JSON and plain HTTP for a source that did not allow it", async () => {
    const body = '{"ref": "refs/heads/main",';
    const bad = await send(body, githubHeaders(source.secret, body));
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "MALFORMED_JSON");
    const strict = await call("POST", `/v1/projects/${projectId}/sources`, {
      name: "https only",
      scheme: "github",
    });
    assert.equal(strict.status, 201, strict.text);
    const ok = JSON.stringify({ ref: "x" });
    const refused = await until(
      "the https-only source to reach the ingester",
      async () => {
        const x = await send(ok, githubHeaders(strict.json.secret, ok), strict.json.ingest_url);
        return x.status === 404 ? undefined : x;
      },
      5000,
    );
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, "PLAIN_HTTP_NOT_ALLOWED");
  });

  test("answers an unknown source as fast as a known one with a bad signature", async (t) => {
    const body = JSON.stringify({ ref: "x", pad: "y".repeat(64 * 1024) });
    const unknownUrl = `${ingest}/e/src_0000000000000000000000`;
    const time = async (url: string) => {
      const t0 = performance.now();
      await send(body, githubHeaders("wrong", body), url);
      return performance.now() - t0;
    };
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 40; i++) {
      a.push(await time(unknownUrl));
      b.push(await time(source.ingest_url));
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    t.diagnostic(
      `median unknown ${median(a).toFixed(2)} ms, known with a bad signature ${median(b).toFixed(2)} ms`,
    );
    // Loose on purpose (a shared CI machine is noisy): a lookup shortcut would show as a gap of the body's cost.
    assert.ok(Math.abs(median(a) - median(b)) < 3, `medians ${median(a)} vs ${median(b)}`);
  });

  test("cuts off slow clients while normal traffic keeps flowing", async () => {
    const port = Number(new URL(ingest).port);
    const slow = Array.from({ length: 30 }, () => {
      const s = connect(port, "127.0.0.1");
      s.on("error", () => {});
      // Read whatever the server says, so its close reaches us.
      s.resume();
      s.write(`POST /e/${source.id} HTTP/1.1\r\nhost: x\r\n`);
      const drip = setInterval(() => s.writable && s.write(`x-slow-${Date.now()}: 1\r\n`), 400);
      const closed = new Promise<number>((r) => s.once("close", () => r(Date.now())));
      return { s, drip, closed };
    });
    const started = Date.now();
    try {
      for (let i = 0; i < 10; i++) {
        const body = JSON.stringify({ ref: "refs/heads/during-slowloris", i, n: randomUUID() });
        const r = await send(body, githubHeaders(source.secret, body));
        assert.equal(r.status, 202, JSON.stringify(r.json));
      }
      const closedAt = await Promise.race([
        Promise.all(slow.map((x) => x.closed)),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error("slow clients still connected")), 8000),
        ),
      ]);
      for (const at of closedAt) assert.ok(at - started < 6000, `a slow client lasted ${at - started} ms`);
    } finally {
      for (const x of slow) {
        clearInterval(x.drip);
        x.s.destroy();
      }
    }
  });

  test("stores CloudEvents sent in structured and batch modes, reads no unsigned ce-* header, and serves valid CloudEvents", async () => {
    const fields = {
      name: "cloudevents",
      scheme: "standard-webhooks",
      allow_plain_http: true,
      content_types: [
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
      ],
    };
    // Standard Webhooks signs id, timestamp and body, not ce-* headers: binary mode is refused.
    const binaryMode = await call("POST", `/v1/projects/${projectId}/sources`, {
      ...fields,
      cloudevents: "binary",
    });
    assert.equal(binaryMode.status, 422, binaryMode.text);
    assert.equal(binaryMode.json.error.code, "CLOUDEVENTS_MODE_UNAUTHENTICATED");
    const ce = await call("POST", `/v1/projects/${projectId}/sources`, {
      ...fields,
      cloudevents: "structured",
    });
    assert.equal(ce.status, 201, ce.text);
    const signer = new Webhook(ce.json.secret);
    const sign = (body: string) => {
      const id = `msg_${randomUUID()}`;
      const at = new Date();
      return {
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
        "webhook-signature": signer.sign(id, at, body),
      };
    };
    const event = (n: number) =>
      new CloudEvent({
        id: randomUUID(),
        source: "/billing",
        type: "com.example.invoice.paid",
        subject: `inv-${n}`,
        data: { n },
      });
    const ids: [string, number][] = [];
    const structured = HTTP.structured(event(1));
    const s1 = await until(
      "the CloudEvents source to reach the ingester",
      async () => {
        const x = await send(
          String(structured.body),
          { ...(structured.headers as Record<string, string>), ...sign(String(structured.body)) },
          ce.json.ingest_url,
        );
        return x.status === 202 ? x : undefined;
      },
      5000,
    );
    ids.push([s1.json.id, 1]);
    const binary = HTTP.binary(event(2));
    const b = await send(
      String(binary.body),
      { ...(binary.headers as Record<string, string>), ...sign(String(binary.body)) },
      ce.json.ingest_url,
    );
    assert.equal(b.status, 202, JSON.stringify(b.json));
    // The ce-* headers are not read: the body is stored as the provider's event, not as event 2.
    const plain = await call("GET", `/v1/projects/${projectId}/events/${b.json.id}`);
    assert.notEqual(plain.json.event.type, "com.example.invoice.paid");
    const batchBody = JSON.stringify([event(3), event(4)]);
    const batch = await send(
      batchBody,
      { "content-type": "application/cloudevents-batch+json", ...sign(batchBody) },
      ce.json.ingest_url,
    );
    assert.equal(batch.status, 202, JSON.stringify(batch.json));
    assert.equal(batch.json.events.length, 2);
    ids.push(...batch.json.events.map((e: { id: string }, i: number): [string, number] => [e.id, i + 3]));
    for (const [id, n] of ids) {
      const r = await call("GET", `/v1/projects/${projectId}/events/${id}`);
      assert.equal(r.status, 200, r.text);
      const back = new CloudEvent(r.json.event);
      assert.equal(back.validate(), true);
      assert.equal(back.type, "com.example.invoice.paid");
      assert.equal(back.subject, `inv-${n}`);
      assert.deepEqual(back.data, { n });
      assert.match(back.source, /^\/projects\/prj_\w+\/sources\/src_\w+$/);
    }
  });

  test("a rotated secret works at once, and the old one keeps working during the overlap", async () => {
    const rotated = await call("POST", `/v1/projects/${projectId}/sources/${source.id}/rotate-secret`, {
      overlap_seconds: 3600,
    });
    assert.equal(rotated.status, 200, rotated.text);
    const fresh: string = rotated.json.secret;
    assert.notEqual(fresh, source.secret);
    const body = JSON.stringify({ ref: "refs/heads/rotated", n: randomUUID() });
    await until(
      "the new secret to reach the ingester",
      async () => {
        const x = await send(body, githubHeaders(fresh, body));
        return x.status === 202 ? x : undefined;
      },
      5000,
    );
    const old = JSON.stringify({ ref: "refs/heads/old", n: randomUUID() });
    assert.equal((await send(old, githubHeaders(source.secret, old))).status, 202);
    source.secret = fresh;
  });

  test("killing the backend mid-stream loses no acknowledged event", async (t) => {
    const acked: string[] = [];
    let refused = 0;
    let n = 0;
    const stopAt = Date.now() + 12_000;
    const pid = Number(/backend\s+running\s+pid (\d+)/.exec(stdout)?.[1]);
    const killer = setTimeout(() => process.kill(pid, "SIGKILL"), 1500);
    const worker = async () => {
      while (Date.now() < stopAt) {
        const body = JSON.stringify({ ref: "refs/heads/stream", n: n++, at: Date.now() });
        try {
          const r = await send(body, githubHeaders(source.secret, body));
          if (r.status === 202) acked.push(r.json.id);
          else refused++;
        } catch {
          refused++;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    clearTimeout(killer);
    assert.match(stdout, /backend\s+exited\s+SIGKILL/);
    assert.ok(refused > 0, "some requests met the dead backend");
    assert.ok(acked.length > 20, `only ${acked.length} acknowledged`);
    t.diagnostic(
      `acknowledged ${acked.length} (${new Set(acked).size} distinct), refused ${refused}; checking every acknowledged id`,
    );
    for (const id of new Set(acked)) {
      const ev = await until(`event ${id} after the restart`, async () => {
        const r = await call("GET", `/v1/projects/${projectId}/events/${id}`);
        return r.status === 200 ? r : undefined;
      });
      assert.equal(ev.json.event.id, id);
    }
  });
});
