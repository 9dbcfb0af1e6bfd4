/**
 * Test helpers: what persisting needs with a fresh master key, a tenant with
 * one source, a source written straight to the tables (row and directory
 * entry) without the sources API, and a well-formed ingest item to vary.
 */
import { type Clock, newId, systemClock } from "../../core/index.ts";
import type { Database } from "../../db/index.ts";
import { createTenant, type TenancyDeps } from "../../tenancy/index.ts";
import { generateMasterKey, parseMasterKeyRing, ZenLock } from "../../zenlock/index.ts";
import type { IngestItem } from "../types.ts";
import type { PersistDeps } from "./persist.ts";

/** Persist and tenancy dependencies on `db`, under a master key made for the run. */
export function testIngestDeps(db: Database, clock: Clock = systemClock): PersistDeps & TenancyDeps {
  return {
    db,
    zenlock: new ZenLock({ masterKeys: parseMasterKeyRing(generateMasterKey(), "test"), clock }),
    clock,
    apiKeyEnvironment: "test",
    sessions: { idleTimeoutSeconds: 1800, absoluteTimeoutSeconds: 43_200 },
  };
}

/** A tenant made through the tenancy code, with one source written straight to the tables. */
export async function createTestTenant(
  deps: TenancyDeps,
  name: string,
): Promise<{ tenantId: string; projectId: string; sourceId: string }> {
  const created = await createTenant(deps, {
    name,
    correlationId: newId("correlation"),
    actor: { type: "operator", id: "test" },
  });
  return { ...created, sourceId: await insertTestSource(deps.db, created.tenantId, created.projectId) };
}

export interface TestSourceOptions {
  enabled?: boolean;
  toleranceSeconds?: number;
  /** Marks the directory entry deleted (the row stays). */
  deleted?: boolean;
}

export async function insertTestSource(
  db: Database,
  tenantId: string,
  projectId: string,
  opts: TestSourceOptions = {},
): Promise<string> {
  const id = newId("source");
  await db.withTenant(tenantId, async (tx) => {
    await tx.query(
      `insert into sources (id, tenant_id, project_id, name, scheme, enabled, tolerance_seconds)
       values ($1, $2, $3, 'test source', 'generic-hmac', $4, $5)`,
      [id, tenantId, projectId, opts.enabled ?? true, opts.toleranceSeconds ?? 300],
    );
    await tx.query(
      `insert into source_directory (source_id, tenant_id, revision, deleted)
       values ($1, $2, nextval('source_revision_seq'), $3)`,
      [id, tenantId, opts.deleted ?? false],
    );
  });
  return id;
}

export interface TestItemOptions extends Partial<Omit<IngestItem, "body" | "ce">> {
  /** The body as text (UTF-8); default a fresh JSON document, so items do not deduplicate by accident. */
  text?: string;
  ce?: Partial<IngestItem["ce"]>;
}

export function testItem(sourceId: string, now: Date, opts: TestItemOptions = {}): IngestItem {
  const { text, ce, ...rest } = opts;
  return {
    sourceId,
    receivedAt: now.toISOString(),
    correlationId: newId("correlation"),
    contentType: "application/json",
    body: Buffer.from(text ?? JSON.stringify({ n: newId("event") }), "utf8").toString("base64"),
    deliveryId: newId("delivery"),
    signature: `sha256=${newId("delivery")}`,
    ...rest,
    ce: {
      type: "com.example.test",
      subject: null,
      time: now.toISOString(),
      dataschema: null,
      extensions: {},
      ...ce,
    },
  };
}
