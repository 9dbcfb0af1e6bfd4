/**
 * `npm test`: probes what this machine can run, prepares database templates
 * once (migrated PGlite data dir, migrated PostgreSQL template database), runs
 * every test file with node's test runner, and says plainly which suites were
 * skipped and why. Under CI (CI=true) nothing may be skipped.
 *
 *   npm test                       all suites
 *   npm test -- src/db             only files under a path
 *   npm run test:resilience        the resilience suite instead (`--resilience`:
 *                                  test/resilience/*.resilience.ts, one file at a time)
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import pg from "pg";
import { openDatabase, schemaFingerprint, tenantFence } from "../src/db/index.ts";
import { generateMasterKey, parseMasterKeyRing } from "../src/zenlock/index.ts";
import { PG_ADMIN_URL, PG_APP_ROLE, PG_OWNER_ROLE, pgUrl, REQUIRE_ALL } from "../test/support/env.ts";

const root = resolve(import.meta.dirname, "..");
const work = join(root, ".tmp", "test");
mkdirSync(work, { recursive: true });
const fingerprint = schemaFingerprint();
const env: Record<string, string> = {};
// Templates hold the schema only: each copy takes the fence keys of whoever opens it first
// (a test's own key, or the dev master key `zenmesh up` generates), so this key is stored nowhere.
const templateFence = tenantFence(parseMasterKeyRing(generateMasterKey(), "template"));
const template = { migrate: true, fenceKeys: false } as const;
const skipped: string[] = [];

async function preparePglite(): Promise<void> {
  const dir = join(work, `pglite-template-${fingerprint}`);
  if (!existsSync(join(dir, "PG_VERSION"))) {
    const tmp = `${dir}.${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    const db = await openDatabase({ kind: "pglite", dataDir: tmp, fence: templateFence }, template);
    await db.close();
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  env.ZENMESH_TEST_PGLITE_TEMPLATE = dir;
}

async function admin(sql: string, url = PG_ADMIN_URL): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

async function ensureRole(sql: string): Promise<void> {
  try {
    await admin(sql);
  } catch (err) {
    // A concurrent run created it first.
    if (!/already exists/.test(String(err))) throw err;
  }
}

async function preparePostgres(): Promise<void> {
  try {
    await admin("select 1");
  } catch (err) {
    const why = `PostgreSQL unreachable at ${new URL(PG_ADMIN_URL).host}: ${(err as Error).message}`;
    if (REQUIRE_ALL) throw new Error(why);
    skipped.push(`postgres suites: ${why}`);
    env.ZENMESH_TEST_PG_SKIP = why;
    return;
  }
  const roles = await admin(
    `select rolname from pg_roles where rolname in ('zenmesh_app', '${PG_OWNER_ROLE}', '${PG_APP_ROLE}')`,
  );
  const have = new Set(roles.rows.map((r) => r.rolname));
  if (!have.has("zenmesh_app")) {
    await ensureRole(
      "create role zenmesh_app nologin nosuperuser nobypassrls nocreatedb nocreaterole noinherit",
    );
  }
  if (!have.has(PG_OWNER_ROLE)) await ensureRole(`create role ${PG_OWNER_ROLE} login nosuperuser`);
  if (!have.has(PG_APP_ROLE)) {
    await ensureRole(`create role ${PG_APP_ROLE} login nosuperuser nobypassrls in role zenmesh_app`);
  }
  const name = `zm_tpl_${fingerprint}`;
  const exists = await admin(`select 1 from pg_database where datname = '${name}' and datistemplate`);
  if (exists.rowCount === 0) {
    const building = `${name}_${process.pid}`;
    await admin(`drop database if exists ${building}`);
    await admin(`create database ${building} owner ${PG_OWNER_ROLE}`);
    const db = await openDatabase(
      {
        kind: "postgres",
        url: pgUrl(PG_OWNER_ROLE, building),
        ownerUrl: pgUrl(PG_OWNER_ROLE, building),
        fence: templateFence,
      },
      template,
    );
    await db.close();
    try {
      await admin(`alter database ${building} rename to ${name}`);
      await admin(`alter database ${name} is_template true`);
    } catch (err) {
      if (!/already exists/.test(String(err))) throw err;
      await admin(`drop database if exists ${building}`);
    }
  }
  env.ZENMESH_TEST_PG_TEMPLATE = name;
}

function findTests(dir: string, out: string[] = [], suffix = ".test.ts"): string[] {
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    if (statSync(p).isDirectory()) findTests(p, out, suffix);
    else if (entry.endsWith(suffix)) out.push(p);
  }
  return out;
}

// The resilience suite is named *.resilience.ts, so the plain run never picks it up.
const resilience = process.argv.includes("--resilience");
const filters = process.argv
  .slice(2)
  .filter((a) => a !== "--resilience")
  .map((a) => resolve(a));
const files = (
  resilience
    ? findTests(join(root, "test", "resilience"), [], ".resilience.ts")
    : ["src", "test"].flatMap((d) => findTests(join(root, d)))
)
  .filter((f) => filters.length === 0 || filters.some((x) => f.startsWith(x)))
  .sort();

await preparePglite();
// The resilience suite runs private database servers of its own.
if (!resilience) await preparePostgres();

if (skipped.length > 0) {
  console.log("Skipped suites (this machine lacks what they need):");
  for (const s of skipped) console.log(`  - ${s}`);
}

// Resilience files load the whole machine (kills, floods, restarts): one at a time, with longer tests.
const runner = resilience
  ? ["--test-concurrency=1", "--test-timeout=300000"]
  : ["--test-concurrency=3", "--test-timeout=120000"];
const result = spawnSync(process.execPath, ["--test", ...runner, "--test-reporter=spec", ...files], {
  stdio: "inherit",
  env: { ...process.env, ...env },
  cwd: root,
});
if (skipped.length > 0) console.log(`\nSkipped: ${skipped.join("; ")}`);
process.exit(result.status ?? 1);
