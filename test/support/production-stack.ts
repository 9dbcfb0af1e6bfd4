/**
 * zenmesh in the production profile, as the operator's guide's production
 * walkthrough runs it, on loopback: a PostgreSQL and a Redis that speak only
 * TLS (certificates from a CA made here), `zenmesh migrate` as the owner
 * role over `sslmode=verify-full`, `zenmesh ca init`, `zenmesh egress-key
 * create`, then `zenmesh serve` for every role as a process of its own: the
 * backend on the runtime role, the others joined with one-time tokens, the
 * ingester on HTTPS with its own certificate. Used by the production
 * end-to-end test and the production bench scenario.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./private-services.ts";
import {
  createTestTlsCa,
  startTlsPostgres,
  startTlsRedis,
  type TestTlsCa,
  type TlsPostgres,
  type TlsRedis,
} from "./tls-services.ts";
import { onAbandon } from "./zenmesh-up.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");
export const PRODUCTION_TRUST_DOMAIN = "prod.test";
export const PRODUCTION_ROLES = ["backend", "ingester", "egress", "bff"] as const;
export type ProductionRole = (typeof PRODUCTION_ROLES)[number];

export interface ServedRole {
  child: ChildProcess;
  /** What the process wrote, stdout and stderr. */
  output(): string;
  exited: Promise<unknown>;
}

export interface ProductionStack {
  /** The working directory of every process, holding the keys, the CA state and the certificates. */
  dir: string;
  ca: TestTlsCa;
  db: TlsPostgres;
  redis: TlsRedis;
  /** The control API (`http://127.0.0.1:<port>`) and the public ingest listener (`https://…`). */
  api: string;
  ingest: string;
  /** The backend's settings (data stores, keys, CA): what operator commands run with. */
  backendEnv: Record<string, string>;
  roles: Map<ProductionRole, ServedRole>;
  /** `zenmesh <args>` with these settings; throws with its output unless it exits 0. */
  run(args: string[], env: Record<string, string>): string;
  /** A tenant, its first project and an API key, through the operator CLI. */
  tenant(name: string): { tenant_id: string; project_id: string; api_key: string };
  /** Stops the roles (other roles first, the backend last), then Redis and PostgreSQL. */
  stop(): Promise<void>;
}

export interface ProductionStackOptions {
  /** Added to every role's environment (e.g. NODE_OPTIONS, a log level). */
  env?: Record<string, string>;
  /** Egress's allow-list; loopback by default, where the tests' receivers listen. */
  egressAllowCidrs?: string;
}

export async function startProductionStack(opts: ProductionStackOptions = {}): Promise<ProductionStack> {
  const dir = mkdtempSync(join(tmpdir(), "zm-production-"));
  const roles = new Map<ProductionRole, ServedRole>();
  let db: TlsPostgres | undefined;
  let redis: TlsRedis | undefined;
  const forget = onAbandon(() => {
    for (const r of roles.values()) r.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const stop = async () => {
    forget();
    for (const role of [...PRODUCTION_ROLES].reverse()) {
      const s = roles.get(role);
      if (s && s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill("SIGTERM");
        const timer = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
        await s.exited;
        clearTimeout(timer);
      }
    }
    await redis?.stop();
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ca = await createTestTlsCa(dir);
    [db, redis] = await Promise.all([startTlsPostgres(ca), startTlsRedis(ca)]);
    const ports: Record<string, number> = {};
    for (const p of ["api", "ingest", "backend", "ingester", "egress", "bff", "join", "metrics"]) {
      ports[p] = await freePort();
    }
    // Every role knows where every listener is: egress refuses to deliver to any of them.
    const shared: Record<string, string> = {
      ZENMESH_PROFILE: "production",
      ZENMESH_LOG_LEVEL: "warn",
      ZENMESH_TRUST_DOMAIN: PRODUCTION_TRUST_DOMAIN,
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
      ...opts.env,
    };
    const run = (args: string[], env: Record<string, string>) => {
      const r = spawnSync(process.execPath, [BIN, ...args], {
        cwd: dir,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", ...env },
        timeout: 60_000,
      });
      if (r.status !== 0)
        throw new Error(`zenmesh ${args.join(" ")} exited ${r.status}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    const serve = async (role: ProductionRole, env: Record<string, string>) => {
      const child = spawn(process.execPath, [BIN, "serve", role], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const keep = (d: Buffer) => {
        out += d.toString();
        // Bounded: a long run's log lines must not grow without end.
        if (out.length > 4_000_000) out = out.slice(-2_000_000);
      };
      child.stdout?.on("data", keep);
      child.stderr?.on("data", keep);
      roles.set(role, { child, output: () => out, exited: new Promise((r) => child.once("exit", r)) });
      // A role that stops during start fails at once, with what it said.
      const deadline = Date.now() + 30_000;
      while (!/: internal https:\/\//.test(out)) {
        if (child.exitCode !== null)
          throw new Error(`zenmesh serve ${role} exited ${child.exitCode}: ${out}`);
        if (Date.now() > deadline) throw new Error(`zenmesh serve ${role} was not ready in 30 s: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const masterKeyFile = join(dir, "master.key");
    writeFileSync(masterKeyFile, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
    const stores = {
      ZENMESH_DATABASE_URL: db.runtimeUrl,
      ZENMESH_DATABASE_CA_FILE: ca.file,
      ZENMESH_MASTER_KEY_FILE: masterKeyFile,
    };

    // The schema, as the owner role; the master key stores the tenant fence's keys.
    run(["migrate"], { ...shared, ...stores, ZENMESH_DATABASE_OWNER_URL: db.ownerUrl });

    // The built-in CA, sealed under the master key; its trust bundle is what the other roles trust.
    const caFile = join(dir, "ca.json");
    const caOut = run(["ca", "init"], { ...shared, ...stores, ZENMESH_CA_FILE: caFile });
    const bundleFile = join(dir, "bundle.pem");
    writeFileSync(bundleFile, caOut.slice(caOut.indexOf("-----BEGIN CERTIFICATE-----")));

    // Egress's box key: the private half stays with egress, the backend seals to the public one.
    const egressKeyFile = join(dir, "egress-box.key");
    const egressKey = JSON.parse(run(["egress-key", "create", "--out", egressKeyFile, "--json"], shared)) as {
      public_key: string;
    };

    const backendEnv = {
      ...shared,
      ...stores,
      ZENMESH_CA_FILE: caFile,
      ZENMESH_REDIS_URL: redis.url,
      ZENMESH_REDIS_CA_FILE: ca.file,
      ZENMESH_EGRESS_PUBLIC_KEY: egressKey.public_key,
    };
    await serve("backend", backendEnv);

    // Every other role joins with its own one-time token and holds no data-store setting.
    const ingesterCert = await ca.issueServer();
    const ingesterTls = { cert: join(dir, "ingest.crt"), key: join(dir, "ingest.key") };
    writeFileSync(ingesterTls.cert, ingesterCert.cert);
    writeFileSync(ingesterTls.key, ingesterCert.key, { mode: 0o600 });
    const roleEnv: Record<Exclude<ProductionRole, "backend">, Record<string, string>> = {
      ingester: {
        ZENMESH_INGEST_TLS_CERT_FILE: ingesterTls.cert,
        ZENMESH_INGEST_TLS_KEY_FILE: ingesterTls.key,
      },
      egress: {
        ZENMESH_EGRESS_KEY_FILE: egressKeyFile,
        ZENMESH_EGRESS_ALLOW_CIDRS: opts.egressAllowCidrs ?? "127.0.0.1/32",
      },
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
    const started = { db, redis };
    return {
      dir,
      ca,
      db: started.db,
      redis: started.redis,
      api: `http://127.0.0.1:${ports.api}`,
      ingest: `https://127.0.0.1:${ports.ingest}`,
      backendEnv,
      roles,
      run,
      tenant: (name) => JSON.parse(run(["tenant", "create", "--name", name, "--json"], backendEnv)),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
