/**
 * `zenmesh up`: the embedded default as supervised processes. The supervisor
 * holds the built-in CA (sealed under the master key in the data dir) and
 * nothing else: it starts backend, ingester, egress and bff as child
 * processes on loopback, hands each its SVID and hop key over IPC, renews
 * the SVIDs at half-life with jitter, restarts a crashed role with backoff,
 * and stops them all on SIGINT/SIGTERM. Only the backend child opens the
 * database; the others hold no database or Redis credentials. Migrations run
 * first, in a `zenmesh migrate` child of their own (`migrateInChild`): the
 * serving backend is started without the owner connection.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Config, RoleName } from "../config/index.ts";
import { ZenError } from "../core/index.ts";
import type { CertificateAuthority } from "../identity/index.ts";
import type { Svid } from "../identity/types.ts";
import type { Logger } from "../log/index.ts";
import { type BootMessage, type ReadyMessage, type ToChild, toWire } from "./wire.ts";

const MAIN = fileURLToPath(new URL("../cli/main.ts", import.meta.url));
const STOP_GRACE_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;
const STABLE_AFTER_MS = 60_000;

export interface ChildSpec {
  role: RoleName;
  /** Arguments after `serve <role>`: the configuration flags the supervisor was given. */
  args: string[];
  ports: BootMessage["ports"];
  peers: () => BootMessage["peers"];
  hop: BootMessage["hop"];
  box?: BootMessage["box"];
  /** The backend: migrations already ran, so it neither migrates nor holds the owner connection. */
  migrated?: boolean;
  /** Settings added to the child's environment (the embedded database's runtime URL, for the backend). */
  env?: Record<string, string>;
  /** Called on every ready message (first start and restarts). */
  onReady?(msg: ReadyMessage): void;
}

export interface SupervisedChild {
  role: RoleName;
  ready: ReadyMessage | undefined;
  pid: number | undefined;
  restarts: number;
  /** Resolves with the first ready message (or rejects if the first start fails). */
  firstReady: Promise<ReadyMessage>;
  stop(): Promise<void>;
  /** Sends a message to the live process, if any. */
  send(msg: ToChild): void;
  /** For tests: the live process. */
  process(): ChildProcess | undefined;
}

export interface SupervisorDeps {
  config: Config;
  ca: CertificateAuthority;
  logger: Logger;
  out(line: string): void;
  /** Renewal jitter as a fraction of half the lifetime (default 0.1). */
  jitter?: number;
}

function halfLifeDelay(svid: Svid, jitter: number): number {
  const life = svid.notAfter.getTime() - Date.now();
  const half = life / 2;
  return Math.max(500, half + (Math.random() * 2 - 1) * jitter * half);
}

export function superviseChild(deps: SupervisorDeps, spec: ChildSpec): SupervisedChild {
  const jitter = deps.jitter ?? 0.1;
  let child: ChildProcess | undefined;
  let stopping = false;
  let backoff = 1000;
  let renewTimer: NodeJS.Timeout | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let resolveFirst!: (r: ReadyMessage) => void;
  let rejectFirst!: (e: Error) => void;
  const firstReady = new Promise<ReadyMessage>((res, rej) => {
    resolveFirst = res;
    rejectFirst = rej;
  });
  let everReady = false;
  const state: SupervisedChild = {
    role: spec.role,
    ready: undefined,
    pid: undefined,
    restarts: 0,
    firstReady,
    stop,
    send: (msg) => {
      if (child) send(child, msg);
    },
    process: () => child,
  };

  const issue = () => deps.ca.issueSvid({ path: spec.role, ttlSeconds: deps.config.mesh.svidTtlSeconds });

  function send(proc: ChildProcess, msg: ToChild) {
    if (proc.connected) proc.send(msg);
  }

  function scheduleRenewal(proc: ChildProcess, svid: Svid) {
    clearTimeout(renewTimer);
    renewTimer = setTimeout(
      async () => {
        try {
          const next = await issue();
          if (child === proc) {
            send(proc, { type: "identity", identity: toWire(next) });
            scheduleRenewal(proc, next);
          }
        } catch (err) {
          deps.logger.error({ role: spec.role, err }, "could not renew a role's SVID; retrying");
          renewTimer = setTimeout(() => scheduleRenewal(proc, svid), 1000);
        }
      },
      halfLifeDelay(svid, jitter),
    );
    renewTimer.unref();
  }

  async function start() {
    const svid = await issue();
    const backend = spec.role === "backend";
    const proc = fork(
      MAIN,
      ["serve", spec.role, "--supervised", ...(backend ? spec.args : withoutSecrets(spec.args))],
      {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        serialization: "json",
        env: {
          ...(backend ? envWithoutOwner(process.env) : envWithoutSecrets(process.env)),
          ...spec.env,
          ZENMESH_PROFILE: deps.config.profile,
        },
      },
    );
    child = proc;
    state.pid = proc.pid;
    const startedAt = Date.now();
    proc.on("message", (raw) => {
      const msg = raw as ReadyMessage;
      if (msg?.type !== "ready" || child !== proc) return;
      state.ready = msg;
      // Restarts bind the ports the first start got, so peers keep their URLs.
      spec.ports.internal = Number(new URL(msg.internal).port);
      if (msg.public.api) spec.ports.api = Number(new URL(msg.public.api).port);
      if (msg.public.ingest) spec.ports.ingest = Number(new URL(msg.public.ingest).port);
      if (msg.public.metrics) spec.ports.metrics = Number(new URL(msg.public.metrics).port);
      spec.onReady?.(msg);
      deps.out(
        `  ${spec.role.padEnd(9)} running   pid ${proc.pid}  internal ${msg.internal}${publicList(msg)}`,
      );
      if (!everReady) {
        everReady = true;
        resolveFirst(msg);
      }
    });
    proc.on("exit", (code, signal) => {
      clearTimeout(renewTimer);
      if (child !== proc) return;
      child = undefined;
      state.pid = undefined;
      state.ready = undefined;
      if (stopping) return;
      if (!everReady) {
        rejectFirst(new Error(`the ${spec.role} role exited during start (${signal ?? `code ${code}`})`));
        return;
      }
      if (Date.now() - startedAt > STABLE_AFTER_MS) backoff = 1000;
      deps.out(
        `  ${spec.role.padEnd(9)} exited    ${signal ?? `code ${code}`}; restarting in ${Math.round(backoff / 1000)} s`,
      );
      restartTimer = setTimeout(() => {
        state.restarts++;
        start().catch((err: unknown) => deps.logger.error({ role: spec.role, err }, "restart failed"));
      }, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
    const boot: BootMessage = {
      type: "boot",
      role: spec.role,
      identity: toWire(svid),
      hop: spec.hop,
      ...(spec.box ? { box: spec.box } : {}),
      ...(spec.migrated ? { migrated: true } : {}),
      ports: { ...spec.ports },
      peers: spec.peers(),
    };
    send(proc, boot);
    scheduleRenewal(proc, svid);
  }

  async function stop() {
    stopping = true;
    clearTimeout(renewTimer);
    clearTimeout(restartTimer);
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  start().catch((err: unknown) => rejectFirst(err instanceof Error ? err : new Error(String(err))));
  return state;
}

/** Settings only the backend may hold: database, Redis and master-key credentials. */
export const BACKEND_ONLY_ENV = [
  "ZENMESH_DATABASE_URL",
  "ZENMESH_DATABASE_OWNER_URL",
  "ZENMESH_DATABASE_CA_FILE",
  "ZENMESH_REDIS_URL",
  "ZENMESH_MASTER_KEY",
  "ZENMESH_MASTER_KEY_FILE",
  "ZENMESH_CONFIG",
];
const BACKEND_ONLY_FLAGS = new Set(["--database-url", "--config"]);

/** Settings only the migration step holds: the serving backend runs with the runtime credentials. */
export const MIGRATION_ONLY_ENV = ["ZENMESH_DATABASE_OWNER_URL"];

export function envWithoutOwner(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of MIGRATION_ONLY_ENV) delete out[k];
  return out;
}

/**
 * `zenmesh migrate` as a child process, with the supervisor's whole
 * environment and flags (the owner connection, and the master-key settings
 * a migration may need), before the backend starts. Rejects unless it
 * exits 0.
 */
export function migrateInChild(
  args: string[],
  profile: string,
  env: Record<string, string> = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = fork(MAIN, ["migrate", ...args], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ...env, ZENMESH_PROFILE: profile },
    });
    proc.once("error", reject);
    proc.once("exit", (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new ZenError("MIGRATION_FAILED", {
            message: `\`zenmesh migrate\` failed (${signal ?? `exit code ${code}`}); the backend was not started`,
          }),
        );
    });
  });
}

export function envWithoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of BACKEND_ONLY_ENV) delete out[k];
  return out;
}

function withoutSecrets(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = a.split("=")[0]!;
    if (BACKEND_ONLY_FLAGS.has(name)) {
      if (!a.includes("=")) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

function publicList(msg: ReadyMessage): string {
  return Object.entries(msg.public)
    .map(([name, url]) => `  ${name} ${url}`)
    .join("");
}
