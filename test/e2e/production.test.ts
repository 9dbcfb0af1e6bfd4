/**
 * The production profile end to end, the way an operator runs it (see the
 * operator's guide, "Production walkthrough", and test/support/production-stack.ts):
 * a PostgreSQL 18 with TLS only and SCRAM passwords, a Redis with TLS only
 * and a password, both with server certificates from a CA made here;
 * `zenmesh migrate` with the owner role over `sslmode=verify-full`, `zenmesh
 * ca init`, `zenmesh egress-key create`, then `zenmesh serve` for every role
 * as its own process, the backend on the runtime role and the others joined
 * with one-time tokens.
 * GitHub-signed webhooks go in over HTTPS and must come out at a receiver
 * that verifies their Standard Webhooks signatures; the database and Redis
 * must have carried them over TLS.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import pg from "pg";
import { PRODUCTION_ROLES, type ProductionStack, startProductionStack } from "../support/production-stack.ts";
import { createTestTlsCa } from "../support/tls-services.ts";
import { startVerifyingReceiver, type VerifyingReceiver } from "../support/verifying-receiver.ts";
import { until } from "../support/zenmesh-up.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");
const WEBHOOKS = 20;

/** POST over HTTPS, trusting only `ca`. */
function postHttps(url: string, ca: string, headers: Record<string, string>, body: string) {
  const u = new URL(url);
  return new Promise<{ status: number; body: string }>((ok, fail) => {
    const req = httpsRequest(
      {
        hostname: u.hostname,
        port: Number(u.port),
        path: u.pathname,
        method: "POST",
        ca,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("error", fail);
    req.end(body);
  });
}

describe("the production profile, every role under zenmesh serve", () => {
  let stack: ProductionStack;
  let receiver: VerifyingReceiver;
  let key: string;
  let projectId: string;

  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(stack.api + path, {
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

  before(async () => {
    [stack, receiver] = await Promise.all([startProductionStack(), startVerifyingReceiver()]);
    // A tenant through the operator's CLI, on the backend's settings; then the tenant's own API calls.
    ({ api_key: key, project_id: projectId } = stack.tenant("acme"));
  });

  after(async () => {
    await receiver?.close();
    await stack?.stop();
  });

  test("signed webhooks go in over HTTPS and reach the receiver with verifying signatures", {
    timeout: 60_000,
  }, async () => {
    const source = await call("POST", `/v1/projects/${projectId}/sources`, {
      name: "github",
      scheme: "github",
    });
    assert.equal(source.status, 201, source.text);
    assert.equal(source.json.ingest_url, `${stack.ingest}/e/${source.json.id}`);
    const dst = await call("POST", `/v1/projects/${projectId}/destinations`, {
      name: "receiver",
      url: `${receiver.url}/prod`,
      allow_plain_http: true,
      timeout_ms: 5000,
    });
    assert.equal(dst.status, 201, dst.text);
    receiver.expect("/prod", dst.json.secret);
    const sub = await call("POST", `/v1/projects/${projectId}/subscriptions`, {
      destination_id: dst.json.id,
    });
    assert.equal(sub.status, 201, sub.text);

    const send = (body: string) =>
      postHttps(
        source.json.ingest_url,
        stack.ca.pem,
        {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": `sha256=${createHmac("sha256", source.json.secret).update(body).digest("hex")}`,
        },
        body,
      );
    const acked: string[] = [];
    for (let i = 0; i < WEBHOOKS; i++) {
      const body = JSON.stringify({ ref: "refs/heads/main", n: i, nonce: randomUUID() });
      // The new source reaches the ingester within its directory's refresh.
      const r = await until("the ingester to accept the webhook", async () => {
        const x = await send(body);
        return x.status === 202 ? x : undefined;
      });
      acked.push((JSON.parse(r.body) as { id: string }).id);
    }
    const forged = await postHttps(
      source.json.ingest_url,
      stack.ca.pem,
      {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": `sha256=${createHmac("sha256", "not the secret").update("{}").digest("hex")}`,
      },
      "{}",
    );
    assert.equal(forged.status, 401, forged.body);

    await until(
      "every acknowledged webhook at the receiver",
      async () => (acked.every((id) => receiver.counts("/prod").has(id)) ? true : undefined),
      30_000,
    ).catch((err: Error) => {
      // What the roles said is what explains a lost delivery.
      const said = PRODUCTION_ROLES.map((r) => `--- ${r}\n${stack.roles.get(r)?.output() ?? ""}`).join("\n");
      throw new Error(`${err.message}; ${receiver.counts("/prod").size} of ${WEBHOOKS} arrived\n${said}`);
    });
    assert.equal(receiver.failures, 0, "every delivery verified at the receiver");
    assert.equal(receiver.counts("/prod").size, WEBHOOKS, "nothing but the acknowledged webhooks arrived");
  });

  test("no role keeps state of its own on disk: the data stores and the configured files hold it all", () => {
    // Every process ran in `dir` with the default data dir (./.zenmesh) and wrote nothing there.
    assert.equal(existsSync(join(stack.dir, ".zenmesh")), false);
  });

  test("the backend reaches PostgreSQL over TLS only, as the runtime role", async () => {
    const rows = await stack.db.query<{
      usename: string;
      ssl: boolean;
      version: string | null;
      application_name: string;
    }>(
      `SELECT a.usename, s.ssl, s.version, a.application_name
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
        WHERE a.datname = 'zenmesh' AND a.pid <> pg_backend_pid()`,
    );
    const runtime = rows.filter((r) => r.usename === "zenmesh_runtime");
    assert.ok(runtime.length > 0, `the backend's connections: ${JSON.stringify(rows)}`);
    for (const r of rows) {
      assert.equal(r.ssl, true, `a connection without TLS: ${JSON.stringify(r)}`);
      assert.match(r.version ?? "", /^TLSv1\.[23]$/);
    }
    // The owner role migrated and left: the serving system never holds it.
    assert.equal(rows.filter((r) => r.usename === "zenmesh_owner").length, 0, JSON.stringify(rows));

    // The server takes nothing but TLS, so none of those connections could have been plaintext.
    const plain = new URL(stack.db.runtimeUrl);
    plain.searchParams.set("sslmode", "disable");
    const c = new pg.Client({ connectionString: plain.toString(), connectionTimeoutMillis: 5000 });
    await assert.rejects(() => c.connect(), /no encryption|pg_hba\.conf rejects/);
    await c.end().catch(() => {});
  });

  test("verify-full refuses a PostgreSQL whose certificate the configured CA did not issue", async () => {
    const other = await createTestTlsCa(mkdtempSync(join(stack.dir, "other-ca-")));
    const r = spawnSync(process.execPath, [BIN, "migrate"], {
      cwd: stack.dir,
      encoding: "utf8",
      env: {
        PATH: process.env.PATH ?? "",
        ...stack.backendEnv,
        ZENMESH_DATABASE_CA_FILE: other.file,
        ZENMESH_DATABASE_OWNER_URL: stack.db.ownerUrl,
      },
      timeout: 60_000,
    });
    assert.notEqual(r.status, 0, r.stdout);
    assert.doesNotMatch(r.stdout, /migrations applied/);
    assert.match(r.stderr, /^zenmesh: DATABASE_TLS_FAILED: /m, r.stderr);
  });

  test("the backend reaches Redis over TLS, where the signed hops' nonces are kept", async () => {
    const client = new Redis(stack.redis.url, {
      tls: { ca: stack.ca.pem },
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    try {
      await client.connect();
      const list = (await client.client("LIST")) as string;
      const others = list.split("\n").filter((l) => l.trim() !== "" && !/ cmd=client\|list /.test(l));
      assert.ok(others.length > 0, `no other Redis client: ${list}`);
      // Every role's signed hops had their nonces checked there, keyed by hop key id (`_system/<role>`).
      const signers = new Set<string>();
      for (const k of await client.keys("zenmesh:hop:*")) {
        signers.add(decodeURIComponent(k.slice("zenmesh:hop:".length, k.lastIndexOf(":"))));
      }
      for (const role of ["ingester", "egress", "bff"]) {
        assert.ok(signers.has(`_system/${role}`), `no ${role} nonce in Redis: ${[...signers]}`);
      }
    } finally {
      client.disconnect();
    }
    // Redis listens on its TLS port only: a plaintext client gets nothing back.
    const plain = new Redis(stack.redis.port, "127.0.0.1", {
      password: stack.redis.password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: () => null,
    });
    plain.on("error", () => {});
    await assert.rejects(async () => {
      await plain.connect();
      await plain.ping();
    });
    plain.disconnect();
  });
});
