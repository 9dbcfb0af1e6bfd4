/**
 * `zenmesh up` on PostgreSQL with an owner connection: the schema is migrated
 * before the backend starts, and the serving backend holds the runtime
 * credentials only — its environment and command line (as the kernel shows
 * them, /proc/<pid>/environ and cmdline) carry no owner URL.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { skipReason } from "../support/db.ts";
import { PG_ADMIN_URL, PG_APP_ROLE, PG_OWNER_ROLE, pgUrl } from "../support/env.ts";
import { ANY_PORTS } from "../support/ports.ts";
import { BIN, until } from "../support/zenmesh-up.ts";

const MIGRATIONS = readdirSync(resolve(import.meta.dirname, "..", "..", "src", "db", "migrations")).filter(
  (f) => /^\d{4}_.*\.sql$/.test(f),
).length;

async function adminQuery<T>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

describe("zenmesh up migrates first and serves with the runtime credentials only", {
  skip: skipReason("postgres") ?? false,
}, () => {
  const name = `zm_up_${randomBytes(6).toString("hex")}`;
  // A marker in the owner URL that nothing else contains: the runtime URL names another role.
  const ownerUrl = `${pgUrl(PG_OWNER_ROLE, name)}?application_name=owner_${randomBytes(6).toString("hex")}`;
  const runtimeUrl = pgUrl(PG_APP_ROLE, name);
  let dir: string;
  let child: ChildProcess | undefined;
  let exited: Promise<unknown>;
  let output = "";

  before(async () => {
    // An empty database: nothing but the migrations run by `up` can give it a schema.
    await adminQuery(PG_ADMIN_URL, `create database ${name} owner ${PG_OWNER_ROLE}`);
    dir = mkdtempSync(join(tmpdir(), "zm-up-migrate-"));
    child = spawn(process.execPath, [BIN, "up", "--data-dir", dir], {
      env: {
        ...process.env,
        ...ANY_PORTS,
        ZENMESH_LOG_LEVEL: "warn",
        ZENMESH_DATABASE_URL: runtimeUrl,
        ZENMESH_DATABASE_OWNER_URL: ownerUrl,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((r) => child?.once("exit", r));
    child.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    await until(
      "ready",
      async () => {
        if (child?.exitCode !== null) throw new Error(`up exited: ${output}`);
        return /ready in \d+ ms/.test(output) ? true : undefined;
      },
      90_000,
    );
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    await adminQuery(PG_ADMIN_URL, `drop database if exists ${name} with (force)`);
  });

  test("the schema is migrated, and the backend's environment and arguments hold no owner URL", async () => {
    const applied = await adminQuery<{ n: string }>(
      pgUrl(new URL(PG_ADMIN_URL).username || "postgres", name),
      "select count(*) as n from schema_migrations",
    );
    assert.equal(Number(applied[0]?.n), MIGRATIONS, "every migration applied");

    const pid = Number(/^\s+backend\s+running\s+pid (\d+)/m.exec(output)?.[1]);
    assert.ok(pid > 0, output);
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const marker = new URL(ownerUrl).searchParams.get("application_name")!;
    assert.ok(
      environ.some((e) => e === `ZENMESH_DATABASE_URL=${runtimeUrl}`),
      "the backend has the runtime connection",
    );
    assert.deepEqual(
      environ.filter((e) => e.startsWith("ZENMESH_DATABASE_OWNER_URL=") || e.includes(marker)),
      [],
      "no owner URL in the backend's environment",
    );
    assert.ok(!cmdline.includes(marker), "no owner URL in the backend's arguments");

    // It serves: the control API answers (401 without a credential).
    const endpoints = JSON.parse(readFileSync(join(dir, "endpoints.json"), "utf8")) as Record<string, string>;
    const r = await fetch(`${endpoints.api}/v1/projects/prj_unknown/sources`);
    assert.equal(r.status, 401);
  });
});
