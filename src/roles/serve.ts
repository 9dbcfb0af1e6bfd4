/**
 * One role as one process: `zenmesh serve <role>`. Under the `up` supervisor
 * (`--supervised`) the identity, hop key and peers arrive over IPC; in
 * production they come from SPIRE, certificate files, a join token, or (for
 * the backend) the built-in CA.
 */
import { readFileSync } from "node:fs";
import type { Config, RoleName } from "../config/index.ts";
import { assertProductionSafe } from "../config/index.ts";
import { ZenError } from "../core/index.ts";
import { type BoxKeyPair, boxKeyPairFromPrivate, decodeBoxPublicKey } from "../deliver/box.ts";
import { readEgressKeyFile } from "../deliver/egress/key-file.ts";
import {
  CertificateAuthority,
  createKeyAndCsr,
  createRenewingIdentity,
  createSpireIdentitySource,
} from "../identity/index.ts";
import type { IdentitySource } from "../identity/types.ts";
import type { Logger } from "../log/index.ts";
import { createInternalClient } from "../mesh/index.ts";
import { loadMasterKeyRing } from "../zenlock/index.ts";
import { createFileIdentity } from "./file-identity.ts";
import { joinWithToken, svidFromChain } from "./join.ts";
import { createPeerUrl, type PeerUrl } from "./peer-url.ts";
import { createPushedIdentity } from "./pushed-identity.ts";
import { createSystemListeners, type SystemListeners } from "./system-listeners.ts";
import { type BootMessage, fromWire, type ReadyMessage, type ToChild } from "./wire.ts";

export interface RunningRole {
  internalUrl: string;
  publicUrls: Record<string, string>;
  close(): Promise<void>;
}

function waitForBoot(): Promise<BootMessage> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(
        new ZenError("CONFIG_INVALID", { message: "--supervised is for processes started by `zenmesh up`" }),
      );
      return;
    }
    const timer = setTimeout(
      () => reject(new ZenError("UNAVAILABLE", { message: "no boot message" })),
      30_000,
    );
    process.once("message", (m) => {
      clearTimeout(timer);
      const msg = m as ToChild;
      if (msg?.type === "boot") resolve(msg);
      else reject(new ZenError("INTERNAL", { message: "unexpected first message from the supervisor" }));
    });
  });
}

/** The configuration of a backend that serves without migrating: no owner connection in it. */
export function withoutOwnerConnection(config: Config): Config {
  return Object.freeze({ ...config, database: Object.freeze({ ...config.database, ownerUrl: undefined }) });
}

/** Under `zenmesh up`: identity and keys from the supervisor, renewed over IPC. */
export async function serveSupervised(role: RoleName, config: Config, logger: Logger): Promise<RunningRole> {
  const boot = await waitForBoot();
  if (boot.role !== role) throw new ZenError("INTERNAL", { message: "the supervisor booted another role" });
  // Migrated already: whatever a config file says, this process keeps no owner connection.
  if (boot.migrated) config = withoutOwnerConnection(config);
  const identity = createPushedIdentity(fromWire(boot.identity));
  const ingest = { url: defaultIngestUrl(config) };
  const egress = createPeerUrl(config.deliver.egressUrl);
  const listeners = role === "egress" ? createSystemListeners(config) : undefined;
  process.on("message", (m) => {
    const msg = m as ToChild;
    if (msg?.type === "identity") identity.push(fromWire(msg.identity));
    if (msg?.type === "peers") {
      // An operator-set public URL wins over where the ingester happens to listen.
      if (msg.ingestUrl && config.ingest.publicUrl === undefined) ingest.url = msg.ingestUrl;
      if (msg.egressUrl) egress.set(msg.egressUrl);
      if (msg.listeners) listeners?.report(msg.listeners);
    }
  });
  // The supervisor is gone: a role never outlives it.
  process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));
  const running = await startRole(role, config, logger, {
    identity,
    hop: { keyId: boot.hop.keyId, key: Buffer.from(boot.hop.key, "base64") },
    backendUrl: boot.peers.backend,
    internalPort: boot.ports.internal,
    apiPort: boot.ports.api ?? config.api.port,
    metricsPort: boot.ports.metrics ?? config.metrics.port,
    ingestPort: boot.ports.ingest,
    ingestBaseUrl: () => ingest.url,
    egressUrl: egress,
    systemListeners: listeners,
    migrate: !boot.migrated,
    ...(boot.box?.publicKey ? { egressBoxPublicKey: Buffer.from(boot.box.publicKey, "base64url") } : {}),
    ...(boot.box?.privateKey
      ? { egressBox: boxKeyPairFromPrivate(Buffer.from(boot.box.privateKey, "base64url")) }
      : {}),
  });
  const ready: ReadyMessage = {
    type: "ready",
    role,
    internal: running.internalUrl,
    public: running.publicUrls,
  };
  process.send?.(ready);
  return running;
}

interface RoleWiring {
  identity: IdentitySource;
  /** The built-in CA, when this backend issues identities itself (production). */
  ca?: CertificateAuthority | undefined;
  hop?: { keyId: string; key: Buffer };
  backendUrl?: string | undefined;
  internalPort: number;
  apiPort: number;
  metricsPort?: number | undefined;
  ingestPort?: number | undefined;
  ingestBaseUrl: () => string;
  /** Where egress listens, as soon as it is known (backend and ingester). */
  egressUrl: PeerUrl;
  /** The backend seals destination secrets to this. */
  egressBoxPublicKey?: Buffer | undefined;
  /** Egress opens them with this. */
  egressBox?: BoxKeyPair | undefined;
  /** zenmesh's own listeners (egress); default: those the configuration names. */
  systemListeners?: SystemListeners | undefined;
  /** The backend: false when the migrations already ran (it then only checks the schema is current). */
  migrate?: boolean;
}

/**
 * The base of the `ingest_url` sources show, unless the operator sets one. A
 * production backend holds no ingest certificate of its own, yet every
 * production ingester serves HTTPS (it refuses to start otherwise), so the
 * scheme follows the profile there, not the backend's own settings.
 */
export function defaultIngestUrl(config: Config): string {
  if (config.ingest.publicUrl) return config.ingest.publicUrl;
  const scheme = config.ingest.tlsCertFile || config.profile === "production" ? "https" : "http";
  return `${scheme}://${config.ingest.host}:${config.ingest.port}`;
}

function internalPortOf(role: RoleName, config: Config): number {
  switch (role) {
    case "backend":
      return config.mesh.backendPort;
    case "ingester":
      return config.mesh.ingesterPort;
    case "egress":
      return config.mesh.egressPort;
    case "bff":
      return config.mesh.bffPort;
    default: {
      const never: never = role;
      throw new Error(`unknown role ${String(never)}`);
    }
  }
}

async function startRole(
  role: RoleName,
  config: Config,
  logger: Logger,
  w: RoleWiring,
): Promise<RunningRole> {
  if (role === "backend") {
    // A role loads only its own code: the database drivers and the API stay out of the workers.
    const { startBackend } = await import("./backend.ts");
    const b = await startBackend(config, logger, {
      identity: w.identity,
      apiPort: w.apiPort,
      metricsPort: w.metricsPort,
      internalPort: w.internalPort,
      ca: w.ca,
      ingestBaseUrl: w.ingestBaseUrl,
      egressUrl: w.egressUrl,
      egressBoxPublicKey: w.egressBoxPublicKey,
      ...(w.migrate === false ? { migrate: false } : {}),
    });
    return { internalUrl: b.internalUrl, publicUrls: b.publicUrls, close: () => b.close() };
  }
  if (!w.backendUrl)
    throw new ZenError("CONFIG_INVALID", { message: `the ${role} role needs the backend's URL` });
  const hop = w.hop ?? (await fetchHopKey(config, w.identity, w.backendUrl));
  const { startWorker } = await import("./worker.ts");
  const worker = await startWorker({
    role,
    config,
    logger,
    identity: w.identity,
    hop,
    backendUrl: w.backendUrl,
    internalPort: w.internalPort,
    ingestPort: w.ingestPort,
    egressUrl: w.egressUrl,
    egressBox: w.egressBox,
    systemListeners: w.systemListeners,
  });
  return { internalUrl: worker.internalUrl, publicUrls: worker.publicUrls, close: () => worker.close() };
}

/** In production a role obtains its own hop key from the backend, over mTLS. */
async function fetchHopKey(config: Config, identity: IdentitySource, backendUrl: string) {
  const client = createInternalClient({
    identity,
    trustDomain: config.mesh.trustDomain,
    baseUrl: backendUrl,
    expectServer: `spiffe://${config.mesh.trustDomain}/backend`,
  });
  try {
    const r = await client.request("GET", "/internal/hop-key");
    if (r.status !== 200)
      throw new ZenError("UNAVAILABLE", { message: `the backend refused the hop key (${r.status})` });
    const body = r.json<{ key_id: string; key: string }>();
    return { keyId: body.key_id, key: Buffer.from(body.key, "base64") };
  } finally {
    await client.close();
  }
}

/** Production: one role per process, identity from SPIRE, files, a join token or the built-in CA. */
export async function serveProduction(role: RoleName, config: Config, logger: Logger): Promise<RunningRole> {
  assertProductionSafe(config, role, { serving: true });
  const td = config.mesh.trustDomain;
  const m = config.mesh;
  const onError = (err: unknown) => logger.error({ err, role }, "identity source error");
  let identity: IdentitySource;
  let ca: CertificateAuthority | undefined;
  if (m.spireSocket) {
    identity = await createSpireIdentitySource({
      socketPath: m.spireSocket,
      spiffeId: `spiffe://${td}/${role}`,
      trustDomain: td,
      onError,
    });
  } else if (m.certFile && m.keyFile && m.bundleFile) {
    identity = createFileIdentity({
      certFile: m.certFile,
      keyFile: m.keyFile,
      bundleFile: m.bundleFile,
      trustDomain: td,
    });
  } else if (role === "backend") {
    const masterKeys = loadMasterKeyRing({
      profile: config.profile,
      dataDir: config.dataDir,
      key: config.masterKey,
      keyFile: config.masterKeyFile,
    });
    const loaded = await CertificateAuthority.loadOrCreate(m.caFile, { trustDomain: td, masterKeys });
    ca = loaded;
    identity = await createRenewingIdentity({
      issue: () => loaded.issueSvid({ path: "backend", ttlSeconds: m.svidTtlSeconds }),
      onError,
    });
  } else if (m.joinToken && m.joinUrl && m.bundleFile) {
    identity = await joinedIdentity(config, role, onError);
  } else {
    throw new ZenError("CONFIG_INSECURE", { message: `no mTLS material for the ${role} role` });
  }
  let running: RunningRole;
  try {
    running = await startRole(role, config, logger, {
      identity,
      ca,
      backendUrl: m.backendUrl,
      internalPort: internalPortOf(role, config),
      apiPort: config.api.port,
      ingestBaseUrl: () => defaultIngestUrl(config),
      egressUrl: createPeerUrl(config.deliver.egressUrl),
      egressBoxPublicKey:
        config.deliver.egressPublicKey === undefined
          ? undefined
          : decodeBoxPublicKey(config.deliver.egressPublicKey),
      egressBox:
        role === "egress" && config.deliver.egressKeyFile !== undefined
          ? readEgressKeyFile(config.deliver.egressKeyFile)
          : undefined,
    });
  } catch (err) {
    await identity.close().catch(() => {});
    throw err;
  }
  // The identity source (SPIRE stream, renewal timer, file poller) is this process's to close.
  return {
    ...running,
    async close() {
      try {
        await running.close();
      } finally {
        await identity.close();
      }
    },
  };
}

/** Joins with the token once, then renews over mTLS with a fresh key and CSR at half-life. */
async function joinedIdentity(config: Config, role: RoleName, onError: (err: unknown) => void) {
  const m = config.mesh;
  const bundlePem = readFileSync(m.bundleFile!, "utf8");
  let first = true;
  let current: IdentitySource | undefined;
  const renewing = await createRenewingIdentity({
    onError,
    async issue() {
      if (first) {
        first = false;
        const svid = await joinWithToken({
          joinUrl: m.joinUrl!,
          token: m.joinToken!,
          bundlePem,
          trustDomain: m.trustDomain,
        });
        if (svid.spiffeId !== `spiffe://${m.trustDomain}/${role}`) {
          throw new ZenError("CONFIG_INVALID", {
            message: `the join token is for ${svid.spiffeId}, not the ${role} role`,
          });
        }
        return svid;
      }
      const client = createInternalClient({
        identity: current!,
        trustDomain: m.trustDomain,
        baseUrl: m.backendUrl!,
        expectServer: `spiffe://${m.trustDomain}/backend`,
      });
      try {
        const { keyPem, csrPem } = await createKeyAndCsr();
        const r = await client.request("POST", "/internal/svid", { csr: csrPem });
        if (r.status !== 200) throw new ZenError("UNAVAILABLE", { message: `renewal refused (${r.status})` });
        const body = r.json<{ cert_chain_pem: string; bundle_pem: string }>();
        return svidFromChain(body.cert_chain_pem, keyPem, body.bundle_pem, m.trustDomain);
      } finally {
        await client.close();
      }
    },
  });
  current = renewing;
  return renewing;
}
