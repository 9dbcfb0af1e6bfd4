import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DRIVERS, freshDatabase, skipReason, type TestDatabase } from "../../test/support/db.ts";
import { isZenError, newId } from "../core/index.ts";
import { aesGcmOpen, randomBytes } from "../crypto/index.ts";
import { type MasterKeyRing, ZenLock } from "./index.ts";

const kek1 = randomBytes(32);
const kek2 = randomBytes(32);
const ring = (active: number, keys: [number, Buffer][]): MasterKeyRing => ({ active, keys: new Map(keys) });
const ring1 = ring(1, [[1, kek1]]);
const row = { table: "destinations", column: "secret", rowId: "dst_1" };
const cryptoFailed = (e: unknown) => isZenError(e) && e.code === "CRYPTO_FAILED";

for (const kind of DRIVERS) {
  describe(`zenlock on ${kind}`, { skip: skipReason(kind) }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await freshDatabase(kind);
    });
    after(async () => {
      await t?.close();
    });

    async function newTenant(lock: ZenLock): Promise<string> {
      const tenantId = newId("tenant");
      await t.db.withTenant(tenantId, async (tx) => {
        await tx.query("insert into tenants (id, name) values ($1, $2)", [tenantId, "Acme"]);
        await lock.createTenantKeys(tx, tenantId);
      });
      return tenantId;
    }

    test("a sealed value opens in the same tenant, table, column and row", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock);
      await t.db.withTenant(tenant, async (tx) => {
        const a = await lock.seal(tx, tenant, row, "whsec_s3cr3t");
        const b = await lock.seal(tx, tenant, row, "whsec_s3cr3t");
        assert.match(a, /^zl:v1:1:[A-Za-z0-9+/]+=*$/);
        assert.notEqual(a, b);
        assert.equal((await lock.open(tx, tenant, row, a)).toString("utf8"), "whsec_s3cr3t");
        const bytes = randomBytes(300);
        assert.deepEqual(await lock.open(tx, tenant, row, await lock.seal(tx, tenant, row, bytes)), bytes);
        assert.equal((await lock.open(tx, tenant, row, await lock.seal(tx, tenant, row, ""))).length, 0);
      });
      // A fresh instance (empty cache) reads the keys back from the database.
      const other = new ZenLock({ masterKeys: ring1 });
      const sealed = await t.db.withTenant(tenant, (tx) => lock.seal(tx, tenant, row, "x"));
      assert.equal(
        (await t.db.withTenant(tenant, (tx) => other.open(tx, tenant, row, sealed))).toString(),
        "x",
      );
    });

    test("a ciphertext moved to another row, column or table does not open", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock);
      await t.db.withTenant(tenant, async (tx) => {
        const sealed = await lock.seal(tx, tenant, row, "secret");
        for (const moved of [
          { ...row, rowId: "dst_2" },
          { ...row, column: "credentials" },
          { ...row, table: "sources" },
          // Field boundaries count: the same characters split differently are another place.
          { table: "destinations", column: "secretdst", rowId: "_1" },
        ]) {
          await assert.rejects(lock.open(tx, tenant, moved, sealed), cryptoFailed);
        }
      });
    });

    test("another tenant cannot open a tenant's ciphertext", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const a = await newTenant(lock);
      const b = await newTenant(lock);
      const sealed = await t.db.withTenant(a, (tx) => lock.seal(tx, a, row, "secret"));
      await t.db.withTenant(b, async (tx) => {
        await assert.rejects(lock.open(tx, b, row, sealed), cryptoFailed);
      });
      // Naming tenant A from inside B's fence is refused outright, even with A's key in the cache.
      const fresh = new ZenLock({ masterKeys: ring1 });
      await t.db.withTenant(b, async (tx) => {
        await assert.rejects(fresh.open(tx, a, row, sealed), /outside its tenant's transaction/);
      });
    });

    test("a cached key never opens another tenant's data from the wrong transaction", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const a = await newTenant(lock);
      const b = await newTenant(lock);
      // Seal and open in B: B's data key is now in the cache.
      const sealed = await t.db.withTenant(b, async (tx) => {
        const s = await lock.seal(tx, b, row, "tenant B's secret");
        await lock.open(tx, b, row, s);
        return s;
      });
      await t.db.withTenant(a, async (tx) => {
        await assert.rejects(lock.open(tx, b, row, sealed), /outside its tenant's transaction/);
        await assert.rejects(lock.seal(tx, b, row, "x"), /outside its tenant's transaction/);
        await assert.rejects(lock.fingerprintKey(tx, b), /outside its tenant's transaction/);
      });
      await assert.rejects(
        t.db.withGlobal((tx) => lock.open(tx, b, row, sealed)),
        /outside its tenant's transaction/,
      );
    });

    test("tampered, malformed or unknown-version ciphertexts fail with one generic error", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock);
      await t.db.withTenant(tenant, async (tx) => {
        const sealed = await lock.seal(tx, tenant, row, "secret");
        const body = Buffer.from(sealed.split(":")[3] ?? "", "base64");
        const flipped = Buffer.from(body);
        flipped[20] = (flipped[20] ?? 0) ^ 1;
        const bad = [
          `zl:v1:1:${flipped.toString("base64")}`,
          `zl:v1:2:${body.toString("base64")}`,
          `zl:v1:0:${body.toString("base64")}`,
          `zl:v1:1:${body.subarray(0, 27).toString("base64")}`,
          `zl:v1:1:${body.toString("base64")}x`,
          sealed.replace("zl:", "zz:"),
          "",
          "zl:v1:1:",
        ];
        for (const text of bad) {
          await assert.rejects(lock.open(tx, tenant, row, text), (e) => {
            assert.ok(cryptoFailed(e), text);
            assert.equal((e as Error).message, "A cryptographic operation failed.");
            return true;
          });
        }
      });
    });

    test("the stored wrapped key is the DEK sealed under the KEK, never the raw DEK", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock);
      const sealed = await t.db.withTenant(tenant, (tx) => lock.seal(tx, tenant, row, "secret"));
      const rows = await t.admin<{ purpose: string; version: number; wrapped: string; state: string }>(
        "select purpose, version, wrapped, state from tenant_keys where tenant_id = $1 order by purpose",
        [tenant],
      );
      assert.deepEqual(
        rows.map((r) => [r.purpose, r.version, r.state]),
        [
          ["data", 1, "active"],
          ["fingerprint", 1, "active"],
        ],
      );
      const data = rows[0]!;
      assert.match(data.wrapped, /^zl:v1:/);
      const dek = aesGcmOpen(
        kek1,
        Buffer.from(data.wrapped.slice("zl:v1:".length), "base64"),
        Buffer.from(`zenmesh/dek/v1|${tenant}|data|1`),
      );
      assert.equal(dek.length, 32);
      const stored = Buffer.from(data.wrapped.slice("zl:v1:".length), "base64");
      assert.equal(stored.includes(dek), false);
      for (const enc of ["hex", "base64", "base64url"] as const) {
        assert.equal(data.wrapped.includes(dek.toString(enc)), false);
      }
      // The data AAD is the JSON array the format documents.
      const aad = Buffer.from(JSON.stringify(["zenmesh/data/v1", tenant, row.table, row.column, row.rowId]));
      assert.equal(aesGcmOpen(dek, Buffer.from(sealed.split(":")[3]!, "base64"), aad).toString(), "secret");
      const fp = await t.db.withTenant(tenant, (tx) => lock.fingerprintKey(tx, tenant));
      assert.equal(fp.version, 1);
      assert.equal(fp.key.length, 32);
      assert.notDeepEqual(fp.key, dek);
      assert.equal(rows[1]!.wrapped.includes(fp.key.toString("base64")), false);
    });

    test("a key rotation keeps old ciphertexts readable and seals new ones under the new version", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock);
      const old = await t.db.withTenant(tenant, (tx) => lock.seal(tx, tenant, row, "old"));
      const fpBefore = await t.db.withTenant(tenant, (tx) => lock.fingerprintKey(tx, tenant));
      assert.equal(await t.db.withTenant(tenant, (tx) => lock.rotateTenantKey(tx, tenant, "data")), 2);
      assert.equal(await t.db.withTenant(tenant, (tx) => lock.rotateTenantKey(tx, tenant, "fingerprint")), 2);
      await t.db.withTenant(tenant, async (tx) => {
        const fresh = await lock.seal(tx, tenant, row, "new");
        assert.match(fresh, /^zl:v1:2:/);
        assert.equal((await lock.open(tx, tenant, row, old)).toString(), "old");
        assert.equal((await lock.open(tx, tenant, row, fresh)).toString(), "new");
        const fp = await lock.fingerprintKey(tx, tenant);
        assert.equal(fp.version, 2);
        assert.notDeepEqual(fp.key, fpBefore.key);
      });
      const states = await t.admin<{ version: number; state: string }>(
        "select version, state from tenant_keys where tenant_id = $1 and purpose = 'data' order by version",
        [tenant],
      );
      assert.deepEqual(
        states.map((s) => [s.version, s.state]),
        [
          [1, "retired"],
          [2, "active"],
        ],
      );
    });

    test("a rotation that rolls back leaves no trace in the cache", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock);
      await assert.rejects(
        t.db.withTenant(tenant, async (tx) => {
          await lock.rotateTenantKey(tx, tenant, "data");
          assert.match(await lock.seal(tx, tenant, row, "doomed"), /^zl:v1:2:/);
          throw new Error("roll back");
        }),
        /roll back/,
      );
      const sealed = await t.db.withTenant(tenant, (tx) => lock.seal(tx, tenant, row, "kept"));
      assert.match(sealed, /^zl:v1:1:/);
      const other = new ZenLock({ masterKeys: ring1 });
      assert.equal(
        (await t.db.withTenant(tenant, (tx) => other.open(tx, tenant, row, sealed))).toString(),
        "kept",
      );
    });

    test("after a KEK rotation and rewrap, a ring with only the new KEK still opens", async () => {
      const lock1 = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock1);
      const sealed = await t.db.withTenant(tenant, (tx) => lock1.seal(tx, tenant, row, "survives"));
      const lock12 = new ZenLock({
        masterKeys: ring(2, [
          [1, kek1],
          [2, kek2],
        ]),
      });
      assert.equal(await t.db.withTenant(tenant, (tx) => lock12.rewrap(tx, tenant)), 2);
      assert.equal(await t.db.withTenant(tenant, (tx) => lock12.rewrap(tx, tenant)), 0);
      const wrapped = await t.admin<{ wrapped: string }>(
        "select wrapped from tenant_keys where tenant_id = $1",
        [tenant],
      );
      assert.ok(wrapped.every((w) => w.wrapped.startsWith("zl:v2:")));
      const lock2 = new ZenLock({ masterKeys: ring(2, [[2, kek2]]) });
      await t.db.withTenant(tenant, async (tx) => {
        assert.equal((await lock2.open(tx, tenant, row, sealed)).toString(), "survives");
        const fresh = await lock2.seal(tx, tenant, row, "later");
        assert.match(fresh, /^zl:v2:1:/);
        assert.equal((await lock2.open(tx, tenant, row, fresh)).toString(), "later");
      });
      // The retired KEK alone no longer opens anything.
      const onlyOld = new ZenLock({ masterKeys: ring1 });
      await t.db.withTenant(tenant, async (tx) => {
        await assert.rejects(onlyOld.open(tx, tenant, row, sealed), cryptoFailed);
        await assert.rejects(
          onlyOld.seal(tx, tenant, row, "x"),
          (e) => isZenError(e) && e.code === "KEY_UNAVAILABLE",
        );
      });
    });

    test("a destroyed key stops opening once the tenant is forgotten", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const tenant = await newTenant(lock);
      const sealed = await t.db.withTenant(tenant, async (tx) => {
        const s = await lock.seal(tx, tenant, row, "shred me");
        await lock.open(tx, tenant, row, s);
        return s;
      });
      await t.admin("update tenant_keys set state = 'destroyed' where tenant_id = $1", [tenant]);
      // Until its TTL the cached key still opens; forgetTenant is what shredding calls.
      assert.equal(
        (await t.db.withTenant(tenant, (tx) => lock.open(tx, tenant, row, sealed))).toString(),
        "shred me",
      );
      lock.forgetTenant(tenant);
      await t.db.withTenant(tenant, async (tx) => {
        await assert.rejects(lock.open(tx, tenant, row, sealed), cryptoFailed);
        await assert.rejects(
          lock.seal(tx, tenant, row, "x"),
          (e) => isZenError(e) && e.code === "KEY_UNAVAILABLE",
        );
        await assert.rejects(
          lock.rotateTenantKey(tx, tenant, "data"),
          (e) => isZenError(e) && e.code === "KEY_UNAVAILABLE",
        );
      });
    });

    test("a tenant without keys cannot seal, and keys cannot be created twice", async () => {
      const lock = new ZenLock({ masterKeys: ring1 });
      const bare = newId("tenant");
      await t.db.withTenant(bare, async (tx) => {
        await tx.query("insert into tenants (id, name) values ($1, $2)", [bare, "Bare"]);
        await assert.rejects(
          lock.seal(tx, bare, row, "x"),
          (e) => isZenError(e) && e.code === "KEY_UNAVAILABLE",
        );
      });
      const tenant = await newTenant(lock);
      await assert.rejects(
        t.db.withTenant(tenant, (tx) => lock.createTenantKeys(tx, tenant)),
        (e) => isZenError(e) && e.code === "CONFLICT",
      );
    });
  });
}
