/**
 * Fail-closed checks for the production profile (ARCHITECTURE.md sections 1
 * and 2): a sealed master key, PostgreSQL over TLS with sslmode=verify-full,
 * Redis over TLS, and a database login role that Row Level Security actually
 * binds. Every problem is reported at once, each naming its setting.
 */
import { ZenError } from "../core/index.ts";
import type { Config, Profile } from "./schema.ts";
import { settingName } from "./settings.ts";
import { isTlsRedisUrl, postgresTlsProblem } from "./urls.ts";

export function assertProductionSafe(config: Config): void {
  if (config.profile !== "production") return;
  const problems: string[] = [];
  if (config.masterKey === undefined && config.masterKeyFile === undefined) {
    problems.push(
      "ZENMESH_MASTER_KEY (masterKey) or ZENMESH_MASTER_KEY_FILE (masterKeyFile): a master key is required; the generated dev key is not used in production",
    );
  }
  if (config.database.url === undefined) {
    problems.push(
      `${settingName("database.url")}: a PostgreSQL URL is required; the embedded PGlite database is for the dev profile only`,
    );
  } else {
    const p = postgresTlsProblem(config.database.url);
    if (p !== undefined) problems.push(`${settingName("database.url")}: ${p}`);
  }
  if (config.database.ownerUrl !== undefined) {
    const p = postgresTlsProblem(config.database.ownerUrl);
    if (p !== undefined) problems.push(`${settingName("database.ownerUrl")}: ${p}`);
  }
  if (config.redis.url !== undefined && !isTlsRedisUrl(config.redis.url)) {
    problems.push(`${settingName("redis.url")}: must use TLS (a rediss:// URL)`);
  }
  if (problems.length > 0) {
    throw new ZenError("CONFIG_INSECURE", {
      message: `Refusing to start: the production profile forbids this configuration:\n  - ${problems.join("\n  - ")}`,
      details: { problems },
    });
  }
}

/** Facts about the database login role, as `OpenedDatabase.inspectRuntimeRole()` reports them. */
export interface RuntimeRoleFacts {
  sessionUser: string;
  superuser: boolean;
  bypassRls: boolean;
  ownedTables: string[];
}

export type RuntimeRoleVerdict = { ok: true } | { ok: false; problems: string[] };

/**
 * Row Level Security does not bind superusers, BYPASSRLS roles or table
 * owners (FORCE RLS aside, an owner can disable it), so in production the
 * login role must be none of those.
 */
export function checkRuntimeRole(report: RuntimeRoleFacts, profile: Profile): RuntimeRoleVerdict {
  if (profile !== "production") return { ok: true };
  const who = `ZENMESH_DATABASE_URL (database.url): login role "${report.sessionUser}"`;
  const problems: string[] = [];
  if (report.sessionUser === "") problems.push(`${who} could not be identified`);
  if (report.superuser) problems.push(`${who} is a superuser; use a NOSUPERUSER role`);
  if (report.bypassRls) problems.push(`${who} has BYPASSRLS; use a NOBYPASSRLS role`);
  if (report.ownedTables.length > 0) {
    const tables = [...report.ownedTables].sort().join(", ");
    problems.push(
      `${who} owns, or can SET ROLE to the owner of, tables (${tables}); connect as a role that does not own the schema`,
    );
  }
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}
