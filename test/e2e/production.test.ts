/**
 * The production profile end to end, the way an operator runs it (see the
 * operator's guide, "Production walkthrough"): a PostgreSQL 18 with TLS
 * only and SCRAM passwords, a Redis with TLS only and a password, both with
 * server certificates from a CA made here; `zenmesh migrate` with the owner
 * role over `sslmode=verify-full`, `zenmesh ca init`, `zenmesh egress-key
 * create`, then `zenmesh serve` for every role as its own process, the
 * backend on the runtime role and the others joined with one-time tokens.
 * GitHub-signed webhooks go in over HTTPS and must come out at a receiver
 * that verifies their Standard Webhooks signatures; the database and Redis
 * must have carried them over TLS.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import pg from "pg";
import { freePort } from "../support/private-services.ts";
import {
  createTestTlsCa,
  startTlsPostgres,
  startTlsRedis,
  type TestTlsCa,
  type TlsPostgres,
  type TlsRedis,
} from "../support/tls-services.ts";
import { startVerifyingReceiver, type VerifyingReceiver } from "../support/verifying-receiver.ts";
import { until } from "../support/zenmesh-up.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");
const TRUST_DOMAIN = "prod.test";
const WEBHOOKS = 20;
const ROLES = ["backend", "ingester", "egress", "bff"] as const;
type Role = (typeof ROLES)[number];

interface Served {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

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
  let dir: string;
  let ca: TestTlsCa;
  let db: TlsPostgres;
  let redis: TlsRedis;
  let receiver: VerifyingReceiver;
  const served = new Map<Role, Served>();
  let ports: Record<string, number>;
  /** Settings every role is given: the profile, the trust domain and where every listener is. */
  let shared: Record<string, string>;
  /** The backend's own settings: the data stores, the master key, the CA, egress's public key. */
  let backendEnv: Record<string, string>;
  let bundleFile: string;
  let api: string;
  let ingestUrl: string;
  let key: string;
  let projectId: string;

  const run = (args: string[], env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `zenmesh ${args.join(" ")}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  const serve = async (role: Role, env: Record<string, string>) => {
    const child = spawn(process.execPath, [BIN, "serve", role], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const s: Served = { child, output: () => out, exited: new Promise((r) => child.once("exit", r)) };
    served.set(role, s);
    // A role that stops during start fails the suite at once, with what it said.
    const deadline = Date.now() + 30_000;
    while (!/: internal https:\/\//.test(out)) {
      if (child.exitCode !== null) throw new Error(`zenmesh serve ${role} exited ${child.exitCode}: ${out}`);
      if (Date.now() > deadline) throw new Error(`zenmesh serve ${role} was not ready in 30 s: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return s;
  };

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

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zm-production-"));
    ca = await createTestTlsCa(dir);
    [db, redis, receiver] = await Promise.all([
      startTlsPostgres(ca),
      startTlsRedis(ca),
      startVerifyingReceiver(),
    ]);
    ports = {};
    for (const p of ["api", "ingest", "backend", "ingester", "egress", "bff", "join", "metrics"]) {
      ports[p] = await freePort();
    }
    ingestUrl = `https://127.0.0.1:${ports.ingest}`;
    api = `http://127.0.0.1:${ports.api}`;
    shared = {
      ZENMESH_PROFILE: "production",
      ZENMESH_LOG_LEVEL: "warn",
      ZENMESH_TRUST_DOMAIN: TRUST_DOMAIN,
      ZENMESH_API_PORT: String(ports.api),
      ZENMESH_INGEST_PORT: String(ports.ingest),
      ZENMESH_BACKEND_INTERNAL_PORT: String(ports.backend),
      ZENMESH_INGESTER_INTERNAL_PORT: String(ports.ingester),
      ZENMESH_EGRESS_INTERNAL_PORT: String(ports.egress),
      ZENMESH_BFF_INTERNAL_PORT: String(ports.bff),
      ZENMESH_JOIN_PORT: String(ports.join),
      ZENMESH_METRICS_PORT: String(ports.metrics),
      ZENMESH_BACKEND_URL: `https://127.0.0.1:${ports.backend}`,
      ZENMESH_EGRESS_URL: `https://127.0.0.1:${ports.egress}`,
    };

    const masterKeyFile = join(dir, "master.key");
    writeFileSync(masterKeyFile, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
    const stores = {
      ZENMESH_DATABASE_URL: db.runtimeUrl,
      ZENMESH_DATABASE_CA_FILE: ca.file,
      ZENMESH_MASTER_KEY_FILE: masterKeyFile,
    };

    // 1. The schema, as the owner role; the master key stores the tenant fence's keys.
    const migrated = run(["migrate"], { ...shared, ...stores, ZENMESH_DATABASE_OWNER_URL: db.ownerUrl });
    assert.match(migrated, /migrations applied/);

    // 2. The built-in CA, sealed under the master key; its trust bundle is what the other roles trust.
    const caFile = join(dir, "ca.json");
    const caOut = run(["ca", "init"], { ...shared, ...stores, ZENMESH_CA_FILE: caFile });
    const bundle = caOut.slice(caOut.indexOf("-----BEGIN CERTIFICATE-----"));
    assert.match(bundle, /-----END CERTIFICATE-----/);
    bundleFile = join(dir, "bundle.pem");
    writeFileSync(bundleFile, bundle);

    // 3. Egress's box key: the private half stays with egress, the backend seals to the public one.
    const egressKeyFile = join(dir, "egress-box.key");
    const egressKey = JSON.parse(run(["egress-key", "create", "--out", egressKeyFile, "--json"], shared)) as {
      public_key: string;
    };

    backendEnv = {
      ...shared,
      ...stores,
      ZENMESH_CA_FILE: caFile,
      ZENMESH_REDIS_URL: redis.url,
      ZENMESH_REDIS_CA_FILE: ca.file,
      ZENMESH_EGRESS_PUBLIC_KEY: egressKey.public_key,
    };
    await serve("backend", backendEnv);

    // 4. Every other role joins with its own one-time token and holds no data-store setting.
    const ingesterCert = await ca.issueServer();
    const ingesterTls = { cert: join(dir, "ingest.crt"), key: join(dir, "ingest.key") };
    writeFileSync(ingesterTls.cert, ingesterCert.cert);
    writeFileSync(ingesterTls.key, ingesterCert.key, { mode: 0o600 });
    const roleEnv: Record<Exclude<Role, "backend">, Record<string, string>> = {
      ingester: {
        ZENMESH_INGEST_TLS_CERT_FILE: ingesterTls.cert,
        ZENMESH_INGEST_TLS_KEY_FILE: ingesterTls.key,
      },
      egress: { ZENMESH_EGRESS_KEY_FILE: egressKeyFile, ZENMESH_EGRESS_ALLOW_CIDRS: "127.0.0.1/32" },
      bff: {},
    };
    for (const role of ["egress", "ingester", "bff"] as const) {
      const token = JSON.parse(run(["join-token", "create", "--workload", role, "--json"], backendEnv)) as {
        token: string;
      };
      await serve(role, {
        ...shared,
        ...roleEnv[role],
        ZENMESH_JOIN_TOKEN: token.token,
        ZENMESH_JOIN_URL: `https://127.0.0.1:${ports.join}`,
        ZENMESH_TRUST_BUNDLE_FILE: bundleFile,
      });
    }

    // 5. A tenant (the operator's CLI, on the backend's settings), then the tenant's own API calls.
    const tenant = JSON.parse(run(["tenant", "create", "--name", "acme", "--json"], backendEnv)) as {
      api_key: string;
      project_id: string;
    };
    key = tenant.api_key;
    projectId = tenant.project_id;
  });

  after(async () => {
    for (const role of [...ROLES].reverse()) {
      const s = served.get(role);
      if (s && s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill("SIGTERM");
        const timer = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
        await s.exited;
        clearTimeout(timer);
      }
    }
    await receiver?.close();
    await redis?.stop();
    await db?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("signed webhooks go in over HTTPS and reach the receiver with verifying signatures", {
    timeout: 60_000,
  }, async () => {
    const source = await call("POST", `/v1/projects/${projectId}/sources`, {
      name: "github",
      scheme: "github",
    });
    assert.equal(source.status, 201, source.text);
    assert.equal(source.json.ingest_url, `${ingestUrl}/e/${source.json.id}`);
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
        ca.pem,
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
      ca.pem,
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
      const said = ROLES.map((r) => `--- ${r}\n${served.get(r)?.output() ?? ""}`).join("\n");
      throw new Error(`${err.message}; ${receiver.counts("/prod").size} of ${WEBHOOKS} arrived\n${said}`);
    });
    assert.equal(receiver.failures, 0, "every delivery verified at the receiver");
    assert.equal(receiver.counts("/prod").size, WEBHOOKS, "nothing but the acknowledged webhooks arrived");
  });

  test("no role keeps state of its own on disk: the data stores and the configured files hold it all", () => {
    // Every process ran in `dir` with the default data dir (./.zenmesh) and wrote nothing there.
    assert.equal(existsSync(join(dir, ".zenmesh")), false);
  });

  test("the backend reaches PostgreSQL over TLS only, as the runtime role", async () => {
    const rows = await db.query<{
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
    const plain = new URL(db.runtimeUrl);
    plain.searchParams.set("sslmode", "disable");
    const c = new pg.Client({ connectionString: plain.toString(), connectionTimeoutMillis: 5000 });
    await assert.rejects(() => c.connect(), /no encryption|pg_hba\.conf rejects/);
    await c.end().catch(() => {});
  });

  test("verify-full refuses a PostgreSQL whose certificate the configured CA did not issue", async () => {
    const other = await createTestTlsCa(mkdtempSync(join(dir, "other-ca-")));
    const r = spawnSync(process.execPath, [BIN, "migrate"], {
      cwd: dir,
      encoding: "utf8",
      env: {
        PATH: process.env.PATH ?? "",
        ...backendEnv,
        ZENMESH_DATABASE_CA_FILE: other.file,
        ZENMESH_DATABASE_OWNER_URL: db.ownerUrl,
      },
      timeout: 60_000,
    });
    assert.notEqual(r.status, 0, r.stdout);
    assert.doesNotMatch(r.stdout, /migrations applied/);
    assert.match(r.stderr, /^zenmesh: DATABASE_TLS_FAILED: /m, r.stderr);
  });

  test("the backend reaches Redis over TLS, where the signed hops' nonces are kept", async () => {
    const client = new Redis(redis.url, { tls: { ca: ca.pem }, lazyConnect: true, maxRetriesPerRequest: 1 });
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
    const plain = new Redis(redis.port, "127.0.0.1", {
      password: redis.password,
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
