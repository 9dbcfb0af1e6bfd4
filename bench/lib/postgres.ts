/**
 * A database of the bench's own on the local PostgreSQL (user postgres,
 * trust auth on loopback): created fresh for a run, dropped after it, also
 * on failure. No other database is touched.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { onCleanup } from "./cleanup.ts";

export const PG_ADMIN_URL = process.env.ZENMESH_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.ZENMESH_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function postgresReachable(): Promise<string | undefined> {
  try {
    await admin("select 1");
    return undefined;
  } catch (err) {
    return `PostgreSQL unreachable at ${new URL(PG_ADMIN_URL).host}: ${(err as Error).message}`;
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `zm_bench_${Date.now()}_${randomBytes(3).toString("hex")}`;
  if (!/^zm_bench_\d+_[0-9a-f]{6}$/.test(name)) throw new Error("unexpected database name");
  await admin(`create database "${name}"`);
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    forget();
    await admin(`drop database if exists "${name}" with (force)`);
  };
  const forget = onCleanup(`database ${name}`, drop);
  return { name, url: u.toString(), drop };
}
