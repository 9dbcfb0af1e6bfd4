/**
 * The embedded server as zenmesh manages it: a real PostgreSQL initialised in
 * a temporary data dir, connected to as the runtime login, with the fence,
 * the authentication and the recovery paths exercised against the live
 * server.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { TEST_FENCE } from "../../../test/support/db.ts";
import { isZenError } from "../../core/index.ts";
import { openDatabase } from "../index.ts";
import {
  embeddedPaths,
  findPgBinaries,
  LOGIN_ROLE,
  OWNER_ROLE,
  platformPackage,
  type RunningServer,
  startEmbeddedServer,
} from "./index.ts";

const dirs: string[] = [];
function tempDir(prefix = "zm-pg-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function sqlState(url: string, sql?: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  c.on("error", () => {});
  try {
    await c.connect();
    if (sql) await c.query(sql);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  } finally {
    await c.end().catch(() => {});
  }
}

function uidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1]);
}

function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = password;
  return u.toString();
}

describe("the embedded PostgreSQL server", () => {
  let dataDir: string;
  let server: RunningServer;

  before(async () => {
    dataDir = tempDir();
    server = await startEmbeddedServer({ dataDir });
  });
  after(async () => {
    await server?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("listens on a socket inside the data dir and serves the runtime login, which is no superuser", async () => {
    assert.deepEqual(server.listen, { kind: "socket", path: join(dataDir, "pg", ".s.PGSQL.5432") });
    const c = new pg.Client(server.runtimeUrl);
    await c.connect();
    try {
      const r = await c.query<{ u: string; s: boolean; b: boolean }>(
        "select current_user as u, rolsuper as s, rolbypassrls as b from pg_roles where rolname = current_user",
      );
      assert.deepEqual(r.rows[0], { u: LOGIN_ROLE, s: false, b: false });
    } finally {
      await c.end();
    }
  });

  it("runs the server as an unprivileged user that owns the pg dir, keeping the passwords to zenmesh's user", () => {
    const me = process.getuid?.() ?? 0;
    const serverUid = uidOf(server.pid);
    const paths = embeddedPaths(dataDir);
    assert.notEqual(serverUid, 0, "PostgreSQL never runs as root");
    if (me === 0) assert.notEqual(serverUid, me);
    else assert.equal(serverUid, me);
    assert.equal(statSync(paths.pgDir).uid, serverUid);
    for (const f of [paths.ownerPasswordFile, paths.runtimePasswordFile]) {
      const st = statSync(f);
      assert.equal(st.mode & 0o777, 0o600, `${f} is 0600`);
      assert.equal(st.uid, me, `${f} belongs to zenmesh's user`);
    }
    assert.equal(statSync(paths.authDir).mode & 0o777, 0o700);
  });

  it("authenticates every connection with SCRAM: no trust line, a wrong password refused, no superuser login", async () => {
    const hba = readFileSync(join(dataDir, "pg", "pg_hba.conf"), "utf8");
    const rules = hba.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
    assert.ok(rules.length >= 2);
    for (const rule of rules) assert.match(rule, /\sscram-sha-256$/, rule);
    assert.doesNotMatch(hba, /\btrust\b/);
    assert.equal(await sqlState(withPassword(server.runtimeUrl, "wrong")), "28P01");
    // One login's password is no other's.
    const runtimePassword = decodeURIComponent(new URL(server.runtimeUrl).password);
    assert.equal(await sqlState(withPassword(server.ownerUrl, runtimePassword)), "28P01");
    // The bootstrap superuser initdb made can no longer log in: no superuser login exists.
    const c = new pg.Client(server.runtimeUrl);
    await c.connect();
    try {
      const supers = await c.query("select rolname from pg_roles where rolsuper and rolcanlogin");
      assert.deepEqual(supers.rows, []);
    } finally {
      await c.end();
    }
  });

  it("enforces Row Level Security on the runtime login: another tenant invisible, SET ROLE and DISABLE refused", async () => {
    const db = await openDatabase({
      kind: "postgres",
      url: server.runtimeUrl,
      ownerUrl: server.ownerUrl,
      fence: TEST_FENCE,
    });
    try {
      for (const t of ["tnt_a", "tnt_b"]) {
        await db.withTenant(t, (tx) => tx.query("insert into tenants (id, name) values ($1, $1)", [t]));
        await db.withTenant(t, (tx) =>
          tx.query("insert into projects (id, tenant_id, name) values ($1, $2, 'p')", [`prj_${t}`, t]),
        );
      }
      const seen = await db.withTenant("tnt_a", (tx) => tx.query<{ id: string }>("select id from projects"));
      assert.deepEqual(
        seen.rows.map((r) => r.id),
        ["prj_tnt_a"],
      );
      const report = await db.inspectRuntimeRole();
      assert.deepEqual(report.ownedTables, []);
    } finally {
      await db.close();
    }
    // The raw login, outside any context the fence signs: no rows, no way around the policies.
    const c = new pg.Client(server.runtimeUrl);
    c.on("error", () => {});
    await c.connect();
    try {
      assert.equal((await c.query("select count(*)::int as n from projects")).rows[0].n, 0);
      await assert.rejects(c.query(`set role ${OWNER_ROLE}`), { code: "42501" });
      await assert.rejects(c.query("alter table projects disable row level security"), { code: "42501" });
      await assert.rejects(c.query("alter role zenmesh_runtime bypassrls"), { code: "42501" });
      await c.query("set role zenmesh_app");
      assert.equal((await c.query("select count(*)::int as n from projects")).rows[0].n, 0);
    } finally {
      await c.end();
    }
  });

  it("stops with a fast shutdown and starts again on the same dir with the same passwords", async () => {
    const before = readFileSync(embeddedPaths(dataDir).runtimePasswordFile, "utf8");
    const old = server.pid;
    await server.stop();
    assert.equal(alive(old), false);
    server = await startEmbeddedServer({ dataDir });
    assert.equal(readFileSync(embeddedPaths(dataDir).runtimePasswordFile, "utf8"), before);
    assert.equal(await sqlState(server.ownerUrl, "select count(*) from projects"), undefined);
  });

  it("shuts down a server its supervisor left running in the dir before starting, never two at once", async () => {
    // A process that starts the server and is then killed -9, as a killed supervisor would be.
    const script = join(tempDir(), "start.ts");
    writeFileSync(
      script,
      `import { startEmbeddedServer } from ${JSON.stringify(join(import.meta.dirname, "index.ts"))};
       const s = await startEmbeddedServer({ dataDir: ${JSON.stringify(dataDir)} });
       process.stdout.write(String(s.pid) + "\\n");
       setInterval(() => {}, 1000);`,
    );
    await server.stop();
    const holder = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    const orphan = await new Promise<number>((resolve, reject) => {
      let out = "";
      holder.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("\n")) resolve(Number(out.trim()));
      });
      holder.once("exit", (code) => reject(new Error(`the holder exited ${code}`)));
    });
    holder.kill("SIGKILL");
    await new Promise((r) => holder.once("exit", r));
    assert.equal(alive(orphan), true, "the server outlives its killed starter");

    server = await startEmbeddedServer({ dataDir });
    assert.equal(alive(orphan), false, "the orphaned server was shut down first");
    assert.notEqual(server.pid, orphan);
    assert.equal(await sqlState(server.runtimeUrl, "select 1"), undefined);
  });

  it("removes a stale pid file whose pid now belongs to another process", async () => {
    const serverUid = uidOf(server.pid);
    await server.stop();
    const pidFile = join(dataDir, "pg", "postmaster.pid");
    // A live process that is no server of this dir, as a reused pid is: one the server's user may
    // signal (PostgreSQL passes over a pid it may not signal, and over its parent's).
    const asServer = (process.getuid?.() ?? 0) === 0 ? { uid: serverUid, gid: serverUid } : {};
    const other = spawn("sleep", ["60"], { stdio: "ignore", ...asServer });
    try {
      writeFileSync(pidFile, `${other.pid}\n${join(dataDir, "pg")}\n`);
      server = await startEmbeddedServer({ dataDir });
      assert.equal(Number(readFileSync(pidFile, "utf8").split("\n")[0]), server.pid);
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("as a normal user, runs the server as that user", async () => {
    // As root, the manager itself runs as nobody here; otherwise it already runs as a normal user.
    const asRoot = (process.getuid?.() ?? 0) === 0;
    const own = tempDir();
    if (asRoot) chownSync(own, 65534, 65534);
    chmodSync(own, 0o700);
    const code = `
      import pg from "pg";
      import { readFileSync } from "node:fs";
      import { startEmbeddedServer } from ${JSON.stringify(join(import.meta.dirname, "index.ts"))};
      const s = await startEmbeddedServer({ dataDir: ${JSON.stringify(own)} });
      const uid = Number(/^Uid:\\s+(\\d+)/m.exec(readFileSync("/proc/" + s.pid + "/status", "utf8"))[1]);
      const c = new pg.Client(s.runtimeUrl);
      await c.connect();
      const who = (await c.query("select current_user as u")).rows[0].u;
      await c.end();
      await s.stop();
      process.stdout.write(JSON.stringify({ me: process.getuid(), server: uid, who }));`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      cwd: join(import.meta.dirname, "..", "..", ".."),
      stdio: ["ignore", "pipe", "pipe"],
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    let out = "";
    let errText = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      errText += d.toString();
    });
    const exitCode = await new Promise((r) => child.once("exit", r));
    assert.equal(exitCode, 0, errText);
    const seen = JSON.parse(out) as { me: number; server: number; who: string };
    assert.notEqual(seen.me, 0);
    assert.equal(seen.server, seen.me, "the server runs as the user that started it");
    assert.equal(seen.who, LOGIN_ROLE);
  });

  it("redoes an initialisation that was interrupted, and refuses a cluster whose passwords are gone", async () => {
    const d = tempDir();
    const first = await startEmbeddedServer({ dataDir: d });
    await first.stop();
    const paths = embeddedPaths(d);
    const oldRuntime = readFileSync(paths.runtimePasswordFile, "utf8");
    // As a start killed between initdb and writing the passwords leaves it.
    writeFileSync(paths.initPendingFile, "");
    const redone = await startEmbeddedServer({ dataDir: d });
    try {
      assert.notEqual(
        readFileSync(paths.runtimePasswordFile, "utf8"),
        oldRuntime,
        "a new cluster, new passwords",
      );
      assert.equal(await sqlState(redone.runtimeUrl, "select 1"), undefined);
    } finally {
      await redone.stop();
    }
    rmSync(paths.ownerPasswordFile);
    await assert.rejects(startEmbeddedServer({ dataDir: d }), (err: unknown) => {
      assert.ok(isZenError(err));
      assert.equal(err.code, "EMBEDDED_DB_FAILED");
      assert.match(err.message, /passwords .* are missing/);
      return true;
    });
    assert.ok(statSync(join(d, "pg", "PG_VERSION")).isFile(), "the database was left as it was");
  });

  it("falls back to loopback on a free port when the socket path would pass the 107-byte limit", async () => {
    let deep = tempDir();
    while (join(deep, "pg", ".s.PGSQL.5432").length <= 107) deep = join(deep, "long-directory-name");
    mkdirSync(deep, { recursive: true, mode: 0o700 });
    // Directories the test made on the way: the server's user must be able to pass through them.
    for (let d = deep; d.length > tmpdir().length + 1; d = join(d, "..")) chmodSync(d, 0o711);
    const s = await startEmbeddedServer({ dataDir: deep });
    try {
      assert.equal(s.listen.kind, "loopback");
      const port = s.listen.kind === "loopback" ? s.listen.port : 0;
      const c = new pg.Client(s.runtimeUrl);
      await c.connect();
      try {
        const r = await c.query<{ p: number }>("select inet_server_port() as p");
        assert.equal(r.rows[0]?.p, port);
      } finally {
        await c.end();
      }
    } finally {
      await s.stop();
    }
  });

  it("refuses a 0.1 data dir holding a PGlite database, saying what it is and how to start fresh", async () => {
    const old = tempDir();
    mkdirSync(join(old, "pgdata"));
    writeFileSync(join(old, "pgdata", "PG_VERSION"), "17\n");
    await assert.rejects(startEmbeddedServer({ dataDir: old }), (err: unknown) => {
      assert.ok(isZenError(err));
      assert.equal(err.code, "EMBEDDED_DB_PGLITE_DATA_DIR");
      assert.match(err.message, /PGlite database from zenmesh 0\.1/);
      assert.match(err.message, /start\s+fresh/);
      return true;
    });
    assert.throws(() => statSync(join(old, "pg")), /ENOENT/, "nothing was initialised beside it");
  });

  it("names the platform package when its binaries are missing", async () => {
    const empty = tempDir();
    await assert.rejects(startEmbeddedServer({ dataDir: tempDir(), nativeDir: empty }), (err: unknown) => {
      assert.ok(isZenError(err));
      assert.equal(err.code, "EMBEDDED_DB_PACKAGE_MISSING");
      assert.ok(err.message.includes(platformPackage()), err.message);
      assert.match(err.message, /npm install/);
      return true;
    });
  });

  it("names the platform package when its library links were never made (its install script did not run)", () => {
    const real = findPgBinaries();
    const pkg = tempDir();
    const native = join(pkg, "native");
    mkdirSync(join(native, "bin"), { recursive: true });
    for (const b of ["initdb", "postgres"]) {
      copyFileSync(join(real.root, "bin", b), join(native, "bin", b));
      chmodSync(join(native, "bin", b), 0o755);
    }
    copyFileSync(join(real.root, "pg-symlinks.json"), join(native, "pg-symlinks.json"));
    assert.throws(
      () => findPgBinaries(native),
      (err: unknown) => {
        assert.ok(isZenError(err));
        assert.equal(err.code, "EMBEDDED_DB_PACKAGE_MISSING");
        assert.ok(err.message.includes(platformPackage()));
        assert.match(err.message, /install script did not run/);
        assert.match(err.message, /npm rebuild/);
        return true;
      },
    );
  });
});
