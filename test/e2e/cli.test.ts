/**
 * The newcomer's path, end to end: the real `zenmesh` launcher as a child
 * process on an embedded data dir.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { ANY_PORTS } from "../support/ports.ts";
import { postmastersOf } from "../support/zenmesh-up.ts";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "zenmesh.js");

function cli(args: string[], env: Record<string, string> = {}, input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, ZENMESH_LOG_LEVEL: "warn", ...env },
    ...(input === undefined ? {} : { input }),
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; saw: ${seen}`)),
      timeoutMs,
    );
    child.stdout?.on("data", (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolveLine(seen);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}; saw: ${seen}`));
    });
  });
}

/** A fresh data dir: `up` initialises its embedded PostgreSQL server. */
function freshDataDir(): string {
  return mkdtempSync(join(tmpdir(), "zm-e2e-"));
}

describe("zenmesh up on the embedded default", () => {
  let dir: string;
  let child: ChildProcess;
  let banner: string;
  let api: string;

  before(async () => {
    dir = freshDataDir();
    child = spawn(process.execPath, [BIN, "up", "--data-dir", dir], {
      env: { ...process.env, ZENMESH_LOG_LEVEL: "warn", ...ANY_PORTS },
      stdio: ["ignore", "pipe", "pipe"],
    });
    banner = await waitForLine(child, /ready in \d+ ms/);
    api = (JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as { api: string }).api;
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("runs on Node 24 and prints the API URL that endpoints.json holds", () => {
    assert.match(banner, /on Node v24\./);
    assert.match(api, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(banner.includes(api));
  });

  test("keeps the generated master key private to its owner", () => {
    const mode = statSync(join(dir, "master.key")).mode & 0o777;
    assert.equal(mode & 0o077, 0, `master.key mode ${mode.toString(8)}`);
  });

  test("creates a tenant while running, and its key works against the API at once", async () => {
    const r = cli(["tenant", "create", "--name", "Acme", "--json", "--data-dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tenant_id: string; project_id: string; api_key: string };
    assert.match(out.tenant_id, /^tnt_/);
    assert.match(out.project_id, /^prj_/);
    assert.match(out.api_key, /^zm_test_[0-9A-Za-z]{48}$/);
    const me = await fetch(`${api}/v1/me`, { headers: { authorization: `Bearer ${out.api_key}` } });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { project_id: string }).project_id, out.project_id);
    const keys = await fetch(`${api}/v1/projects/${out.project_id}/api-keys`, {
      headers: { authorization: `Bearer ${out.api_key}` },
    });
    assert.equal(keys.status, 200);
    assert.ok(!(await keys.text()).includes(out.api_key), "a listing never shows the raw key");
  });

  test("sets a project's own quota while running, and the API applies it to the next create", async () => {
    const t = JSON.parse(
      cli(["tenant", "create", "--name", "Quota", "--json", "--data-dir", dir]).stdout,
    ) as {
      tenant_id: string;
      project_id: string;
      api_key: string;
    };
    const ids = ["--tenant-id", t.tenant_id, "--project-id", t.project_id];
    const set = cli(["quota", "set", ...ids, "--sources", "1", "--json", "--data-dir", dir]);
    assert.equal(set.code, 0, set.stderr);
    const sources = (JSON.parse(set.stdout) as { quota: string; limit: number; origin: string }[]).find(
      (q) => q.quota === "sources",
    );
    assert.deepEqual(sources && [sources.limit, sources.origin], [1, "project"]);
    const create = (name: string) =>
      fetch(`${api}/v1/projects/${t.project_id}/sources`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.api_key}`, "content-type": "application/json" },
        body: JSON.stringify({ name, scheme: "github" }),
      });
    assert.equal((await create("one")).status, 201);
    const second = await create("two");
    assert.equal(second.status, 409);
    assert.equal(((await second.json()) as { error: { code: string } }).error.code, "QUOTA_EXCEEDED");
    const shown = cli(["quota", "show", ...ids, "--data-dir", dir]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^sources\s+1 \(project, 1 used\)$/m);
    const bad = cli(["quota", "set", ...ids, "--sources", "many", "--data-dir", dir]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /whole number or "default"/);
  });

  test("refuses a tenant name with an invisible or control character, and creates nothing", () => {
    for (const name of ["Acme\u202Egnp.exe", "Ac\u200Bme", "Acme\u0007"]) {
      const r = cli(["tenant", "create", "--name", name, "--json", "--data-dir", dir]);
      assert.notEqual(r.code, 0, `${JSON.stringify(name)} was accepted: ${r.stdout}`);
      assert.match(r.stderr, /TEXT_NOT_ALLOWED/);
      assert.equal(r.stdout, "");
    }
  });

  test("creates a user who can sign in, and verifies the tenant's audit chain", async () => {
    const t = JSON.parse(cli(["tenant", "create", "--name", "Beta", "--json", "--data-dir", dir]).stdout) as {
      tenant_id: string;
    };
    const password = "correct horse battery staple";
    const u = cli(
      [
        "user",
        "create",
        "--email",
        "ops@example.test",
        "--tenant-id",
        t.tenant_id,
        "--password-stdin",
        "--json",
        "--data-dir",
        dir,
      ],
      {},
      `${password}\n`,
    );
    assert.equal(u.code, 0, u.stderr);
    const again = cli([
      "user",
      "create",
      "--email",
      "ops@example.test",
      "--tenant-id",
      t.tenant_id,
      "--data-dir",
      dir,
    ]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /CONFLICT: a user with this email already exists/);
    assert.doesNotMatch(again.stdout, /password/, "no password is shown for a user it did not create");
    const demote = cli([
      "user",
      "grant",
      "--email",
      "ops@example.test",
      "--tenant-id",
      t.tenant_id,
      "--role",
      "viewer",
      "--data-dir",
      dir,
    ]);
    assert.equal(demote.code, 1);
    assert.match(demote.stderr, /at least one owner/);
    const login = await fetch(`${api}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ops@example.test", password }),
    });
    assert.equal(login.status, 200);
    const v = cli(["audit", "verify", "--tenant-id", t.tenant_id, "--json", "--data-dir", dir]);
    assert.equal(v.code, 0, v.stderr);
    const verdict = JSON.parse(v.stdout) as { ok: boolean; count: number };
    assert.equal(verdict.ok, true);
    assert.ok(verdict.count >= 3, `expected tenant, key and membership entries, got ${verdict.count}`);
  });

  test("refuses a second `up` on the same data dir", () => {
    const r = cli(["up", "--data-dir", dir], ANY_PORTS);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /DATA_DIR_LOCKED/);
  });

  test("stops cleanly on SIGTERM and removes endpoints.json and the lock", async () => {
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.once("exit", r));
    assert.equal(code, 0);
    assert.equal(existsSync(join(dir, "endpoints.json")), false);
    assert.equal(existsSync(join(dir, "zenmesh.lock")), false);
  });

  test("works directly on the data dir when nothing is running", () => {
    const r = cli(["tenant", "create", "--name", "Offline", "--json", "--data-dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"tenant_id":"tnt_/);
    // The command ran the embedded server for its own duration only.
    assert.deepEqual(postmastersOf(dir), []);
    const m = cli(["migrate", "--data-dir", dir]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /migrations applied/);
    assert.deepEqual(postmastersOf(dir), []);
  });
});

describe("the production profile refuses insecure settings", () => {
  test("without a master key or a database, naming both settings", () => {
    const dir = mkdtempSync(join(tmpdir(), "zm-prod-"));
    try {
      const r = cli(["serve", "backend", "--data-dir", dir], { ZENMESH_PROFILE: "production" });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /CONFIG_INSECURE/);
      assert.match(r.stderr, /ZENMESH_MASTER_KEY/);
      assert.match(r.stderr, /ZENMESH_DATABASE_URL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with a database URL that does not verify the server certificate", () => {
    const r = cli(["serve", "backend"], {
      ZENMESH_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
      ZENMESH_DATABASE_URL: "postgres://app@127.0.0.1:5432/zenmesh?sslmode=require",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ZENMESH_DATABASE_URL/);
    assert.match(r.stderr, /verify-full/);
  });

  test("migrate asks only for a verified database connection, never the master key", () => {
    const r = cli(["migrate"], {
      ZENMESH_PROFILE: "production",
      ZENMESH_DATABASE_URL: "postgres://app@127.0.0.1:5432/zenmesh?sslmode=require",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ZENMESH_DATABASE_URL/);
    assert.doesNotMatch(r.stderr, /MASTER_KEY/);
  });

  test("an ingester without mTLS material, or handed database credentials", () => {
    const r = cli(["serve", "ingester"], {
      ZENMESH_BACKEND_URL: "https://127.0.0.1:7710",
      ZENMESH_DATABASE_URL: "postgres://app@127.0.0.1:5432/zenmesh?sslmode=verify-full",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no mTLS material for the ingester role/);
    assert.match(r.stderr, /ZENMESH_DATABASE_URL.*must not hold/);
  });

  test("a backend without the built-in CA, SPIRE or certificate files", () => {
    const dir = mkdtempSync(join(tmpdir(), "zm-prod-"));
    try {
      const r = cli(["serve", "backend", "--data-dir", dir], {
        ZENMESH_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
        ZENMESH_DATABASE_URL: "postgres://app@127.0.0.1:5432/zenmesh?sslmode=verify-full",
      });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /ZENMESH_CA_FILE.*zenmesh ca init/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with a plain redis:// URL", () => {
    const r = cli(["serve", "backend"], {
      ZENMESH_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
      ZENMESH_DATABASE_URL: "postgres://app@127.0.0.1:5432/zenmesh?sslmode=verify-full",
      ZENMESH_REDIS_URL: "redis://127.0.0.1:6379",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ZENMESH_REDIS_URL/);
  });
});
