import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { DRIVERS, freshDatabase, skipReason } from "../../test/support/db.ts";
import { REDIS_URL } from "../../test/support/env.ts";
import { fixedClock } from "../core/index.ts";
import { createHopSigner, createHopVerifier } from "./hop-signature.ts";
import { createDbNonceStore } from "./nonce-db.ts";
import { createRedisNonceStore } from "./nonce-redis.ts";
import type { NonceStore } from "./nonce-store.ts";

const nonce = () => randomBytes(16).toString("base64url");
const KEY = Buffer.alloc(32, 3);

interface Backend {
  name: string;
  skip?: string | undefined;
  open(): Promise<{ store: NonceStore; close(): Promise<void> }>;
}

const redisClients: Redis[] = [];
after(async () => {
  for (const r of redisClients) r.disconnect();
});

function redis(): Redis {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
  redisClients.push(r);
  return r;
}

const backends: Backend[] = [
  ...DRIVERS.map(
    (kind): Backend => ({
      name: `database (${kind})`,
      skip: skipReason(kind),
      async open() {
        const t = await freshDatabase(kind);
        return { store: createDbNonceStore(t.db), close: () => t.close() };
      },
    }),
  ),
  {
    name: "redis",
    async open() {
      return { store: createRedisNonceStore(redis(), `zm:test:${nonce()}:`), close: async () => {} };
    },
  },
];

for (const backend of backends) {
  describe(`nonce store on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    it("answers true the first time and false for every repeat, even under concurrency", async () => {
      const { store, close } = await backend.open();
      try {
        const n = nonce();
        const answers = await Promise.all(
          Array.from({ length: 8 }, () => store.claim("ingester-v1", n, 600_000)),
        );
        assert.equal(answers.filter(Boolean).length, 1);
        assert.equal(await store.claim("ingester-v1", n, 600_000), false);
      } finally {
        await close();
      }
    });

    it("keeps nonces per signer", async () => {
      const { store, close } = await backend.open();
      try {
        const n = nonce();
        assert.equal(await store.claim("ingester-v1", n, 600_000), true);
        assert.equal(await store.claim("egress-v1", n, 600_000), true);
        assert.equal(await store.claim("ingester-v1", n, 600_000), false);
      } finally {
        await close();
      }
    });

    it("refuses a replayed signed hop through the verifier", async () => {
      const { store, close } = await backend.open();
      try {
        const clock = fixedClock(Date.now());
        const signer = createHopSigner({ keyId: "k1", key: KEY, clock });
        const verifier = createHopVerifier({ keys: () => KEY, nonces: store, clock });
        const body = Buffer.from("{}");
        const header = signer.sign("POST", "/internal/events", body);
        assert.equal((await verifier.verify("POST", "/internal/events", body, header)).ok, true);
        assert.deepEqual(await verifier.verify("POST", "/internal/events", body, header), {
          ok: false,
          reason: "replayed",
        });
      } finally {
        await close();
      }
    });
  });
}

describe("nonce store on the database", { skip: skipReason("pglite") ?? false }, () => {
  it("sweeps expired rows and keeps live ones", async () => {
    const t = await freshDatabase("pglite");
    try {
      const clock = fixedClock("2030-01-01T00:00:00Z");
      const store = createDbNonceStore(t.db, { clock, sweepEveryMs: 1000 });
      await store.claim("k", "a".repeat(22), 1000);
      await store.claim("k", "b".repeat(22), 600_000);
      clock.advance(5000);
      await store.claim("k", "c".repeat(22), 600_000);
      // The sweep runs beside the claim; give it its transaction.
      for (let i = 0; i < 50; i++) {
        const rows = await t.admin<{ nonce: string }>("select nonce from hop_nonces order by nonce");
        if (rows.length === 2) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const rows = await t.admin<{ nonce: string }>("select nonce from hop_nonces order by nonce");
      assert.deepEqual(
        rows.map((r) => r.nonce[0]),
        ["b", "c"],
      );
    } finally {
      await t.close();
    }
  });

  it("fails closed when the database is gone", async () => {
    const t = await freshDatabase("pglite");
    const store = createDbNonceStore(t.db);
    await t.close();
    const clock = fixedClock(Date.now());
    const signer = createHopSigner({ keyId: "k1", key: KEY, clock });
    const verifier = createHopVerifier({ keys: () => KEY, nonces: store, clock });
    const body = Buffer.from("{}");
    assert.deepEqual(await verifier.verify("POST", "/p", body, signer.sign("POST", "/p", body)), {
      ok: false,
      reason: "store_unavailable",
    });
  });
});

describe("redis nonce store", () => {
  it("expires nonces after the ttl", async () => {
    const store = createRedisNonceStore(redis(), `zm:test:${nonce()}:`);
    const n = nonce();
    assert.equal(await store.claim("k", n, 50), true);
    assert.equal(await store.claim("k", n, 50), false);
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(await store.claim("k", n, 50), true);
  });

  it("fails closed when Redis is unreachable", async () => {
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
    const clock = fixedClock(Date.now());
    const signer = createHopSigner({ keyId: "k1", key: KEY, clock });
    const rejected: string[] = [];
    const verifier = createHopVerifier({
      keys: () => KEY,
      nonces: createRedisNonceStore(down, "zm:test:down:"),
      clock,
      onRejected: (reason) => rejected.push(reason),
    });
    const body = Buffer.from("{}");
    assert.deepEqual(await verifier.verify("POST", "/p", body, signer.sign("POST", "/p", body)), {
      ok: false,
      reason: "store_unavailable",
    });
    assert.deepEqual(rejected, ["store_unavailable"]);
  });
});
