/**
 * What the test run may use. `scripts/test.ts` probes the machine once and
 * passes the answers down in the environment; under CI every suite is
 * required, so a missing service fails the run instead of skipping it.
 */
export const REQUIRE_ALL = process.env.CI === "true" || process.env.ZENMESH_TEST_REQUIRE_ALL === "1";

export const PG_ADMIN_URL = process.env.ZENMESH_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.ZENMESH_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export const PG_TEMPLATE = process.env.ZENMESH_TEST_PG_TEMPLATE ?? "";
export const PGLITE_TEMPLATE = process.env.ZENMESH_TEST_PGLITE_TEMPLATE ?? "";

/** Test login roles (created by the test setup; trust auth on loopback). */
export const PG_OWNER_ROLE = "zm_test_owner";
export const PG_APP_ROLE = "zm_test_app";

export function pgUrl(user: string, database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.username = user;
  u.password = "";
  u.pathname = `/${database}`;
  return u.toString();
}

/** Why PostgreSQL suites are skipped, or undefined when they run. */
export function postgresSkipReason(): string | undefined {
  if (PG_TEMPLATE) return undefined;
  if (REQUIRE_ALL) throw new Error("PostgreSQL is required in CI but the test setup found none");
  return process.env.ZENMESH_TEST_PG_SKIP ?? "PostgreSQL not prepared (run tests through `npm test`)";
}
