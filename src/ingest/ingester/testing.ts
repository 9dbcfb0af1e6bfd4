/**
 * Test helpers: the public ingest listener over a real database. Sources are
 * written to the tables (so the backend's store accepts their events) and
 * held as the snapshot the backend would push, with secrets chosen by the
 * test (as many live versions as it likes); accepted events go through the
 * real store (`persistBatch`). Only the mesh between ingester and backend is
 * left out.
 */
import { freshDatabase, type TestDatabase } from "../../../test/support/db.ts";
import { systemClock } from "../../core/index.ts";
import { captureLogs } from "../../log/testing.ts";
import { getScheme } from "../schemes/index.ts";
import { persistBatch } from "../store/persist.ts";
import { createTestTenant, testIngestDeps } from "../store/testing.ts";
import type { SourceSnapshot } from "../types.ts";
import type { Batcher } from "./batcher.ts";
import { type IngestServer, type IngestServerOptions, startIngestServer } from "./server.ts";
import type { SourceCache } from "./source-cache.ts";

export type TestIngestOptions = Partial<
  Omit<IngestServerOptions, "sources" | "batcher" | "clock" | "host" | "port">
>;

export interface TestIngest {
  url: string;
  t: TestDatabase;
  /** A new tenant with one generic-hmac source holding `secrets` (newest first), served at once. */
  source(name: string, secrets: string[], over?: Partial<SourceSnapshot>): Promise<SourceSnapshot>;
  /** The headers the provider would send for `body`, signed with `secret`. */
  sign(source: SourceSnapshot, secret: string, body: Buffer): Record<string, string>;
  /** Admitted connections and body bytes held now. */
  load(): ReturnType<IngestServer["load"]>;
  close(): Promise<void>;
}

export async function startTestIngest(opts: TestIngestOptions = {}): Promise<TestIngest> {
  const t = await freshDatabase("pglite");
  const deps = testIngestDeps(t.db);
  const sources = new Map<string, SourceSnapshot>();
  const cache: SourceCache = {
    get: (id) => sources.get(id),
    ready: () => true,
    revision: () => sources.size,
    size: () => sources.size,
    whenReady: async () => {},
    // Sources are served the moment the test makes them: there is never anything newer to fetch.
    refresh: async () => {},
    close() {},
  };
  const batcher: Batcher = {
    submit: (items) => persistBatch(deps, items),
    load: () => ({ inFlight: 0, queued: 0 }),
  };
  let server: IngestServer;
  try {
    server = await startIngestServer({
      sources: cache,
      batcher,
      logger: captureLogs({ level: "warn" }).logger,
      clock: systemClock,
      host: "127.0.0.1",
      port: 0,
      plainHttpAllowed: true,
      ...opts,
    });
  } catch (err) {
    await t.close();
    throw err;
  }
  return {
    url: server.url,
    t,
    async source(name, secrets, over = {}) {
      const { tenantId, projectId, sourceId } = await createTestTenant(deps, name);
      const now = Date.now();
      const snapshot: SourceSnapshot = {
        id: sourceId,
        tenantId,
        projectId,
        scheme: "generic-hmac",
        settings: getScheme("generic-hmac").settings.parse({ header: "x-signature" }),
        signatureRequired: true,
        allowPlainHttp: true,
        clientCertPins: [],
        maxBodyBytes: 16 * 1024 * 1024,
        contentTypes: ["application/json", "application/octet-stream"],
        toleranceSeconds: 300,
        enabled: true,
        cloudevents: "off",
        secrets: secrets.map((value, i) => ({
          version: secrets.length - i,
          value,
          expiresAt: i === 0 ? null : new Date(now + 3600_000).toISOString(),
        })),
        revision: sources.size + 1,
        ...over,
      };
      sources.set(sourceId, snapshot);
      return snapshot;
    },
    sign: (source, secret, body) =>
      getScheme(source.scheme).sign({ secret, body, now: new Date(), settings: source.settings }),
    load: () => server.load(),
    async close() {
      await server.close();
      await t.close();
    },
  };
}
