/**
 * The delivery pipeline in one process, for tests: a fresh database (either
 * driver) with a tenant, a project and a source; the real fan-out, queue,
 * scheduler, egress dispatcher and SSRF-guarded sender; and receivers on
 * loopback. Rounds are driven by the test, under a fixed clock, so retry
 * schedules can be checked to the millisecond.
 */
import { randomBytes } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type ServerOptions } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { type ActionContext, fixedClock, newId } from "../../src/core/index.ts";
import type { DriverKind } from "../../src/db/index.ts";
import {
  type CreateDestinationInput,
  createDestination,
  type DeliverDeps,
} from "../../src/deliver/destinations/index.ts";
import { createDispatcher, type Dispatcher } from "../../src/deliver/egress/index.ts";
import { createSender } from "../../src/deliver/http/sender.ts";
import {
  type AttemptReport,
  applyReports,
  type BoxKeyPair,
  createScheduler,
  createTableQueue,
  type DeliveryQueue,
  type DispatchBatch,
  emptyBatch,
  expandDeliveries,
  generateBoxKeyPair,
  mergeBatch,
  parseCidrList,
  type ResultsDeps,
  type Scheduler,
} from "../../src/deliver/index.ts";
import type { Lookup } from "../../src/deliver/ssrf/guard.ts";
import { type CreateSubscriptionInput, createSubscription } from "../../src/deliver/subscriptions/index.ts";
import { ECDSA_SHA256, exportPkcs8, generateP256, toPem, x509 } from "../../src/identity/x509.ts";
import { persistBatch } from "../../src/ingest/store/index.ts";
import { insertTestSource, testItem } from "../../src/ingest/store/testing.ts";
import type { IngestItem } from "../../src/ingest/types.ts";
import { captureLogs } from "../../src/log/testing.ts";
import { toStoredEvents } from "../../src/roles/backend-deliver.ts";
import { createTenant, PROJECT_PERMISSIONS } from "../../src/tenancy/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../../src/zenlock/index.ts";
import { freshDatabase, type TestDatabase } from "./db.ts";

export interface Arrival {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  peerCertificate?: string | undefined;
}

export interface Receiver {
  url: string;
  arrivals: Arrival[];
  connections: number;
  /** Answers each arrival; default 200. */
  respond: (a: Arrival, n: number) => { status: number; headers?: Record<string, string>; body?: string };
  close(): Promise<void>;
}

export async function startReceiver(opts: { tls?: ServerOptions; host?: string } = {}): Promise<Receiver> {
  const server: Server = opts.tls ? createHttpsServer(opts.tls) : createHttpServer();
  const r: Receiver = {
    url: "",
    arrivals: [],
    connections: 0,
    respond: () => ({ status: 200 }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
  server.on("connection", () => r.connections++);
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const cert = (req.socket as Partial<TLSSocket>).getPeerCertificate?.();
      const a: Arrival = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        peerCertificate: cert && "fingerprint256" in cert ? cert.fingerprint256 : undefined,
      };
      r.arrivals.push(a);
      const out = r.respond(a, r.arrivals.length);
      res.writeHead(out.status, { "content-type": "text/plain", ...(out.headers ?? {}) });
      res.end(out.body ?? "ok");
    });
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(0, host, () => res());
  });
  r.url = `${opts.tls ? "https" : "http"}://${host}:${(server.address() as AddressInfo).port}/hooks`;
  return r;
}

/** A self-signed server certificate for 127.0.0.1, for HTTPS receivers. */
export async function selfSignedServer(): Promise<{ cert: string; key: string }> {
  const keys = await generateP256();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex"),
    name: "CN=127.0.0.1",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }])],
  });
  return { cert: cert.toString("pem"), key: toPem("PRIVATE KEY", await exportPkcs8(keys.privateKey)) };
}

export interface Pipeline {
  t: TestDatabase;
  clock: ReturnType<typeof fixedClock>;
  deps: DeliverDeps;
  box: BoxKeyPair;
  queue: DeliveryQueue;
  logs: ReturnType<typeof captureLogs>;
  dispatcher: Dispatcher;
  scheduler: Scheduler;
  resultsDeps: ResultsDeps;
  tenantId: string;
  projectId: string;
  sourceId: string;
  ctx: ActionContext;
  destination(
    input: Partial<CreateDestinationInput> & { url: string },
  ): Promise<{ id: string; secret: string }>;
  subscribe(destinationId: string, input?: Partial<CreateSubscriptionInput>): Promise<string>;
  /** Stores events as ingest does, with their deliveries; returns their ids and what the fast path would send. */
  ingest(
    items: IngestItem[] | number,
    opts?: { fastPath?: boolean },
  ): Promise<{ ids: string[]; batch: DispatchBatch }>;
  item(over?: Parameters<typeof testItem>[2]): IngestItem;
  /** Sends a batch to egress, waits for every attempt, applies the reports. */
  deliver(batch: DispatchBatch): Promise<AttemptReport[]>;
  /** One scheduler round at the current (fixed) time. */
  round(): Promise<AttemptReport[]>;
  /** Moves the clock to the next due delivery (if any); false when nothing is queued. */
  advanceToNextDue(): Promise<boolean>;
  /** Rounds until nothing is queued, moving the clock past schedules and circuit cooldowns. */
  drain(maxRounds?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPipeline(
  kind: DriverKind,
  opts: { allowCidrs?: string; ca?: string; lookup?: Lookup; start?: string } = {},
): Promise<Pipeline> {
  const t = await freshDatabase(kind);
  const clock = fixedClock(opts.start ?? "2031-03-01T00:00:00Z");
  const logs = captureLogs({ level: "debug" });
  const box = generateBoxKeyPair();
  const zenlock = new ZenLock({ masterKeys: parseMasterKeyRing(generateMasterKey(), "test"), clock });
  const deps: DeliverDeps = {
    db: t.db,
    zenlock,
    clock,
    apiKeyEnvironment: "test",
    sessions: { idleTimeoutSeconds: 1800, absoluteTimeoutSeconds: 43_200 },
    egressBoxKey: () => box.publicKey,
  };
  const operator = { type: "operator", id: "test" } as const;
  const { tenantId, projectId } = await createTenant(deps, {
    name: "delivery",
    correlationId: newId("correlation"),
    actor: operator,
  });
  const sourceId = await insertTestSource(t.db, tenantId, projectId);
  const ctx: ActionContext = {
    tenantId,
    projectId,
    actor: operator,
    permissions: new Set(PROJECT_PERMISSIONS),
    correlationId: newId("correlation"),
  };
  const queue = createTableQueue(t.db);
  const leaseMs = 60_000;
  const cidrs = opts.allowCidrs ? parseCidrList(opts.allowCidrs) : { ok: true as const, value: [] };
  if (!cidrs.ok) throw new Error(cidrs.reason);
  const sender = createSender({
    allowCidrs: cidrs.value,
    ...(opts.ca ? { ca: opts.ca } : {}),
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });
  const reports: AttemptReport[] = [];
  const dispatcher = createDispatcher({
    sender,
    box,
    report: (r) => reports.push(r),
    clock,
    logger: logs.logger,
    userAgent: "zenmesh/test",
  });
  const scheduler = createScheduler({
    db: t.db,
    zenlock,
    queue,
    clock,
    logger: logs.logger,
    egress: () => ({
      async dispatch(batch) {
        dispatcher.accept(batch);
      },
    }),
    leaseMs,
    cooldownMs: 30_000,
    // Rounds are driven by the test.
    pollMs: 3_600_000,
  });
  const resultsDeps: ResultsDeps = {
    db: t.db,
    zenlock,
    queue,
    leaseMs,
    clock,
    random: () => 0.5,
    circuit: { failureThreshold: 5, cooldownMs: 30_000 },
    disableAfterMs: 5 * 86_400_000,
    actor: { type: "workload", spiffeId: "spiffe://zenmesh.test/backend" },
  };
  const settle = async () => {
    for (let i = 0; i < 2000; i++) {
      const l = dispatcher.load();
      if (l.inFlight === 0 && l.queued === 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const batch = reports.splice(0);
    if (batch.length > 0) await applyReports(resultsDeps, batch);
    return batch;
  };
  const p: Pipeline = {
    t,
    clock,
    deps,
    box,
    queue,
    logs,
    dispatcher,
    scheduler,
    resultsDeps,
    tenantId,
    projectId,
    sourceId,
    ctx,
    async destination(input) {
      const r = await createDestination(deps, ctx, { name: "receiver", ...input });
      return { id: r.destination.id, secret: r.secret };
    },
    async subscribe(destinationId, input = {}) {
      const s = await createSubscription(deps, ctx, { destination_id: destinationId, ...input });
      return s.id;
    },
    item: (over = {}) => testItem(sourceId, clock.now(), over),
    async ingest(items, o = {}) {
      const list = typeof items === "number" ? Array.from({ length: items }, () => p.item()) : items;
      const batch = emptyBatch();
      const outcomes = await persistBatch(
        {
          db: t.db,
          zenlock,
          clock,
          async onStored(tx, tid, events, now) {
            mergeBatch(
              batch,
              await expandDeliveries({ zenlock, queue, leaseMs }, tx, tid, toStoredEvents(events), now, {
                fastPath: o.fastPath ?? false,
              }),
            );
          },
        },
        list,
      );
      const ids = outcomes.map((x) => (x.status === "stored" || x.status === "duplicate" ? x.eventId : ""));
      return { ids, batch };
    },
    async deliver(batch) {
      dispatcher.accept(batch);
      return settle();
    },
    async round() {
      await scheduler.tick();
      return settle();
    },
    async advanceToNextDue() {
      const r = await t.admin<{ due: Date | null }>("select min(due_at) as due from delivery_queue");
      const due = r[0]?.due;
      if (!due) return false;
      const at = new Date(due);
      if (at.getTime() > clock.now().getTime()) clock.set(at);
      return true;
    },
    async drain(maxRounds = 2000) {
      for (let i = 0; i < maxRounds; i++) {
        const done = await p.round();
        if (done.length > 0) continue;
        const before = clock.now().getTime();
        if (!(await p.advanceToNextDue())) return;
        // Due already, yet nothing went: a circuit is holding it back until its cooldown ends.
        if (clock.now().getTime() === before) clock.advance(resultsDeps.circuit.cooldownMs);
      }
      throw new Error("the queue did not drain");
    },
    async close() {
      await scheduler.close();
      await dispatcher.close(1000);
      await sender.close();
      await t.close();
    },
  };
  return p;
}
