import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { DRIVERS, freshDatabase, skipReason } from "../../test/support/db.ts";
import { REDIS_URL } from "../../test/support/env.ts";
import { errorCode, id, rawRequest, staticIdentity, TD, testCa } from "../../test/support/mesh.ts";
import { type Clock, systemClock } from "../core/index.ts";
import type { Svid } from "../identity/index.ts";
import { createInternalClient } from "./client.ts";
import { deriveHopKey, SYSTEM_HOP_TENANT } from "./hop-keys.ts";
import { createHopSigner, createHopVerifier, HOP_SIGNATURE_HEADER } from "./hop-signature.ts";
import { createDbNonceStore } from "./nonce-db.ts";
import { createRedisNonceStore } from "./nonce-redis.ts";
import type { NonceStore } from "./nonce-store.ts";
import { createInternalServer, type HopRejectionAudit, type InternalServer } from "./server.ts";

const MASTER = randomBytes(32);
const KEY = deriveHopKey(MASTER, SYSTEM_HOP_TENANT, "ingester");
const PATH = "/internal/events";
const redisClients: Redis[] = [];
after(() => {
  for (const r of redisClients) r.disconnect();
});

const shifted = (ms: number): Clock => ({ now: () => new Date(Date.now() + ms) });

interface Store {
  name: string;
  skip?: string | undefined;
  open(): Promise<{ nonces: NonceStore; close(): Promise<void> }>;
}

const stores: Store[] = [
  ...DRIVERS.map(
    (kind): Store => ({
      name: `database (${kind})`,
      skip: skipReason(kind),
      async open() {
        const t = await freshDatabase(kind);
        return { nonces: createDbNonceStore(t.db), close: () => t.close() };
      },
    }),
  ),
  {
    name: "redis",
    async open() {
      const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      redisClients.push(r);
      return {
        nonces: createRedisNonceStore(r, `zm:test:${randomBytes(8).toString("hex")}:`),
        close: async () => {},
      };
    },
  },
];

async function signedServer(nonces: NonceStore) {
  const ca = await testCa();
  const svids = { backend: await ca.issue("backend"), ingester: await ca.issue("ingester") };
  const audits: HopRejectionAudit[] = [];
  const handled: string[] = [];
  const server = await createInternalServer({
    identity: staticIdentity(svids.backend),
    trustDomain: TD,
    hopVerifier: createHopVerifier({ keys: (k) => (k === "ingester-v1" ? KEY : undefined), nonces }),
    hopKeyOwner: (k) => (k === "ingester-v1" ? id("ingester") : undefined),
    audit: async (entry) => {
      audits.push(entry);
    },
    routes: [
      {
        method: "POST",
        path: PATH,
        allow: [id("ingester")],
        signed: "required",
        handler: async (req) => {
          handled.push(req.body.toString());
          return { status: 202, body: { key: req.hopKeyId } };
        },
      },
      {
        method: "GET",
        path: "/internal/ping",
        allow: [id("ingester")],
        signed: "none",
        handler: async () => ({ status: 200 }),
      },
    ],
  });
  const send = (body: string, header: string | undefined) =>
    rawRequest(server.url, {
      method: "POST",
      path: PATH,
      svid: svids.ingester,
      ca: ca.ca.bundlePem(),
      body,
      headers: header === undefined ? {} : { [HOP_SIGNATURE_HEADER]: header },
    });
  return { ca, svids, server, audits, handled, send };
}

for (const store of stores) {
  describe(`signed hops into the internal server, nonces on ${store.name}`, {
    skip: store.skip ?? false,
  }, () => {
    let ctx: Awaited<ReturnType<typeof signedServer>>;
    let server: InternalServer;
    let closeStore: () => Promise<void>;
    before(async () => {
      const opened = await store.open();
      closeStore = opened.close;
      ctx = await signedServer(opened.nonces);
      server = ctx.server;
    });
    after(async () => {
      await server.close();
      await closeStore();
    });

    it("accepts a request signed by the internal client", async () => {
      const client = createInternalClient({
        identity: staticIdentity(ctx.svids.ingester as Svid),
        trustDomain: TD,
        baseUrl: server.url,
        expectServer: id("backend"),
        hopSigner: createHopSigner({ keyId: "ingester-v1", key: KEY }),
      });
      try {
        const r = await client.request("POST", PATH, { event: 1 });
        assert.equal(r.status, 202);
        assert.deepEqual(r.json(), { key: "ingester-v1" });
      } finally {
        await client.close();
      }
    });

    it("accepts the same signed request once and refuses it the second time with HOP_REPLAYED", async () => {
      const body = '{"event":2}';
      const header = createHopSigner({ keyId: "ingester-v1", key: KEY }).sign(
        "POST",
        PATH,
        Buffer.from(body),
      );
      const first = await ctx.send(body, header);
      assert.equal(first.status, 202);
      const second = await ctx.send(body, header);
      assert.equal(second.status, 401);
      assert.equal(errorCode(second.body), "HOP_REPLAYED");
      assert.equal(ctx.handled.filter((b) => b === body).length, 1);
      const audit = ctx.audits.at(-1);
      assert.equal(audit?.reason, "replayed");
      assert.equal(audit?.peer, id("ingester"));
      assert.equal(audit?.path, PATH);
      assert.equal(audit?.correlationId, JSON.parse(second.body).error.correlation_id);
    });

    it("refuses timestamps outside the window, past and future, with HOP_STALE", async () => {
      // Timestamps are whole seconds and the window is inclusive: 301 s ahead reads as 300 when the
      // second ticks between signing and checking, so the cases stand 2 s outside the window.
      for (const [skew, reason] of [
        [-302_000, "stale"],
        [302_000, "future"],
      ] as const) {
        const body = `{"skew":${skew}}`;
        const header = createHopSigner({ keyId: "ingester-v1", key: KEY, clock: shifted(skew) }).sign(
          "POST",
          PATH,
          Buffer.from(body),
        );
        const r = await ctx.send(body, header);
        assert.equal(r.status, 401);
        assert.equal(errorCode(r.body), "HOP_STALE");
        assert.equal(ctx.audits.at(-1)?.reason, reason);
      }
    });

    it("refuses a one-byte change to the body, a wrong key and a missing signature", async () => {
      const signer = createHopSigner({ keyId: "ingester-v1", key: KEY, clock: systemClock });
      const tampered = await ctx.send('{"event":4}', signer.sign("POST", PATH, Buffer.from('{"event":3}')));
      assert.equal(errorCode(tampered.body), "HOP_SIGNATURE_INVALID");
      assert.equal(ctx.audits.at(-1)?.reason, "bad_signature");
      const wrongKey = createHopSigner({
        keyId: "ingester-v1",
        key: deriveHopKey(MASTER, SYSTEM_HOP_TENANT, "egress"),
      });
      const wk = await ctx.send("{}", wrongKey.sign("POST", PATH, Buffer.from("{}")));
      assert.equal(wk.status, 401);
      assert.equal(errorCode(wk.body), "HOP_SIGNATURE_INVALID");
      const missing = await ctx.send("{}", undefined);
      assert.equal(missing.status, 401);
      assert.equal(errorCode(missing.body), "HOP_SIGNATURE_INVALID");
      assert.equal(ctx.audits.at(-1)?.reason, "missing");
      assert.equal(ctx.handled.includes('{"event":4}'), false);
    });
  });
}

describe("signed hops when the nonce store is down", () => {
  it("refuses with 503 and reaches no handler when Redis is unreachable", async () => {
    const down = new Redis({
      host: "127.0.0.1",
      port: 1,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    down.on("error", () => {});
    redisClients.push(down);
    const ctx = await signedServer(createRedisNonceStore(down, "zm:test:down:"));
    try {
      const body = "{}";
      const r = await ctx.send(
        body,
        createHopSigner({ keyId: "ingester-v1", key: KEY }).sign("POST", PATH, Buffer.from(body)),
      );
      assert.equal(r.status, 503);
      assert.equal(errorCode(r.body), "UNAVAILABLE");
      assert.deepEqual(ctx.handled, []);
      assert.equal(ctx.audits.at(-1)?.reason, "store_unavailable");
    } finally {
      await ctx.server.close();
    }
  });

  it("refuses to start with a hop verifier but no owner for its keys", async () => {
    const ca = await testCa();
    await assert.rejects(
      createInternalServer({
        identity: staticIdentity(await ca.issue("backend")),
        trustDomain: TD,
        hopVerifier: createHopVerifier({ keys: () => KEY, nonces: { claim: async () => true } }),
        routes: [
          {
            method: "POST",
            path: PATH,
            allow: [id("ingester")],
            signed: "required",
            handler: async () => ({ status: 200 }),
          },
        ],
      }),
      /needs hopKeyOwner/,
    );
  });

  it("refuses to start a route that requires signatures without a verifier", async () => {
    const ca = await testCa();
    await assert.rejects(
      createInternalServer({
        identity: staticIdentity(await ca.issue("backend")),
        trustDomain: TD,
        routes: [
          {
            method: "POST",
            path: PATH,
            allow: [id("ingester")],
            signed: "required",
            handler: async () => ({ status: 200 }),
          },
        ],
      }),
    );
  });
});
