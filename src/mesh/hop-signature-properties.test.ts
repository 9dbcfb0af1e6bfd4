/**
 * Property tests for the signed-hop header: parseHopSignature never throws
 * and is the inverse of formatHopSignature; a signature made for any
 * method, path and body verifies, and any change to what it covers fails;
 * the verifier answers every header with a reason, never an exception.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { fixedClock } from "../core/index.ts";
import {
  createHopSigner,
  createHopVerifier,
  formatHopSignature,
  type HopSignatureParts,
  parseHopSignature,
} from "./hop-signature.ts";
import type { NonceStore } from "./nonce-store.ts";

const RUNS = 300;
const KEY = Buffer.alloc(32, 9);
const KEY_ID = "system/ingester";

function memoryNonces(): NonceStore {
  const seen = new Set<string>();
  return {
    async claim(signer, nonce) {
      const k = `${signer}\u0000${nonce}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    },
  };
}

const parts: fc.Arbitrary<HopSignatureParts> = fc
  .tuple(
    fc.integer({ min: 0, max: 999_999_999_999 }),
    fc.stringMatching(/^[A-Za-z0-9_-]{22,128}$/),
    fc.stringMatching(/^[A-Za-z0-9._:/-]{1,128}$/),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
  )
  .map(([timestamp, nonce, keyId, mac]) => ({ timestamp, nonce, keyId, mac: Buffer.from(mac) }));

/** Header-like text: real fields, shuffled, repeated, padded or broken, and plain garbage. */
const headerish = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  parts.map(formatHopSignature),
  fc
    .tuple(
      parts,
      fc.array(fc.constantFrom("t", "n", "k", "v1", "v2", "", " t", "T"), { minLength: 0, maxLength: 6 }),
      fc.string({ maxLength: 10 }),
    )
    .map(([p, extra, junk]) => {
      const fields = formatHopSignature(p).split(",");
      for (const name of extra) fields.push(`${name}=${junk}`);
      return fields.reverse().join(",");
    }),
  fc.string({ maxLength: 600 }),
);

describe("the hop signature header", () => {
  test("parse never throws, and whatever it accepts is well-formed", () => {
    fc.assert(
      fc.property(headerish, (h) => {
        const p = parseHopSignature(h);
        if (p === undefined) return;
        assert.equal(p.mac.byteLength, 32);
        assert.ok(Number.isSafeInteger(p.timestamp) && p.timestamp >= 0);
        assert.match(p.nonce, /^[A-Za-z0-9_-]{22,128}$/);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  test("format then parse is the identity", () => {
    fc.assert(
      fc.property(parts, (p) => {
        assert.deepEqual(parseHopSignature(formatHopSignature(p)), p);
      }),
      { numRuns: RUNS },
    );
  });

  test("parse then format then parse is stable (the formatted header is the canonical one)", () => {
    fc.assert(
      fc.property(headerish, (h) => {
        const p = parseHopSignature(h);
        if (p !== undefined) assert.deepEqual(parseHopSignature(formatHopSignature(p)), p);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("signing and verifying hops", () => {
  const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "get");
  const path = fc.stringMatching(/^\/[\x21-\x7e]{0,80}$/);
  const body = fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b));

  test("a signature for any method, path and body verifies, once; a change to any of them fails", async () => {
    const clock = fixedClock("2030-01-01T00:00:00Z");
    const signer = createHopSigner({ keyId: KEY_ID, key: KEY, clock });
    const verifier = createHopVerifier({
      keys: (k) => (k === KEY_ID ? KEY : undefined),
      nonces: memoryNonces(),
      clock,
    });
    await fc.assert(
      fc.asyncProperty(method, path, body, fc.nat(2), async (m, p, b, what) => {
        const header = signer.sign(m, p, b);
        const tampered =
          what === 0
            ? { m: m === "POST" ? "PUT" : "POST", p, b }
            : what === 1
              ? { m, p: `${p}x`, b }
              : { m, p, b: Buffer.concat([b, Buffer.from([0])]) };
        const bad = await verifier.verify(tampered.m, tampered.p, tampered.b, header);
        assert.deepEqual(bad, { ok: false, reason: "bad_signature" });
        const ok = await verifier.verify(m, p, b, header);
        assert.ok(ok.ok, `${m} ${p}: ${ok.ok ? "" : ok.reason}`);
        assert.equal(ok.value.keyId, KEY_ID);
        assert.deepEqual(await verifier.verify(m, p, b, header), { ok: false, reason: "replayed" });
      }),
      { numRuns: RUNS },
    );
  });

  test("a header re-formatted with another timestamp or nonce no longer verifies", async () => {
    const clock = fixedClock("2030-01-01T00:00:00Z");
    const signer = createHopSigner({ keyId: KEY_ID, key: KEY, clock });
    const verifier = createHopVerifier({
      keys: (k) => (k === KEY_ID ? KEY : undefined),
      nonces: memoryNonces(),
      clock,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -300, max: 300 }).filter((d) => d !== 0),
        fc.boolean(),
        async (delta, nonce) => {
          const header = signer.sign("POST", "/internal/events", Buffer.from("{}"));
          const p = parseHopSignature(header)!;
          const moved = nonce
            ? { ...p, nonce: `${p.nonce.slice(0, -1)}${p.nonce.endsWith("A") ? "B" : "A"}` }
            : { ...p, timestamp: p.timestamp + delta };
          const r = await verifier.verify(
            "POST",
            "/internal/events",
            Buffer.from("{}"),
            formatHopSignature(moved),
          );
          assert.deepEqual(r, { ok: false, reason: "bad_signature" });
        },
      ),
      { numRuns: RUNS },
    );
  });

  test("any header at all gets a reason, never an exception", async () => {
    const verifier = createHopVerifier({
      keys: (k) => (k === KEY_ID ? KEY : undefined),
      nonces: memoryNonces(),
      clock: fixedClock("2030-01-01T00:00:00Z"),
    });
    await fc.assert(
      fc.asyncProperty(fc.option(headerish, { nil: undefined }), async (h) => {
        const r = await verifier.verify("POST", "/internal/events", Buffer.from("{}"), h);
        assert.equal(r.ok, false);
      }),
      { numRuns: RUNS },
    );
  });
});
