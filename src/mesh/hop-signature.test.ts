import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { fixedClock } from "../core/index.ts";
import { deriveHopKey, deriveMasterHopKey, SYSTEM_HOP_TENANT } from "./hop-keys.ts";
import {
  createHopSigner,
  createHopVerifier,
  type HopRejectReason,
  hopSignedString,
  parseHopSignature,
} from "./hop-signature.ts";
import type { NonceStore } from "./nonce-store.ts";

const T0 = "2030-01-01T00:00:00Z";
const KEY = Buffer.alloc(32, 7);

function memoryNonces(): NonceStore & { claims: number } {
  const seen = new Set<string>();
  return {
    claims: 0,
    async claim(signer, nonce) {
      this.claims++;
      const k = `${signer}\u0000${nonce}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    },
  };
}

function setup(opts: { nonces?: NonceStore } = {}) {
  const clock = fixedClock(T0);
  const nonces = opts.nonces ?? memoryNonces();
  const rejected: HopRejectReason[] = [];
  const signer = createHopSigner({ keyId: "ingester-v1", key: KEY, clock });
  const verifier = createHopVerifier({
    keys: (k) => (k === "ingester-v1" ? KEY : undefined),
    nonces,
    clock,
    onRejected: (reason) => rejected.push(reason),
  });
  return { clock, signer, verifier, rejected, nonces };
}

const body = Buffer.from('{"event":"evt_1"}');

// RFC 5869 written out with HMAC, independent of node's hkdfSync.
function hkdfByHand(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Buffer {
  const prk = createHmac("sha256", salt.byteLength === 0 ? Buffer.alloc(32) : salt)
    .update(ikm)
    .digest();
  let t = Buffer.alloc(0);
  const out: Buffer[] = [];
  for (let i = 1; Buffer.concat(out).byteLength < length; i++) {
    t = createHmac("sha256", prk)
      .update(Buffer.concat([t, Buffer.from(info), Buffer.from([i])]))
      .digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

describe("hop keys", () => {
  it("derives per-tenant, per-cluster keys with HKDF-SHA256 as ARCHITECTURE section 5 specifies", () => {
    const master = Buffer.alloc(32, 1);
    const k = deriveHopKey(master, SYSTEM_HOP_TENANT, "ingester");
    assert.deepEqual(k, hkdfByHand(master, Buffer.from("_system"), "zenmesh/hop/v1/ingester", 32));
    assert.notDeepEqual(k, deriveHopKey(master, SYSTEM_HOP_TENANT, "egress"));
    assert.notDeepEqual(k, deriveHopKey(master, "tnt_other", "ingester"));
  });

  it("derives the master hop key from the active master key, so rotating the master key rotates hop keys", () => {
    const keys = new Map([
      [1, Buffer.alloc(32, 1)],
      [2, Buffer.alloc(32, 2)],
    ]);
    const v1 = deriveMasterHopKey({ active: 1, keys });
    assert.deepEqual(v1, hkdfByHand(Buffer.alloc(32, 1), Buffer.alloc(0), "zenmesh/hop-master/v1", 32));
    assert.notDeepEqual(v1, deriveMasterHopKey({ active: 2, keys }));
    assert.throws(() => deriveMasterHopKey({ active: 3, keys }), { code: "KEY_UNAVAILABLE" });
  });

  it("refuses short master hop keys and malformed labels", () => {
    assert.throws(() => deriveHopKey(Buffer.alloc(8), "_system", "ingester"), { code: "KEY_UNAVAILABLE" });
    assert.throws(() => deriveHopKey(Buffer.alloc(32), "", "ingester"));
    assert.throws(() => deriveHopKey(Buffer.alloc(32), "_system", "a\nb"));
  });
});

describe("X-Zen-Signature", () => {
  it("formats t, n (128-bit base64url), k and v1 over the canonical string", () => {
    const { signer } = setup();
    const header = signer.sign("post", "/internal/events?x=1", body);
    assert.match(header, /^t=\d+,n=[A-Za-z0-9_-]{22},k=ingester-v1,v1=[A-Za-z0-9_-]{43}$/);
    const parts = parseHopSignature(header);
    assert.ok(parts);
    assert.equal(parts.timestamp, Date.parse(T0) / 1000);
    const expected = createHmac("sha256", KEY)
      .update(
        `v1\nPOST\n/internal/events?x=1\n${parts.timestamp}\n${parts.nonce}\n` +
          createHash("sha256").update(body).digest("hex"),
      )
      .digest();
    assert.deepEqual(parts.mac, expected);
    assert.equal(
      hopSignedString("post", "/p", 1, "n", Buffer.alloc(0)),
      "v1\nPOST\n/p\n1\nn\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });

  it("draws a fresh nonce for every signature", () => {
    const { signer } = setup();
    const a = parseHopSignature(signer.sign("POST", "/p", body));
    const b = parseHopSignature(signer.sign("POST", "/p", body));
    assert.notEqual(a?.nonce, b?.nonce);
  });

  it("accepts a fresh signature once and refuses the replay", async () => {
    const { signer, verifier, rejected } = setup();
    const header = signer.sign("POST", "/internal/events", body);
    const first = await verifier.verify("POST", "/internal/events", body, header);
    assert.deepEqual(first.ok && first.value.keyId, "ingester-v1");
    assert.deepEqual(await verifier.verify("POST", "/internal/events", body, header), {
      ok: false,
      reason: "replayed",
    });
    assert.deepEqual(rejected, ["replayed"]);
  });

  it("refuses signatures older or newer than the tolerance, and accepts the edges", async () => {
    const { clock, signer, verifier } = setup();
    const t0 = Date.parse(T0);
    const signedAtT0 = () => {
      clock.set(new Date(t0));
      return signer.sign("POST", "/p", body);
    };
    const at = async (offsetS: number) => {
      const header = signedAtT0();
      clock.set(new Date(t0 + offsetS * 1000));
      return verifier.verify("POST", "/p", body, header);
    };
    assert.deepEqual(await at(301), { ok: false, reason: "stale" });
    assert.deepEqual(await at(-301), { ok: false, reason: "future" });
    assert.equal((await at(300)).ok, true);
    assert.equal((await at(-300)).ok, true);
  });

  it("remembers a nonce for longer than the widest window in which its timestamp is accepted", async () => {
    // A nonce store that forgets a nonce when its ttl has run out, by the test's clock.
    const clock = fixedClock(T0);
    const expiries = new Map<string, number>();
    const nonces: NonceStore = {
      async claim(signer, nonce, ttlMs) {
        const k = `${signer}\u0000${nonce}`;
        const now = clock.now().getTime();
        const until = expiries.get(k);
        if (until !== undefined && until > now) return false;
        expiries.set(k, now + ttlMs);
        return true;
      },
    };
    const tolerance = 300;
    const verifier = createHopVerifier({
      keys: (k) => (k === "ingester-v1" ? KEY : undefined),
      nonces,
      clock,
      toleranceSeconds: tolerance,
    });
    const t0 = Date.parse(T0);
    // Signed by a clock running `tolerance` seconds ahead: the earliest moment the verifier accepts it.
    const ahead = fixedClock(t0 + tolerance * 1000);
    const header = createHopSigner({ keyId: "ingester-v1", key: KEY, clock: ahead }).sign("POST", "/p", body);
    assert.equal((await verifier.verify("POST", "/p", body, header)).ok, true);
    // The timestamp stays acceptable until the verifier's whole second passes t + tolerance,
    // that is for 2 × tolerance seconds plus the rest of the last second.
    clock.set(new Date(t0 + 2 * tolerance * 1000 + 999));
    assert.deepEqual(await verifier.verify("POST", "/p", body, header), { ok: false, reason: "replayed" });
    clock.set(new Date(t0 + 2 * tolerance * 1000 + 1000));
    assert.deepEqual(await verifier.verify("POST", "/p", body, header), { ok: false, reason: "stale" });
  });

  it("refuses a one-byte change to the body, the method, the path or the query", async () => {
    const { signer, verifier } = setup();
    const header = signer.sign("POST", "/internal/events?a=1", body);
    const flipped = Buffer.from(body);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    for (const [m, p, b] of [
      ["POST", "/internal/events?a=1", flipped],
      ["PUT", "/internal/events?a=1", body],
      ["POST", "/internal/event?a=1", body],
      ["POST", "/internal/events?a=2", body],
    ] as const) {
      assert.deepEqual(await verifier.verify(m, p, b, header), { ok: false, reason: "bad_signature" });
    }
    assert.equal((await verifier.verify("POST", "/internal/events?a=1", body, header)).ok, true);
  });

  it("refuses a signature made with the wrong key, and an unknown key id", async () => {
    const { clock, verifier } = setup();
    const wrong = createHopSigner({ keyId: "ingester-v1", key: Buffer.alloc(32, 8), clock });
    assert.deepEqual(await verifier.verify("POST", "/p", body, wrong.sign("POST", "/p", body)), {
      ok: false,
      reason: "bad_signature",
    });
    const unknown = createHopSigner({ keyId: "egress-v1", key: KEY, clock });
    assert.deepEqual(await verifier.verify("POST", "/p", body, unknown.sign("POST", "/p", body)), {
      ok: false,
      reason: "unknown_key",
    });
  });

  it("refuses a key the caller does not own before spending a nonce on it", async () => {
    const { signer, verifier, nonces } = setup();
    const header = signer.sign("POST", "/p", body);
    const own = (k: string) => k === "egress-v1";
    assert.deepEqual(await verifier.verify("POST", "/p", body, header, own), {
      ok: false,
      reason: "foreign_key",
    });
    assert.equal((nonces as ReturnType<typeof memoryNonces>).claims, 0);
    assert.equal((await verifier.verify("POST", "/p", body, header, (k) => k === "ingester-v1")).ok, true);
  });

  it("refuses missing and malformed headers", async () => {
    const { signer, verifier } = setup();
    const good = signer.sign("POST", "/p", body);
    assert.deepEqual(await verifier.verify("POST", "/p", body, undefined), { ok: false, reason: "missing" });
    for (const bad of [
      "garbage",
      good.replace(/n=[^,]+/, "n=short"),
      good.replace(/t=\d+/, "t=-5"),
      `${good},v1=${"A".repeat(43)}`,
      `${good},x=1`,
      good.replace(/,k=[^,]+/, ""),
      good.replace(/v1=[^,]+/, `v1=${"A".repeat(42)}`),
    ]) {
      assert.deepEqual(
        await verifier.verify("POST", "/p", body, bad),
        { ok: false, reason: "malformed" },
        bad,
      );
    }
  });

  it("claims the nonce only after the signature verifies, so forgeries cannot burn nonces", async () => {
    const nonces = memoryNonces();
    const { signer, verifier } = setup({ nonces });
    const header = signer.sign("POST", "/p", body);
    const forged = header.replace(/v1=.*/, `v1=${Buffer.alloc(32).toString("base64url")}`);
    assert.deepEqual(await verifier.verify("POST", "/p", body, forged), {
      ok: false,
      reason: "bad_signature",
    });
    assert.equal(nonces.claims, 0);
    assert.equal((await verifier.verify("POST", "/p", body, header)).ok, true);
  });

  it("fails closed when the nonce store errors or hangs", async () => {
    const clock = fixedClock(T0);
    const signer = createHopSigner({ keyId: "k", key: KEY, clock });
    for (const nonces of [
      { claim: async () => Promise.reject(new Error("down")) },
      { claim: () => new Promise<boolean>(() => {}) },
    ]) {
      const verifier = createHopVerifier({ keys: () => KEY, nonces, clock, storeTimeoutMs: 50 });
      assert.deepEqual(await verifier.verify("POST", "/p", body, signer.sign("POST", "/p", body)), {
        ok: false,
        reason: "store_unavailable",
      });
    }
  });
});
