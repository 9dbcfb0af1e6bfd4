/**
 * Fail-closed checks for the production profile (ARCHITECTURE.md sections 1
 * and 2): a sealed master key, PostgreSQL over TLS with sslmode=verify-full,
 * Redis over TLS, and a database login role that Row Level Security actually
 * binds. Every problem is reported at once, each naming its setting.
 */
import { existsSync } from "node:fs";
import { ZenError } from "../core/index.ts";
import { type Config, isLoopback, type Profile } from "./schema.ts";
import { settingName } from "./settings.ts";
import { isTlsRedisUrl, postgresTlsProblem } from "./urls.ts";

/** The process roles; only the backend holds database, Redis and master-key credentials. */
export type RoleName = "backend" | "ingester" | "egress" | "bff";

/** Identity material for a role in production: one complete source is required. */
function identityProblems(config: Config, role: RoleName): string[] {
  const m = config.mesh;
  const files = [m.certFile, m.keyFile, m.bundleFile].filter((f) => f !== undefined).length;
  if (m.spireSocket !== undefined) return [];
  if (files === 3) return [];
  if (files > 0 && m.joinToken === undefined) {
    return [
      `${settingName("mesh.certFile")}, ${settingName("mesh.keyFile")} and ${settingName("mesh.bundleFile")}: give all three, or none`,
    ];
  }
  if (role === "backend") {
    // The backend signs identities with the built-in CA; its sealed state must already exist.
    return existsSync(m.caFile)
      ? []
      : [
          `${settingName("mesh.caFile")}: no mTLS material — the built-in CA state ${m.caFile} does not exist (run \`zenmesh ca init\`), and neither ${settingName("mesh.spireSocket")} nor certificate files are set`,
        ];
  }
  if (m.joinToken !== undefined) {
    const p: string[] = [];
    if (m.bundleFile === undefined)
      p.push(
        `${settingName("mesh.bundleFile")}: a join token needs the trust bundle to check the backend with`,
      );
    if (m.joinUrl === undefined)
      p.push(`${settingName("mesh.joinUrl")}: a join token needs the backend's join URL`);
    return p;
  }
  return [
    `no mTLS material for the ${role} role: set ${settingName("mesh.spireSocket")}, or ${settingName("mesh.certFile")} + ${settingName("mesh.keyFile")} + ${settingName("mesh.bundleFile")}, or ${settingName("mesh.joinToken")} + ${settingName("mesh.joinUrl")} + ${settingName("mesh.bundleFile")}`,
  ];
}

/**
 * `serving`: the process is `serve <role>` (not an operator command or the
 * migration step). A serving backend holds the runtime credentials only, so
 * it refuses the owner connection: `zenmesh migrate` runs before it, apart.
 */
export function assertProductionSafe(
  config: Config,
  role: RoleName = "backend",
  opts: { serving?: boolean } = {},
): void {
  if (config.profile !== "production") return;
  const problems: string[] = [...identityProblems(config, role)];
  if (role !== "backend") {
    // Only the backend holds data-store credentials; a role that is handed them refuses.
    for (const [path, set] of [
      ["database.url", config.database.url],
      ["database.ownerUrl", config.database.ownerUrl],
      ["redis.url", config.redis.url],
      ["masterKey", config.masterKey],
      ["masterKeyFile", config.masterKeyFile],
    ] as const) {
      if (set !== undefined)
        problems.push(`${settingName(path)}: the ${role} role must not hold this credential`);
    }
    if (
      role === "ingester" &&
      (config.ingest.tlsCertFile === undefined || config.ingest.tlsKeyFile === undefined)
    ) {
      problems.push(
        `${settingName("ingest.tlsCertFile")} and ${settingName("ingest.tlsKeyFile")}: the public ingest listener serves HTTPS in production`,
      );
    }
    if (role === "egress" && config.deliver.egressKeyFile === undefined) {
      problems.push(
        `${settingName("deliver.egressKeyFile")}: egress needs its private box key to open destination secrets (create one with \`zenmesh egress-key create\`)`,
      );
    }
    if (config.mesh.backendUrl === undefined) {
      problems.push(
        `${settingName("mesh.backendUrl")}: the ${role} role needs the backend's internal https:// URL`,
      );
    }
    if (problems.length > 0) refuse(problems);
    return;
  }
  if (config.masterKey === undefined && config.masterKeyFile === undefined) {
    problems.push(
      "ZENMESH_MASTER_KEY (masterKey) or ZENMESH_MASTER_KEY_FILE (masterKeyFile): a master key is required; the generated dev key is not used in production",
    );
  }
  if (config.deliver.egressPublicKey === undefined) {
    problems.push(
      `${settingName("deliver.egressPublicKey")}: the backend seals destination secrets to egress's public box key`,
    );
  }
  if (config.deliver.egressUrl === undefined) {
    problems.push(
      `${settingName("deliver.egressUrl")}: the backend hands deliveries to egress at this https:// URL`,
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
    if (opts.serving === true) {
      problems.push(
        `${settingName("database.ownerUrl")}: the serving backend holds the runtime connection only; run \`zenmesh migrate\` with the owner connection before starting it, and start it without`,
      );
    }
  }
  if (config.redis.url !== undefined && !isTlsRedisUrl(config.redis.url)) {
    problems.push(`${settingName("redis.url")}: must use TLS (a rediss:// URL)`);
  }
  if (
    config.metrics.enabled &&
    !isLoopback(config.metrics.host) &&
    config.metrics.tlsCertFile === undefined
  ) {
    problems.push(
      `${settingName("metrics.tlsCertFile")} and ${settingName("metrics.tlsKeyFile")}: a metrics listener off loopback (${settingName("metrics.host")}) serves HTTPS in production`,
    );
  }
  if (problems.length > 0) refuse(problems);
}

/** `zenmesh migrate` in production: verified TLS to the database, and nothing else (no master key). */
export function assertMigrationSafe(config: Config): void {
  if (config.profile !== "production") return;
  const problems: string[] = [];
  if (config.database.url === undefined) {
    problems.push(`${settingName("database.url")}: a PostgreSQL URL is required`);
  }
  for (const path of ["database.url", "database.ownerUrl"] as const) {
    const url = path === "database.url" ? config.database.url : config.database.ownerUrl;
    const p = url === undefined ? undefined : postgresTlsProblem(url);
    if (p !== undefined) problems.push(`${settingName(path)}: ${p}`);
  }
  if (problems.length > 0) refuse(problems);
}

function refuse(problems: string[]): never {
  throw new ZenError("CONFIG_INSECURE", {
    message: `Refusing to start: the production profile forbids this configuration:\n  - ${problems.join("\n  - ")}`,
    details: { problems },
  });
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
  const problems = runtimeRoleProblems(report);
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}

/** What makes the login role unfenced by Row Level Security; empty when nothing does. */
export function runtimeRoleProblems(report: RuntimeRoleFacts): string[] {
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
  return problems;
}

/**
 * The dev profile starts on such a role (a laptop's `postgres` login is the
 * common case), but says so: what the production profile would refuse, as
 * warnings for the start-up log.
 */
export function runtimeRoleWarnings(report: RuntimeRoleFacts, profile: Profile): string[] {
  if (profile === "production") return [];
  return runtimeRoleProblems(report).map(
    (p) =>
      `dev profile on an external PostgreSQL: ${p}. Row Level Security does not bind this login, so tenants are kept apart by the application alone; the production profile refuses to start like this`,
  );
}
