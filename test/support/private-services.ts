/**
 * A private PostgreSQL or Redis server for one suite, on a free loopback
 * port, in a temporary directory, torn down afterwards: a suite may stop
 * and restart it without touching the machine's shared servers.
 *
 * PostgreSQL refuses to run as root (initdb and postgres both check), so
 * as root the server runs as the `postgres` user via runuser, in a
 * directory chowned to it.
 */
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { onAbandon, sleep, until } from "./zenmesh-up.ts";

/** A port nothing listens on right now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The newest installed PostgreSQL's bin dir, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

function asPostgresUser(): { prefix: string[]; uid?: number; gid?: number } {
  if (userInfo().uid !== 0) return { prefix: [] };
  const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (id.status !== 0) throw new Error("running as root, and there is no postgres user to run PostgreSQL as");
  return { prefix: ["runuser", "-u", "postgres", "--"], uid: Number(id.stdout), gid: Number(gid.stdout) };
}

export interface PrivatePostgres {
  port: number;
  url: string;
  /** `pg_ctl <args>` against this server (without blocking the caller's event loop); rejects with pg_ctl's output on failure. */
  ctl(...args: string[]): Promise<void>;
  /** The server's log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Why a private PostgreSQL cannot run here, or undefined. */
export function privatePostgresMissing(): string | undefined {
  if (!postgresBinDir()) return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin";
  if (userInfo().uid === 0 && spawnSync("id", ["-u", "postgres"]).status !== 0) {
    return "running as root without a postgres user";
  }
  return undefined;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("no PostgreSQL server binaries");
  const who = asPostgresUser();
  const dir = mkdtempSync(join(tmpdir(), "zm-private-pg-"));
  if (who.uid !== undefined && who.gid !== undefined) chownSync(dir, who.uid, who.gid);
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  const port = await freePort();
  const command = (exe: string, args: string[]) => [...who.prefix, join(bin, exe), ...args];
  const run = (exe: string, args: string[]) => {
    const [cmd, ...rest] = command(exe, args);
    const r = spawnSync(cmd!, rest, { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) {
      throw new Error(`${exe} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
    }
  };
  const runAsync = (exe: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const [cmd, ...rest] = command(exe, args);
      const p = spawn(cmd!, rest, { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
      let out = "";
      p.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
      });
      p.stderr?.on("data", (d: Buffer) => {
        out += d.toString();
      });
      p.once("error", reject);
      p.once("exit", (code, signal) =>
        code === 0
          ? resolve()
          : reject(new Error(`${exe} ${args.join(" ")} failed (${code ?? signal}): ${out}`)),
      );
    });
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=50`;
  const ctlArgs = (args: string[]) => ["-D", data, "-l", logFile, "-o", options, "-w", "-t", "30", ...args];
  const ctl = (...args: string[]) => runAsync("pg_ctl", ctlArgs(args));
  const abandon = onAbandon(() => {
    try {
      run("pg_ctl", ["-D", data, "stop", "-m", "immediate", "-w", "-t", "10"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  try {
    run("initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--no-sync",
      "--no-instructions",
    ]);
    await ctl("start");
  } catch (err) {
    abandon();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    ctl,
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    async stop() {
      abandon();
      // Already stopped is fine.
      await ctl("stop", "-m", "immediate").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** Stops the server (SIGTERM, it saves nothing); resolves once it is gone. */
  down(): Promise<void>;
  /** Starts it again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export function privateRedisMissing(): string | undefined {
  return spawnSync("redis-server", ["--version"]).status === 0 ? undefined : "no redis-server on PATH";
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "zm-private-redis-"));
  let proc: ReturnType<typeof spawn> | undefined;
  let exited: Promise<void> = Promise.resolve();
  const up = async () => {
    const p = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    proc = p;
    exited = new Promise<void>((r) => p.once("exit", () => r()));
    let out = "";
    p.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await until(
      "the private redis-server to accept connections",
      async () => {
        if (p.exitCode !== null) throw new Error(`redis-server exited ${p.exitCode}: ${out}`);
        return /Ready to accept connections/.test(out) ? true : undefined;
      },
      15_000,
    );
  };
  const down = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    proc = undefined;
    // The port is free again once the listener is gone.
    await sleep(50);
  };
  const abandon = onAbandon(() => {
    proc?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  await up();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    up,
    down,
    async stop() {
      abandon();
      await down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
