/**
 * The `zenmesh` command line. Operator commands that change an embedded
 * installation go through the running system's operator socket when
 * `zenmesh up` holds the data dir, and straight to the database otherwise.
 */
import { randomBytes } from "node:crypto";
import { type Config, loadConfig, type RoleName } from "../config/index.ts";
import { isZenError, ZenError } from "../core/index.ts";
import { createLogger } from "../log/index.ts";
import { lockDataDir, lockHolder } from "../roles/lock.ts";
import { VERSION } from "../roles/version.ts";
import type { ProjectQuotas, QuotaOverrides, QuotaReport } from "../tenancy/index.ts";
import { splitFlags } from "./args.ts";
import type { OperatorRequest } from "./operations.ts";

// Each command loads only what it needs: a role process should not carry the database
// drivers, the HTTP framework and the CA of every other role in its memory.
const services = () => import("../roles/services.ts");
const operations = () => import("./operations.ts");

const HELP = `zenmesh ${VERSION} — zero-trust, multi-tenant webhook gateway

Usage: zenmesh <command> [options]

Commands:
  up                          Start the whole system on loopback (embedded default): a supervisor
                              runs backend, ingester, egress and bff as processes joined by mTLS
  serve <role>                Run one role (backend|ingester|egress|bff), production profile
  ca init                     Create the built-in CA (sealed with the master key) for production
  egress-key create --out FILE
                              Egress's private box key (0600) for production; prints the public key
                              the backend seals destination secrets with (ZENMESH_EGRESS_PUBLIC_KEY)
  join-token create --workload ROLE [--ttl SECONDS] [--json]
                              A one-time token a production role joins the mesh with
  status                      The running system's roles and their last heartbeats
  migrate                     Apply database migrations (owner connection, master key)
  tenant create --name NAME   Create a tenant, its first project and an API key (shown once)
      [--json]
  user create --email EMAIL   Create a user (password from stdin with --password-stdin,
      [--tenant-id TNT] [--role owner|admin|developer|viewer] [--password-stdin] [--json]
                              else generated and shown once) and optionally grant a role
  user grant --email EMAIL --tenant-id TNT --role ROLE
                              Give an existing user a role (a tenant keeps at least one owner)
  quota show --tenant-id TNT --project-id PRJ [--json]
                              A project's limits in force (configured default or its own) and usage
  quota set --tenant-id TNT --project-id PRJ [--sources N] [--destinations N]
      [--subscriptions N] [--api-keys N] [--rotations-per-day N] [--json]
                              Set the project's own limits (N, or "default" to go back to the
                              configured one); audited in the tenant's chain
  source test --source-id SRC [--project-id PRJ] [--api-url URL] [--json]
                              Send the provider's sample event, signed with the source's current
                              secret, through its ingest URL (API key in ZENMESH_API_KEY)
  audit verify [--tenant-id TNT] [--json]
                              Verify a tenant's audit chain (the system chain without --tenant-id)
  version                     Print the version

Configuration options (also ZENMESH_* environment variables and --config FILE):
  --profile dev|production  --data-dir DIR  --api-host HOST  --api-port PORT (0 = any free)
  --database-url URL  --log-level LEVEL
See docs/configuration.md for every setting.
`;

/** `zenmesh quota set` flags and the quota each sets. */
const QUOTA_FLAGS: Readonly<Record<string, keyof ProjectQuotas>> = {
  sources: "sources",
  destinations: "destinations",
  subscriptions: "subscriptions",
  "api-keys": "apiKeys",
  "rotations-per-day": "rotationsPerDay",
};

const out = (line: string) => process.stdout.write(`${line}\n`);

function config(rest: string[]): Config {
  return loadConfig({ argv: rest, env: process.env });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

function isRoleName(v: unknown): v is RoleName {
  return v === "backend" || v === "ingester" || v === "egress" || v === "bff";
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}

/**
 * The dev profile without a database URL has the embedded server: a command that opens the data
 * dir itself (nothing runs there; the caller holds its lock) starts it for its own duration and
 * connects with its URLs. Production never gets one: it refuses a missing database.url.
 */
async function withDatabase<T>(cfg: Config, fn: (cfg: Config) => Promise<T>): Promise<T> {
  if (cfg.database.url !== undefined || cfg.profile !== "dev") return fn(cfg);
  const { startEmbeddedServer } = await import("../db/embedded/index.ts");
  const server = await startEmbeddedServer({ dataDir: cfg.dataDir });
  try {
    return await fn(
      Object.freeze({
        ...cfg,
        database: Object.freeze({ ...cfg.database, url: server.runtimeUrl, ownerUrl: server.ownerUrl }),
      }),
    );
  } finally {
    await server.stop();
  }
}

/** Runs an operator action against a running system, or directly when none holds the data dir. */
async function operate(cfg: Config, op: OperatorRequest): Promise<unknown> {
  if (lockHolder(cfg.dataDir) !== undefined) {
    const { callOperator } = await import("../roles/operator-client.ts");
    return callOperator(cfg.dataDir, op);
  }
  const { openServices } = await services();
  const { runOperation } = await operations();
  const lock = cfg.database.url ? undefined : lockDataDir(cfg.dataDir);
  try {
    return await withDatabase(cfg, async (opened) => {
      const svc = await openServices(opened);
      try {
        return await runOperation(svc, op);
      } finally {
        await svc.close();
      }
    });
  } finally {
    lock?.release();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  switch (command) {
    case undefined:
    case "help":
    case "--help":
    case "-h":
      out(HELP);
      return 0;
    case "version":
    case "--version":
      splitFlags(argv.slice(1), { own: {} }, "version");
      if (argv.length > 1)
        throw new ZenError("UNKNOWN_FLAG", { message: "`zenmesh version` takes no options" });
      out(VERSION);
      return 0;
    case "up": {
      const cfg = config(splitFlags(argv.slice(1), { own: {} }, "up").rest);
      const { runUp } = await import("../roles/up.ts");
      await runUp(cfg, createLogger({ level: cfg.log.level, name: "zenmesh" }), argv.slice(1), out);
      return 0;
    }
    case "serve": {
      if (!isRoleName(sub)) {
        throw new ZenError("VALIDATION_FAILED", {
          message: "usage: zenmesh serve backend|ingester|egress|bff",
        });
      }
      const { flags, rest: cfgArgs } = splitFlags(rest, { own: { supervised: false } }, `serve ${sub}`);
      const supervised = flags.has("supervised");
      const cfg = loadConfig({
        argv: cfgArgs,
        env: supervised ? process.env : { ZENMESH_PROFILE: "production", ...process.env },
      });
      const logger = createLogger({ level: cfg.log.level, name: sub });
      const { serveProduction, serveSupervised } = await import("../roles/serve.ts");
      const running = supervised
        ? await serveSupervised(sub, cfg, logger)
        : await serveProduction(sub, cfg, logger);
      if (!supervised) {
        out(`zenmesh ${VERSION} ${sub} on Node ${process.version}: internal ${running.internalUrl}`);
        for (const [name, url] of Object.entries(running.publicUrls)) out(`  ${name.padEnd(10)} ${url}`);
      }
      await untilSignal();
      await running.close();
      // Closed cleanly: nothing left to wait for, though the IPC channel (and, in production, an
      // identity stream) would keep the process alive until the supervisor's grace ran out.
      setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
      return 0;
    }
    case "ca": {
      if (sub !== "init") throw new ZenError("VALIDATION_FAILED", { message: "usage: zenmesh ca init" });
      const cfg = config(splitFlags(rest, { own: {} }, "ca init").rest);
      const { initCa } = await operations();
      const ca = await initCa(cfg);
      out(`CA for ${cfg.mesh.trustDomain} in ${cfg.mesh.caFile}; its trust bundle:`);
      out(ca.bundlePem().trimEnd());
      return 0;
    }
    case "egress-key": {
      const { flags, rest: extra } = splitFlags(
        rest,
        { own: { out: true, json: false } },
        "egress-key create",
      );
      // It reads no configuration: whatever else is given is a mistake, not a setting to ignore.
      if (extra.length > 0)
        throw new ZenError("UNKNOWN_FLAG", {
          message: `\`zenmesh egress-key create\` takes only --out and --json`,
        });
      const file = flags.get("out");
      if (sub !== "create" || typeof file !== "string") {
        throw new ZenError("VALIDATION_FAILED", { message: "usage: zenmesh egress-key create --out FILE" });
      }
      const { createEgressKeyFile } = await import("../deliver/egress/key-file.ts");
      const key = createEgressKeyFile(file);
      out(
        flags.has("json")
          ? JSON.stringify({ public_key: key.publicKey, key_id: key.keyId })
          : `egress key ${key.keyId} in ${file}; give the backend ZENMESH_EGRESS_PUBLIC_KEY=${key.publicKey}`,
      );
      return 0;
    }
    case "join-token": {
      if (sub !== "create") {
        throw new ZenError("VALIDATION_FAILED", { message: "usage: zenmesh join-token create --workload W" });
      }
      const { flags, rest: cfgArgs } = splitFlags(
        rest,
        { own: { workload: true, ttl: true, json: false } },
        "join-token create",
      );
      const workload = flags.get("workload");
      if (typeof workload !== "string")
        throw new ZenError("VALIDATION_FAILED", { message: "--workload is required" });
      const ttl = flags.get("ttl");
      const r = (await operate(config(cfgArgs), {
        op: "join_token.create",
        workload,
        ...(typeof ttl === "string" ? { ttlSeconds: Number(ttl) } : {}),
      })) as { token: string; expires_at: string };
      out(
        flags.has("json") ? JSON.stringify(r) : `join token (single use, until ${r.expires_at}):\n${r.token}`,
      );
      return 0;
    }
    case "status": {
      const cfg = config(splitFlags(argv.slice(1), { own: {} }, "status").rest);
      out(JSON.stringify(await operate(cfg, { op: "status" }), null, 2));
      return 0;
    }
    case "migrate": {
      const cfg = config(splitFlags(argv.slice(1), { own: {} }, "migrate").rest);
      const lock = cfg.database.url ? undefined : lockDataDir(cfg.dataDir);
      try {
        const { migrateDatabase } = await services();
        await withDatabase(cfg, migrateDatabase);
      } finally {
        lock?.release();
      }
      out("migrations applied");
      return 0;
    }
    case "tenant": {
      if (sub !== "create")
        throw new ZenError("VALIDATION_FAILED", { message: "usage: zenmesh tenant create --name NAME" });
      const { flags, rest: cfgArgs } = splitFlags(
        rest,
        { own: { name: true, json: false } },
        "tenant create",
      );
      const name = flags.get("name");
      if (typeof name !== "string" || name.trim() === "") {
        throw new ZenError("VALIDATION_FAILED", { message: "--name is required" });
      }
      const r = (await operate(config(cfgArgs), { op: "tenant.create", name: name.trim() })) as Record<
        string,
        string
      >;
      if (flags.has("json")) out(JSON.stringify(r));
      else {
        out(`tenant   ${r.tenant_id}\nproject  ${r.project_id}\napi key  ${r.api_key}`);
        out("The API key is shown once: store it now.");
      }
      return 0;
    }
    case "quota": {
      if (sub !== "show" && sub !== "set") {
        throw new ZenError("VALIDATION_FAILED", {
          message: "usage: zenmesh quota show|set --tenant-id TNT --project-id PRJ",
        });
      }
      const own: Record<string, boolean> = { "tenant-id": true, "project-id": true, json: false };
      if (sub === "set") for (const flag of Object.keys(QUOTA_FLAGS)) own[flag] = true;
      const { flags, rest: cfgArgs } = splitFlags(rest, { own });
      const [tenantId, projectId] = [flags.get("tenant-id"), flags.get("project-id")];
      if (typeof tenantId !== "string" || typeof projectId !== "string") {
        throw new ZenError("VALIDATION_FAILED", { message: "--tenant-id and --project-id are required" });
      }
      let r: unknown;
      if (sub === "show") r = await operate(config(cfgArgs), { op: "quota.show", tenantId, projectId });
      else {
        const set: QuotaOverrides = {};
        for (const [flag, quota] of Object.entries(QUOTA_FLAGS)) {
          const v = flags.get(flag);
          if (typeof v !== "string") continue;
          if (v === "default") set[quota] = null;
          else if (/^\d{1,7}$/.test(v)) set[quota] = Number(v);
          else
            throw new ZenError("VALIDATION_FAILED", {
              message: `--${flag} takes a whole number or "default"`,
            });
        }
        if (Object.keys(set).length === 0) {
          throw new ZenError("VALIDATION_FAILED", {
            message: `name a quota to set: ${Object.keys(QUOTA_FLAGS)
              .map((f) => `--${f}`)
              .join(", ")}`,
          });
        }
        r = await operate(config(cfgArgs), { op: "quota.set", tenantId, projectId, set });
      }
      if (flags.has("json")) out(JSON.stringify(r));
      else {
        for (const q of r as QuotaReport[]) {
          const used = q.used === null ? "" : `, ${q.used} used`;
          out(`${q.quota.padEnd(16)} ${String(q.limit).padStart(7)} (${q.origin}${used})`);
        }
      }
      return 0;
    }
    case "user": {
      if (sub === "grant") {
        const { flags, rest: cfgArgs } = splitFlags(
          rest,
          { own: { email: true, "tenant-id": true, role: true, json: false } },
          "user grant",
        );
        const [email, tenantId, role] = [flags.get("email"), flags.get("tenant-id"), flags.get("role")];
        if (typeof email !== "string" || typeof tenantId !== "string" || typeof role !== "string") {
          throw new ZenError("VALIDATION_FAILED", {
            message: "--email, --tenant-id and --role are required",
          });
        }
        const r = await operate(config(cfgArgs), { op: "user.grant", email, tenantId, role });
        out(flags.has("json") ? JSON.stringify(r) : `granted: ${JSON.stringify(r)}`);
        return 0;
      }
      if (sub !== "create")
        throw new ZenError("VALIDATION_FAILED", { message: "usage: zenmesh user create --email EMAIL" });
      const { flags, rest: cfgArgs } = splitFlags(
        rest,
        { own: { email: true, "tenant-id": true, role: true, "password-stdin": false, json: false } },
        "user create",
      );
      const email = flags.get("email");
      if (typeof email !== "string")
        throw new ZenError("VALIDATION_FAILED", { message: "--email is required" });
      const generated = !flags.has("password-stdin");
      const password = generated ? randomBytes(18).toString("base64url") : await readStdin();
      const tenantId = flags.get("tenant-id");
      const role = flags.get("role");
      const r = await operate(config(cfgArgs), {
        op: "user.create",
        email,
        password,
        ...(typeof tenantId === "string" ? { tenantId } : {}),
        ...(typeof role === "string" ? { role } : {}),
      });
      const shown = generated ? { ...(r as object), password } : r;
      if (flags.has("json")) out(JSON.stringify(shown));
      else {
        for (const [k, v] of Object.entries(shown as Record<string, unknown>))
          out(`${k.padEnd(9)} ${String(v)}`);
        if (generated) out("The password is shown once: store it now.");
      }
      return 0;
    }
    case "source": {
      if (sub !== "test") {
        throw new ZenError("VALIDATION_FAILED", { message: "usage: zenmesh source test --source-id SRC" });
      }
      const { flags, rest: cfgArgs } = splitFlags(
        rest,
        { own: { "source-id": true, "project-id": true, "api-url": true, json: false } },
        "source test",
      );
      const sourceId = flags.get("source-id");
      if (typeof sourceId !== "string")
        throw new ZenError("VALIDATION_FAILED", { message: "--source-id is required" });
      const apiUrl = flags.get("api-url");
      const projectId = flags.get("project-id");
      const { testSource } = await import("./api-client.ts");
      const r = await testSource({
        cfg: config(cfgArgs),
        env: process.env,
        sourceId,
        ...(typeof apiUrl === "string" ? { apiUrl } : {}),
        ...(typeof projectId === "string" ? { projectId } : {}),
      });
      out(
        flags.has("json")
          ? JSON.stringify(r)
          : `test event ${r.event_id} accepted by ${r.ingest_url}${r.duplicate ? " (a duplicate of an earlier one)" : ""}`,
      );
      return 0;
    }
    case "audit": {
      if (sub !== "verify")
        throw new ZenError("VALIDATION_FAILED", { message: "usage: zenmesh audit verify" });
      const { flags, rest: cfgArgs } = splitFlags(
        rest,
        { own: { "tenant-id": true, json: false } },
        "audit verify",
      );
      const tenantId = flags.get("tenant-id");
      const r = (await operate(config(cfgArgs), {
        op: "audit.verify",
        tenantId: typeof tenantId === "string" ? tenantId : null,
      })) as { ok: boolean };
      out(
        flags.has("json")
          ? JSON.stringify(r)
          : r.ok
            ? `audit chain verifies: ${JSON.stringify(r)}`
            : `AUDIT CHAIN BROKEN: ${JSON.stringify(r)}`,
      );
      return r.ok ? 0 : 3;
    }
    default:
      process.stderr.write(`zenmesh: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (isZenError(err)) {
    process.stderr.write(`zenmesh: ${err.code}: ${err.message}\n`);
    process.exitCode = err.code.startsWith("CONFIG_") ? 2 : 1;
  } else {
    process.stderr.write(`zenmesh: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  }
  // A command that failed is done: a role whose start failed must exit so its supervisor restarts it,
  // though the IPC channel (or a half-opened connection) would keep it alive.
  setTimeout(() => process.exit(), 50).unref();
}
