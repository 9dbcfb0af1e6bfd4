/**
 * `zenmesh up`: the embedded default. A supervisor (supervisor.ts) starts
 * every role as its own process on loopback, prints each public listener's
 * URL and writes them to `<data-dir>/endpoints.json` for scripts and tests;
 * the internal (mTLS) URLs go to `<data-dir>/run/mesh.json`, and the
 * operator's credentials to `<data-dir>/operator/` (0600), for the CLI.
 * Without a database URL it first starts the embedded PostgreSQL server
 * (src/db/embedded), and stops it after every role.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, type RoleName, redactUrl } from "../config/index.ts";
import { assertNotPglite, type SupervisedServer, superviseEmbeddedServer } from "../db/embedded/index.ts";
import type { BoxKeyPair } from "../deliver/box.ts";
import { createEgressKeyFile, readEgressKeyFile } from "../deliver/egress/key-file.ts";
import { CertificateAuthority } from "../identity/index.ts";
import type { Svid } from "../identity/types.ts";
import type { Logger } from "../log/index.ts";
import { deriveHopKey, deriveMasterHopKey, SYSTEM_HOP_TENANT, systemHopKeyId } from "../mesh/hop-keys.ts";
import { loadMasterKeyRing } from "../zenlock/index.ts";
import { type DataDirLock, lockDataDir } from "./lock.ts";
import { migrateInChild, type SupervisedChild, superviseChild } from "./supervisor.ts";
import { VERSION } from "./version.ts";

export const WORKER_ROLES = ["ingester", "egress", "bff"] as const satisfies readonly RoleName[];
/** The operator's SVID outlives a role's: the CLI reads it from disk between renewals. */
const OPERATOR_TTL_SECONDS = 12 * 3600;

export function endpointsPath(dataDir: string): string {
  return join(dataDir, "endpoints.json");
}

export function meshPath(dataDir: string): string {
  return join(dataDir, "run", "mesh.json");
}

export function operatorDir(dataDir: string): string {
  return join(dataDir, "operator");
}

export interface RunningSystem {
  endpoints: Record<string, string>;
  internal: Partial<Record<RoleName, string>>;
  children: Record<RoleName, SupervisedChild>;
  stop(): Promise<void>;
}

function writePrivate(path: string, text: string): void {
  // Written whole under a temporary name, then renamed: a reader never sees half a key.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function writeOperatorCredentials(dataDir: string, svid: Svid): void {
  const dir = operatorDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  writePrivate(join(dir, "svid.pem"), svid.certChainPem);
  writePrivate(join(dir, "key.pem"), svid.keyPem);
  writePrivate(join(dir, "bundle.pem"), svid.bundlePem);
}

function hopFor(master: Buffer, role: RoleName) {
  return {
    keyId: systemHopKeyId(role),
    key: deriveHopKey(master, SYSTEM_HOP_TENANT, role).toString("base64"),
  };
}

/** The dev profile's egress box key, generated into the data dir on first start (0600). */
export function loadOrCreateEgressKey(config: Config): BoxKeyPair {
  const file = config.deliver.egressKeyFile ?? join(config.dataDir, "egress-box.key");
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    createEgressKeyFile(file);
  }
  return readEgressKeyFile(file);
}

export async function startUp(
  config: Config,
  logger: Logger,
  opts: { args: string[]; out?: (line: string) => void },
): Promise<RunningSystem> {
  const out = opts.out ?? (() => {});
  const embedded = config.database.url === undefined && config.profile === "dev";
  // A 0.1 data dir is refused before anything is written into it.
  if (embedded) assertNotPglite(config.dataDir);
  const lock: DataDirLock = lockDataDir(config.dataDir);
  const started: SupervisedChild[] = [];
  let database: SupervisedServer | undefined;
  let operatorTimer: NodeJS.Timeout | undefined;
  try {
    const masterKeys = loadMasterKeyRing({
      profile: config.profile,
      dataDir: config.dataDir,
      key: config.masterKey,
      keyFile: config.masterKeyFile,
    });
    const ca = await CertificateAuthority.loadOrCreate(config.mesh.caFile, {
      trustDomain: config.mesh.trustDomain,
      masterKeys,
    });
    const hopMaster = deriveMasterHopKey(masterKeys);
    const deps = { config, ca, logger, out };

    // The embedded default: a PostgreSQL server run from the data dir, started before anything
    // opens it and stopped after everything else.
    if (embedded) {
      database = await superviseEmbeddedServer(
        { dataDir: config.dataDir },
        { out, onError: (err) => logger.error({ err }, "the embedded database did not start; retrying") },
      );
    }
    // The schema is migrated by a process of its own, which alone holds the owner connection; the
    // backend then serves with the runtime credentials only.
    await migrateInChild(
      opts.args,
      config.profile,
      database && {
        ZENMESH_DATABASE_URL: database.first.runtimeUrl,
        ZENMESH_DATABASE_OWNER_URL: database.first.ownerUrl,
      },
    );

    let backendOnReady = () => {};
    const box = loadOrCreateEgressKey(config);
    const backend = superviseChild(deps, {
      role: "backend",
      args: opts.args,
      ports: { internal: config.mesh.backendPort, api: config.api.port, metrics: config.metrics.port },
      peers: () => ({}),
      hop: hopFor(hopMaster, "backend"),
      box: { publicKey: box.publicKey.toString("base64url") },
      migrated: true,
      ...(database ? { env: { ZENMESH_DATABASE_URL: database.first.runtimeUrl } } : {}),
      onReady: () => backendOnReady(),
    });
    started.push(backend);
    const backendReady = await backend.firstReady;
    const backendUrl = () => backend.ready?.internal ?? backendReady.internal;

    const portOf: Record<(typeof WORKER_ROLES)[number], number> = {
      ingester: config.mesh.ingesterPort,
      egress: config.mesh.egressPort,
      bff: config.mesh.bffPort,
    };
    // The backend shows sources' ingest URLs and hands deliveries to egress; the ingester hands its
    // fast path to egress: each learns where the others listen, again after any restart.
    let ingestUrl: string | undefined;
    let egressUrl: string | undefined;
    const tellBackend = () => {
      if (ingestUrl || egressUrl) {
        backend.send({
          type: "peers",
          ...(ingestUrl ? { ingestUrl } : {}),
          ...(egressUrl ? { egressUrl } : {}),
        });
      }
    };
    const tellIngester = () => {
      if (egressUrl) workers.find((w) => w.role === "ingester")?.send({ type: "peers", egressUrl });
    };
    // Egress never delivers to the system's own listeners: it hears of every one, as each role starts.
    const tellEgress = () => {
      const urls: string[] = [];
      for (const c of [backend, ...workers]) {
        if (c.ready) urls.push(c.ready.internal, ...Object.values(c.ready.public));
      }
      workers.find((w) => w.role === "egress")?.send({ type: "peers", listeners: urls });
    };
    backendOnReady = () => {
      tellBackend();
      tellEgress();
    };
    const workers: SupervisedChild[] = [];
    for (const role of WORKER_ROLES) {
      const c = superviseChild(deps, {
        role,
        args: opts.args,
        ports:
          role === "ingester"
            ? { internal: portOf[role], ingest: config.ingest.port }
            : { internal: portOf[role] },
        peers: () => ({ backend: backendUrl() }),
        hop: hopFor(hopMaster, role),
        ...(role === "egress" ? { box: { privateKey: box.privateKey.toString("base64url") } } : {}),
        onReady: (msg) => {
          tellEgress();
          if (msg.public.ingest) {
            ingestUrl = msg.public.ingest;
            tellBackend();
            tellIngester();
          }
          if (role === "egress") {
            egressUrl = msg.internal;
            tellBackend();
            tellIngester();
          }
        },
      });
      started.push(c);
      workers.push(c);
    }
    const workerReady = await Promise.all(workers.map((w) => w.firstReady));

    const endpoints = { ...backendReady.public };
    for (const r of workerReady) Object.assign(endpoints, r.public);
    const internal: Partial<Record<RoleName, string>> = { backend: backendReady.internal };
    for (const r of workerReady) internal[r.role] = r.internal;
    writeFileSync(endpointsPath(config.dataDir), `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o644 });
    mkdirSync(join(config.dataDir, "run"), { recursive: true, mode: 0o700 });
    writePrivate(
      meshPath(config.dataDir),
      `${JSON.stringify({ trustDomain: config.mesh.trustDomain, internal }, null, 2)}\n`,
    );

    const renewOperator = async () => {
      const svid = await ca.issueSvid({ path: "operator", ttlSeconds: OPERATOR_TTL_SECONDS });
      writeOperatorCredentials(config.dataDir, svid);
      operatorTimer = setTimeout(
        () => {
          renewOperator().catch((err: unknown) =>
            logger.error({ err }, "could not renew the operator credentials"),
          );
        },
        (OPERATOR_TTL_SECONDS * 1000) / 2,
      );
      operatorTimer.unref();
    };
    await renewOperator();

    const children = Object.fromEntries(started.map((c) => [c.role, c])) as Record<RoleName, SupervisedChild>;
    return {
      endpoints,
      internal,
      children,
      async stop() {
        clearTimeout(operatorTimer);
        // Workers first: they talk to the backend until they are gone.
        await Promise.all(workers.map((w) => w.stop()));
        await backend.stop();
        await database?.stop();
        rmSync(endpointsPath(config.dataDir), { force: true });
        rmSync(meshPath(config.dataDir), { force: true });
        lock.release();
      },
    };
  } catch (err) {
    clearTimeout(operatorTimer);
    await Promise.all(started.map((c) => c.stop()));
    await database?.stop();
    lock.release();
    throw err;
  }
}

/** The database the system runs on, for the start-up banner: an external URL without its password. */
export function databaseInUse(config: Config): string {
  return config.database.url === undefined
    ? `embedded PostgreSQL server in ${join(config.dataDir, "pg")}`
    : `external PostgreSQL at ${redactUrl(config.database.url)}`;
}

/** Runs until SIGINT/SIGTERM; a second signal exits at once. */
export async function runUp(
  config: Config,
  logger: Logger,
  args: string[],
  out: (line: string) => void,
): Promise<void> {
  const t0 = Date.now();
  out(
    `zenmesh ${VERSION} up on Node ${process.version} (profile ${config.profile}, data dir ${config.dataDir})`,
  );
  out(`  database   ${databaseInUse(config)}`);
  const system = await startUp(config, logger, { args, out });
  for (const [name, url] of Object.entries(system.endpoints)) out(`  ${name.padEnd(10)} ${url}`);
  out(`ready in ${Date.now() - t0} ms; endpoints in ${endpointsPath(config.dataDir)}; Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      out(`${signal}: stopping`);
      system.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        resolve();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
