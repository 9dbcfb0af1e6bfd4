/**
 * Envelope encryption per tenant (ARCHITECTURE.md section 5). Each tenant has
 * data keys (DEKs) per purpose and version, stored only wrapped by a master
 * key (KEK) with AES-256-GCM, and every sealed value is bound by its AAD to
 * (tenant, table, column, row). Guards against a database leak revealing
 * secrets, against ciphertexts moved between tenants, rows or columns, and
 * against tampering; destroying a tenant's DEKs shreds its data.
 *
 * Every `tx` must already be fenced to `tenantId` (db.withTenant), so Row
 * Level Security is a second fence under the AAD.
 *
 * Unwrapped DEKs are cached per (tenant, purpose, version, KEK version) for a
 * short TTL; a key destroyed by another process stops opening here after at
 * most that TTL, or at once after forgetTenant(). Nothing read inside a
 * transaction that changed keys is cached, since that transaction may still
 * roll back.
 */
import { type Clock, type Result, systemClock, ZenError } from "../core/index.ts";
import { aesGcmOpen, aesGcmSeal, hkdfSha256, randomBytes } from "../crypto/index.ts";
import { assertFencedTo, isUniqueViolation, type Tx } from "../db/index.ts";
import { TtlCache } from "./cache.ts";
import {
  dataAad,
  dekAad,
  formatSealed,
  formatWrapped,
  KEY_PURPOSES,
  type KeyPurpose,
  parseSealed,
  parseWrapped,
  type SealContext,
} from "./format.ts";
import {
  assertContext,
  assertPurpose,
  assertTenant,
  type LoadFailure,
  loadFailed,
  openFailed,
} from "./guards.ts";
import { MASTER_KEY_LENGTH, type MasterKeyRing } from "./master-key.ts";

export interface ZenLockOptions {
  masterKeys: MasterKeyRing;
  clock?: Clock;
  /** Unwrapped DEKs kept in memory (default 10,000). */
  cacheMaxEntries?: number;
  /** How long an unwrapped DEK stays cached (default 60 s). */
  cacheTtlMs?: number;
}

const DEK_LENGTH = 32;

type Dek = { version: number; kekVersion: number; key: Buffer };
export class ZenLock {
  readonly #ring: MasterKeyRing;
  readonly #deks: TtlCache<Buffer>;
  readonly #active: TtlCache<{ version: number; kekVersion: number }>;
  // Transactions that created or changed keys: their reads may yet roll back.
  readonly #writers = new WeakSet<Tx>();
  readonly #fenced = new WeakMap<Tx, string>();

  constructor(opts: ZenLockOptions) {
    const ring = opts.masterKeys;
    const activeKey = ring.keys.get(ring.active);
    if (activeKey === undefined)
      throw new ZenError("CONFIG_INVALID", { message: "the active master key is missing" });
    for (const key of ring.keys.values()) {
      if (key.length !== MASTER_KEY_LENGTH) {
        throw new ZenError("CONFIG_INVALID", { message: "a master key is not 32 bytes" });
      }
    }
    this.#ring = { active: ring.active, keys: new Map(ring.keys) };
    const cacheOpts = {
      maxEntries: opts.cacheMaxEntries ?? 10_000,
      ttlMs: opts.cacheTtlMs ?? 60_000,
      clock: opts.clock ?? systemClock,
    };
    this.#deks = new TtlCache(cacheOpts);
    this.#active = new TtlCache(cacheOpts);
  }

  /**
   * Every call proves its transaction is fenced to the tenant it names (once
   * per transaction): a cached key must never let one tenant's transaction
   * open another tenant's data.
   */
  async #fence(tx: Tx, tenantId: string): Promise<void> {
    if (this.#fenced.get(tx) === tenantId) return;
    await assertFencedTo(tx, tenantId, "zenlock used");
    this.#fenced.set(tx, tenantId);
  }

  /** Generates version 1 of every purpose's DEK. Fails with CONFLICT if the tenant already has keys. */
  async createTenantKeys(tx: Tx, tenantId: string): Promise<void> {
    assertTenant(tenantId);
    await this.#fence(tx, tenantId);
    this.#writers.add(tx);
    for (const purpose of KEY_PURPOSES) await this.#insertDek(tx, tenantId, purpose, 1);
  }

  async seal(tx: Tx, tenantId: string, aad: SealContext, plaintext: string | Uint8Array): Promise<string> {
    assertTenant(tenantId);
    await this.#fence(tx, tenantId);
    assertContext(aad);
    const dek = await this.#activeDek(tx, tenantId, "data");
    const bytes = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
    return formatSealed(dek.kekVersion, dek.version, aesGcmSeal(dek.key, bytes, dataAad(tenantId, aad)));
  }

  /**
   * The header's KEK version is the one that wrapped the DEK when the value
   * was sealed; after a rewrap the DEK opens under the KEK stored with it.
   */
  async open(tx: Tx, tenantId: string, aad: SealContext, ciphertext: string): Promise<Buffer> {
    assertTenant(tenantId);
    await this.#fence(tx, tenantId);
    assertContext(aad);
    const parsed = typeof ciphertext === "string" ? parseSealed(ciphertext) : undefined;
    if (parsed === undefined) throw openFailed("malformed ciphertext");
    const cached = this.#cachedDek(tx, tenantId, "data", parsed.dekVersion, [
      parsed.kekVersion,
      this.#ring.active,
    ]);
    let key = cached;
    if (key === undefined) {
      const loaded = await this.#loadDek(tx, tenantId, "data", parsed.dekVersion);
      if (!loaded.ok) throw openFailed(loaded.reason);
      key = loaded.value.key;
    }
    return aesGcmOpen(key, parsed.sealed, dataAad(tenantId, aad));
  }

  /**
   * The key that seals pagination cursors: HKDF of the active master key,
   * for that use only. Rotating the master key refuses older cursors (a
   * client starts again from the first page); nothing is stored.
   */
  cursorKey(): Buffer {
    return hkdfSha256(this.#ring.keys.get(this.#ring.active)!, Buffer.alloc(0), "zenmesh/cursor/v1", 32);
  }

  /** The active fingerprint DEK (a copy: the caller may wipe it). */
  async fingerprintKey(tx: Tx, tenantId: string): Promise<{ version: number; key: Buffer }> {
    assertTenant(tenantId);
    await this.#fence(tx, tenantId);
    const dek = await this.#activeDek(tx, tenantId, "fingerprint");
    return { version: dek.version, key: Buffer.from(dek.key) };
  }

  /** Adds a new active version and retires the current one; returns the new version. */
  async rotateTenantKey(tx: Tx, tenantId: string, purpose: KeyPurpose): Promise<number> {
    assertTenant(tenantId);
    await this.#fence(tx, tenantId);
    assertPurpose(purpose);
    this.#writers.add(tx);
    const rows = await tx.query<{ version: number; state: string }>(
      `select version, state from tenant_keys where tenant_id = $1 and purpose = $2
        order by version desc for update`,
      [tenantId, purpose],
    );
    const latest = rows.rows[0];
    // A tenant without keys, or one whose keys were destroyed, gets none by rotation.
    if (latest === undefined || rows.rows.every((r) => r.state === "destroyed")) throw loadFailed("missing");
    const next = Number(latest.version) + 1;
    await tx.query(
      "update tenant_keys set state = 'retired' where tenant_id = $1 and purpose = $2 and state = 'active'",
      [tenantId, purpose],
    );
    await this.#insertDek(tx, tenantId, purpose, next);
    this.#active.deletePrefix(this.#cacheKey(tenantId, purpose));
    return next;
  }

  /** Re-wraps the tenant's DEKs that are not under the active KEK; returns how many it re-wrapped. */
  async rewrap(tx: Tx, tenantId: string): Promise<number> {
    assertTenant(tenantId);
    await this.#fence(tx, tenantId);
    this.#writers.add(tx);
    const rows = await tx.query<{ purpose: KeyPurpose; version: number; wrapped: string }>(
      `select purpose, version, wrapped from tenant_keys
        where tenant_id = $1 and state <> 'destroyed' order by purpose, version for update`,
      [tenantId],
    );
    const activeKek = this.#activeKek();
    let count = 0;
    for (const row of rows.rows) {
      const version = Number(row.version);
      const parsed = parseWrapped(row.wrapped);
      if (parsed?.kekVersion === this.#ring.active) continue;
      const unwrapped = this.#unwrap(tenantId, row.purpose, version, row.wrapped);
      if (!unwrapped.ok) throw loadFailed(unwrapped.reason);
      const aad = dekAad(tenantId, row.purpose, version);
      const wrapped = formatWrapped(this.#ring.active, aesGcmSeal(activeKek, unwrapped.value.key, aad));
      await tx.query(
        "update tenant_keys set wrapped = $4 where tenant_id = $1 and purpose = $2 and version = $3",
        [tenantId, row.purpose, version, wrapped],
      );
      count++;
    }
    if (count > 0) this.forgetTenant(tenantId);
    return count;
  }

  /** Drops every cached key of the tenant (after shredding or rotation elsewhere). */
  forgetTenant(tenantId: string): void {
    const prefix = `${JSON.stringify([tenantId]).slice(0, -1)},`;
    this.#deks.deletePrefix(prefix);
    this.#active.deletePrefix(prefix);
  }

  #cacheKey(tenantId: string, ...rest: (string | number)[]): string {
    return JSON.stringify([tenantId, ...rest]);
  }

  #activeKek(): Buffer {
    const key = this.#ring.keys.get(this.#ring.active);
    if (key === undefined) throw loadFailed("kek_unavailable");
    return key;
  }

  async #insertDek(tx: Tx, tenantId: string, purpose: KeyPurpose, version: number): Promise<void> {
    const dek = randomBytes(DEK_LENGTH);
    const wrapped = formatWrapped(
      this.#ring.active,
      aesGcmSeal(this.#activeKek(), dek, dekAad(tenantId, purpose, version)),
    );
    dek.fill(0);
    try {
      await tx.query(
        "insert into tenant_keys (tenant_id, purpose, version, wrapped, state) values ($1, $2, $3, $4, 'active')",
        [tenantId, purpose, version, wrapped],
      );
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new ZenError("CONFLICT", { message: "The tenant key version already exists.", cause: err });
      }
      throw err;
    }
  }

  #cachedDek(
    tx: Tx,
    tenantId: string,
    purpose: KeyPurpose,
    version: number,
    kekVersions: number[],
  ): Buffer | undefined {
    if (this.#writers.has(tx)) return undefined;
    for (const kek of kekVersions) {
      const hit = this.#deks.get(this.#cacheKey(tenantId, purpose, version, kek));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  async #activeDek(tx: Tx, tenantId: string, purpose: KeyPurpose): Promise<Dek> {
    if (!this.#writers.has(tx)) {
      const pointer = this.#active.get(this.#cacheKey(tenantId, purpose));
      if (pointer !== undefined) {
        const key = this.#deks.get(this.#cacheKey(tenantId, purpose, pointer.version, pointer.kekVersion));
        if (key !== undefined) return { ...pointer, key };
      }
    }
    const loaded = await this.#loadDek(tx, tenantId, purpose, undefined);
    if (!loaded.ok) throw loadFailed(loaded.reason);
    if (!this.#writers.has(tx)) {
      const { version, kekVersion } = loaded.value;
      this.#active.set(this.#cacheKey(tenantId, purpose), { version, kekVersion });
    }
    return loaded.value;
  }

  /** A given version (any state but destroyed), or the highest active one when `version` is undefined. */
  async #loadDek(
    tx: Tx,
    tenantId: string,
    purpose: KeyPurpose,
    version: number | undefined,
  ): Promise<Result<Dek, LoadFailure>> {
    const r =
      version === undefined
        ? await tx.query<{ version: number; wrapped: string }>(
            `select version, wrapped from tenant_keys
              where tenant_id = $1 and purpose = $2 and state = 'active' order by version desc limit 1`,
            [tenantId, purpose],
          )
        : await tx.query<{ version: number; wrapped: string }>(
            `select version, wrapped from tenant_keys
              where tenant_id = $1 and purpose = $2 and version = $3 and state <> 'destroyed'`,
            [tenantId, purpose, version],
          );
    const row = r.rows[0];
    if (row === undefined) return { ok: false, reason: "missing" };
    const unwrapped = this.#unwrap(tenantId, purpose, Number(row.version), row.wrapped);
    if (unwrapped.ok && !this.#writers.has(tx)) {
      const dek = unwrapped.value;
      this.#deks.set(this.#cacheKey(tenantId, purpose, dek.version, dek.kekVersion), dek.key);
    }
    return unwrapped;
  }

  #unwrap(tenantId: string, purpose: KeyPurpose, version: number, wrapped: string): Result<Dek, LoadFailure> {
    const parsed = parseWrapped(wrapped);
    if (parsed === undefined) return { ok: false, reason: "unwrap_failed" };
    const kek = this.#ring.keys.get(parsed.kekVersion);
    if (kek === undefined) return { ok: false, reason: "kek_unavailable" };
    let key: Buffer;
    try {
      key = aesGcmOpen(kek, parsed.sealed, dekAad(tenantId, purpose, version));
    } catch {
      return { ok: false, reason: "unwrap_failed" };
    }
    if (key.length !== DEK_LENGTH) return { ok: false, reason: "unwrap_failed" };
    return { ok: true, value: { version, kekVersion: parsed.kekVersion, key } };
  }
}
