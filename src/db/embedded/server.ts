/**
 * The embedded database: a real PostgreSQL server that zenmesh initialises and
 * runs from the data dir (`<data-dir>/pg`), so Row Level Security is enforced
 * by PostgreSQL itself, exactly as in production. Guards against:
 * - trust authentication: every pg_hba line is SCRAM-SHA-256, and the two
 *   login roles' passwords are generated into `<data-dir>/pg-auth/` (0600,
 *   readable by the zenmesh process only, never logged or sent as text: roles
 *   are created from their SCRAM verifiers);
 * - a superuser login: the bootstrap superuser initdb creates becomes
 *   NOLOGIN without a password once the roles exist;
 * - the runtime login owning anything: `zenmesh_owner` (NOSUPERUSER) owns the
 *   database and migrates; `zenmesh_runtime` (NOSUPERUSER NOBYPASSRLS) is only
 *   a member of `zenmesh_app`, as `docs/operators-guide.md` sets production up;
 * - two servers on one dir, or a dir blocked after a kill -9: a
 *   `postmaster.pid` whose process is gone, or is not a server in this dir, is
 *   removed; a server still running in this dir (its supervisor was killed) is
 *   shut down before a new one starts;
 * - running as root: PostgreSQL refuses it, so the server runs as an
 *   unprivileged user (os-user.ts) that owns `<data-dir>/pg` and nothing else;
 * - a 0.1 data dir holding a PGlite database: refused, never opened.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import pg from "pg";
import { ZenError } from "../../core/index.ts";
import { findPgBinaries, type PgBinaries } from "./binaries.ts";
import { type ServerUser, serverUser } from "./os-user.ts";
import { scramVerifier } from "./scram.ts";

export const OWNER_ROLE = "zenmesh_owner";
export const LOGIN_ROLE = "zenmesh_runtime";
export const DATABASE = "zenmesh";
const BOOTSTRAP_ROLE = "zenmesh_bootstrap";
/** The port names the socket file; with a socket the server listens on no TCP port at all. */
const SOCKET_PORT = 5432;
/** sun_path holds 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH = 107;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 30_000;
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

export interface EmbeddedPaths {
  /** The PostgreSQL data directory, owned by the server's user. */
  pgDir: string;
  /** The login roles' passwords, owned by zenmesh's user. */
  authDir: string;
  ownerPasswordFile: string;
  runtimePasswordFile: string;
  /** Present while an initialisation is under way: one that was interrupted is redone. */
  initPendingFile: string;
  logFile: string;
}

export function embeddedPaths(dataDir: string): EmbeddedPaths {
  const authDir = join(dataDir, "pg-auth");
  return {
    pgDir: join(dataDir, "pg"),
    authDir,
    ownerPasswordFile: join(authDir, "owner.password"),
    runtimePasswordFile: join(authDir, "runtime.password"),
    initPendingFile: join(authDir, "init-pending"),
    logFile: join(dataDir, "run", "postgres.log"),
  };
}

export type Listen = { kind: "socket"; path: string } | { kind: "loopback"; port: number };

export function describeListen(listen: Listen): string {
  return listen.kind === "socket" ? `socket ${listen.path}` : `loopback 127.0.0.1:${listen.port}`;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** Where the platform package's `native` directory is (default: resolved from the dependencies). */
  nativeDir?: string | undefined;
  /** Reuse this listening address (a restart keeps the URLs the backend was given). */
  listen?: Listen | undefined;
}

export interface RunningServer {
  pid: number;
  listen: Listen;
  /** The runtime login's URL: the only one the serving backend is given. */
  runtimeUrl: string;
  /** The schema owner's URL: for the migration step alone. */
  ownerUrl: string;
  /** Resolves when the server process exits, however it ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Fast shutdown (SIGINT): open transactions are rolled back, committed ones are on disk. */
  stop(): Promise<void>;
}

/** The refusal of a 0.1 data dir, before anything in it is touched. */
export function assertNotPglite(dataDir: string): void {
  const pglite = join(dataDir, "pgdata");
  if (existsSync(pglite)) {
    throw new ZenError("EMBEDDED_DB_PGLITE_DATA_DIR", {
      message:
        `${pglite} holds a PGlite database from zenmesh 0.1, which this version does not open: the embedded ` +
        `database is now a PostgreSQL server under ${join(dataDir, "pg")}. There is nothing to migrate; to start ` +
        `fresh, stop zenmesh and move ${dataDir} aside (or use another --data-dir)`,
    });
  }
}

function url(role: string, password: string, listen: Listen, database = DATABASE): string {
  const host = listen.kind === "socket" ? encodeURIComponent(dirname(listen.path)) : "127.0.0.1";
  const port = listen.kind === "socket" ? SOCKET_PORT : listen.port;
  return `postgresql://${role}:${encodeURIComponent(password)}@${host}:${port}/${database}`;
}

function writeSecret(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function readSecret(path: string): string {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) {
    throw new ZenError("EMBEDDED_DB_FAILED", {
      message: `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): it must be 0600`,
    });
  }
  return readFileSync(path, "utf8").trim();
}

/** The server's user must be able to reach its directory: every directory above it searchable. */
function ensureReachable(pgDir: string, dataDir: string, user: ServerUser): void {
  if (!user.switched) return;
  const data = statSync(dataDir);
  if (!searchable(data, user)) {
    // Search only (no listing) for the server's group: it reaches `pg` by name; every secret here
    // (keys, CA, passwords, operator credentials) is 0600 or inside a 0700 directory of root's.
    chownSync(dataDir, data.uid, user.gid);
    chmodSync(dataDir, (data.mode & 0o7707) | 0o010);
  }
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    if (!searchable(statSync(dir), user)) {
      throw new ZenError("EMBEDDED_DB_FAILED", {
        message: `the embedded database runs as the user ${user.name}, which cannot reach ${pgDir}: ${dir} (mode ${(statSync(dir).mode & 0o777).toString(8)}) denies it search; allow it (chmod o+x ${dir}) or use a --data-dir it can reach`,
      });
    }
    if (dirname(dir) === dir) break;
  }
}

function searchable(st: { uid: number; gid: number; mode: number }, user: ServerUser): boolean {
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether `pid` is a process working in `pgDir` (a postmaster chdirs into its data directory). */
function runsIn(pid: number, pgDir: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(pgDir);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

/**
 * What a kill -9 left behind. A server still running in this dir was orphaned by a supervisor
 * that died (the data dir lock, taken before this, proves no live zenmesh owns it): it is shut
 * down. A pid file naming a dead process, or one that is not working in this dir (the pid was
 * reused), is stale and removed, so PostgreSQL does not refuse to start for it.
 */
export async function recoverLeftovers(pgDir: string): Promise<"none" | "stale" | "orphan"> {
  const pidFile = join(pgDir, "postmaster.pid");
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  } catch {
    return "none";
  }
  if (Number.isInteger(pid) && pid > 0 && alive(pid) && runsIn(pid, pgDir)) {
    process.kill(pid, "SIGINT");
    if (!(await waitGone(pid, STOP_GRACE_MS))) {
      process.kill(pid, "SIGKILL");
      await waitGone(pid, 5_000);
    }
    return "orphan";
  }
  rmSync(pidFile, { force: true });
  return "stale";
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

async function chooseListen(pgDir: string): Promise<Listen> {
  const path = join(pgDir, `.s.PGSQL.${SOCKET_PORT}`);
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return { kind: "socket", path };
  return { kind: "loopback", port: await freePort() };
}

function logTail(file: string): string {
  try {
    const text = readFileSync(file, "utf8");
    return text.slice(-1500).trim();
  } catch {
    return "";
  }
}

function run(file: string, args: string[], user: ServerUser, logFd: number, cwd: string) {
  return spawn(file, args, {
    cwd,
    // Its own process group: a Ctrl-C in the terminal reaches zenmesh, which stops the server last.
    detached: true,
    stdio: ["ignore", logFd, logFd],
    // Nothing of zenmesh's environment (master key, URLs) reaches the server.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", LANG: "C" },
    ...(user.switched ? { uid: user.uid, gid: user.gid } : {}),
  });
}

function exitOf(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve({ code: proc.exitCode, signal: proc.signalCode });
      return;
    }
    proc.once("exit", (code, signal) => resolve({ code, signal }));
    proc.once("error", () => resolve({ code: null, signal: null }));
  });
}

async function initdb(
  bins: PgBinaries,
  paths: EmbeddedPaths,
  user: ServerUser,
  logFd: number,
  password: string,
) {
  // initdb reads the bootstrap password from a file: a private one the server's user owns, removed at once.
  const tmp = join(dirname(paths.pgDir), `pg-init.${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o700 });
  const pwfile = join(tmp, "pw");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (user.switched) {
    chownSync(tmp, user.uid, user.gid);
    chownSync(pwfile, user.uid, user.gid);
  }
  try {
    const proc = run(
      bins.initdb,
      [
        "-D",
        paths.pgDir,
        "-U",
        BOOTSTRAP_ROLE,
        `--pwfile=${pwfile}`,
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--no-locale",
        "--no-instructions",
      ],
      user,
      logFd,
      tmp,
    );
    const { code, signal } = await exitOf(proc);
    if (code !== 0) {
      throw new ZenError("EMBEDDED_DB_FAILED", {
        message: `initdb failed (${signal ?? `exit code ${code}`}): ${logTail(paths.logFile)}`,
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Password lines only, for the socket and loopback alike; no trust, no replication.
  writeFileSync(
    join(paths.pgDir, "pg_hba.conf"),
    [
      "# Written by zenmesh: every connection authenticates with SCRAM-SHA-256.",
      "local all all scram-sha-256",
      "host all all 127.0.0.1/32 scram-sha-256",
      "host all all ::1/128 scram-sha-256",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  if (user.switched) chownSync(join(paths.pgDir, "pg_hba.conf"), user.uid, user.gid);
}

/** Creates the roles as production has them, then takes the bootstrap superuser's password away. */
async function provision(listen: Listen, bootstrapPassword: string, owner: string, runtime: string) {
  const client = new pg.Client({
    connectionString: url(BOOTSTRAP_ROLE, bootstrapPassword, listen, "postgres"),
    connectionTimeoutMillis: 10_000,
  });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query(
      "CREATE ROLE zenmesh_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT",
    );
    await client.query(
      `CREATE ROLE ${OWNER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '${scramVerifier(owner)}'`,
    );
    await client.query(
      `CREATE ROLE ${LOGIN_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '${scramVerifier(runtime)}' IN ROLE zenmesh_app`,
    );
    await client.query(`CREATE DATABASE ${DATABASE} OWNER ${OWNER_ROLE}`);
    // Nobody may create objects in the maintenance databases, nor connect to them but the bootstrap.
    await client.query("REVOKE ALL ON DATABASE postgres FROM PUBLIC");
    await client.query(`REVOKE ALL ON DATABASE ${DATABASE} FROM PUBLIC`);
    await client.query(`GRANT CONNECT ON DATABASE ${DATABASE} TO ${LOGIN_ROLE}`);
    // PostgreSQL keeps the bootstrap role a superuser; it can no longer log in at all.
    await client.query(`ALTER ROLE ${BOOTSTRAP_ROLE} NOLOGIN PASSWORD NULL`);
  } finally {
    await client.end().catch(() => {});
  }
}

function openLog(file: string): number {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    if (statSync(file).size > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`);
  } catch {
    // No log yet.
  }
  return openSync(file, "a", 0o600);
}

async function waitReady(proc: ChildProcess, pgDir: string, logFile: string): Promise<void> {
  let exited = false;
  proc.once("exit", () => {
    exited = true;
  });
  const end = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited || proc.exitCode !== null) {
      throw new ZenError("EMBEDDED_DB_FAILED", {
        message: `the embedded PostgreSQL server exited during start (${proc.signalCode ?? `exit code ${proc.exitCode}`}): ${logTail(logFile)}`,
      });
    }
    try {
      // The postmaster writes "ready" as the last line of its pid file once it accepts connections.
      const lines = readFileSync(join(pgDir, "postmaster.pid"), "utf8").split("\n");
      if (Number(lines[0]) === proc.pid && lines.some((l) => l.trim() === "ready")) return;
    } catch {
      // Not written yet.
    }
    if (Date.now() > end) {
      proc.kill("SIGQUIT");
      throw new ZenError("EMBEDDED_DB_FAILED", {
        message: `the embedded PostgreSQL server was not ready within ${READY_TIMEOUT_MS / 1000} s: ${logTail(logFile)}`,
      });
    }
    await sleep(25);
  }
}

function spawnServer(
  bins: PgBinaries,
  paths: EmbeddedPaths,
  user: ServerUser,
  logFd: number,
  listen: Listen,
) {
  const net =
    listen.kind === "socket"
      ? ["-c", "listen_addresses=", "-c", `unix_socket_directories=${paths.pgDir}`, "-p", String(SOCKET_PORT)]
      : ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-p", String(listen.port)];
  return run(
    bins.postgres,
    [
      "-D",
      paths.pgDir,
      ...net,
      "-c",
      "unix_socket_permissions=0700",
      "-c",
      "password_encryption=scram-sha-256",
      "-c",
      `hba_file=${join(paths.pgDir, "pg_hba.conf")}`,
    ],
    user,
    logFd,
    paths.pgDir,
  );
}

function prepareDirs(dataDir: string, paths: EmbeddedPaths, user: ServerUser): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.authDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.authDir, 0o700);
  mkdirSync(paths.pgDir, { recursive: true, mode: 0o700 });
  if (user.switched) {
    const st = statSync(paths.pgDir);
    if (st.uid !== user.uid) chownTree(paths.pgDir, user);
  }
  ensureReachable(paths.pgDir, dataDir, user);
}

/** A pg dir left by another server user (zenmesh once ran it as nobody): handed to the current one. */
function chownTree(dir: string, user: ServerUser): void {
  chownSync(dir, user.uid, user.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(p, user);
    else chownSync(p, user.uid, user.gid);
  }
}

/**
 * Initialises `<data-dir>/pg` when it holds no cluster yet (or an initialisation was interrupted),
 * recovers what a kill -9 left, starts the server and waits until it accepts connections.
 */
export async function startEmbeddedServer(opts: EmbeddedOptions): Promise<RunningServer> {
  const { dataDir } = opts;
  assertNotPglite(dataDir);
  const bins = findPgBinaries(opts.nativeDir);
  const user = serverUser();
  const paths = embeddedPaths(dataDir);
  prepareDirs(dataDir, paths, user);
  await recoverLeftovers(paths.pgDir);

  const logFd = openLog(paths.logFile);
  try {
    const hasCluster = existsSync(join(paths.pgDir, "PG_VERSION"));
    const hasPasswords = existsSync(paths.ownerPasswordFile) && existsSync(paths.runtimePasswordFile);
    const fresh = !hasCluster || existsSync(paths.initPendingFile);
    if (!fresh && !hasPasswords) {
      throw new ZenError("EMBEDDED_DB_FAILED", {
        message: `${paths.pgDir} holds a database, but its login passwords in ${paths.authDir} are missing: restore them from the backup the data dir came from`,
      });
    }
    const listen = opts.listen ?? (await chooseListen(paths.pgDir));
    let owner: string;
    let runtime: string;
    if (fresh) {
      writeFileSync(paths.initPendingFile, "", { mode: 0o600 });
      // An interrupted initialisation left nothing anyone relies on: it is redone from the start.
      rmSync(paths.pgDir, { recursive: true, force: true });
      prepareDirs(dataDir, paths, user);
      owner = randomBytes(24).toString("base64url");
      runtime = randomBytes(24).toString("base64url");
      const bootstrap = randomBytes(24).toString("base64url");
      await initdb(bins, paths, user, logFd, bootstrap);
      const proc = spawnServer(bins, paths, user, logFd, listen);
      try {
        await waitReady(proc, paths.pgDir, paths.logFile);
        await provision(listen, bootstrap, owner, runtime).catch((err: unknown) => {
          throw new ZenError("EMBEDDED_DB_FAILED", {
            message: `could not create the embedded database's roles: ${(err as Error).message}`,
            cause: err,
          });
        });
      } finally {
        const gone = exitOf(proc);
        proc.kill("SIGINT");
        await gone;
      }
      writeSecret(paths.ownerPasswordFile, `${owner}\n`);
      writeSecret(paths.runtimePasswordFile, `${runtime}\n`);
      rmSync(paths.initPendingFile, { force: true });
    } else {
      owner = readSecret(paths.ownerPasswordFile);
      runtime = readSecret(paths.runtimePasswordFile);
    }

    const proc = spawnServer(bins, paths, user, logFd, listen);
    const exited = exitOf(proc);
    try {
      await waitReady(proc, paths.pgDir, paths.logFile);
    } catch (err) {
      await exited;
      throw err;
    }
    return {
      pid: proc.pid ?? 0,
      listen,
      runtimeUrl: url(LOGIN_ROLE, runtime, listen),
      ownerUrl: url(OWNER_ROLE, owner, listen),
      exited,
      async stop() {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill("SIGINT");
        const timer = setTimeout(() => proc.kill("SIGQUIT"), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      },
    };
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(logFd);
  }
}
