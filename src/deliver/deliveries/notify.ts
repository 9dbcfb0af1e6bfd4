/**
 * zenmesh's own notifications as CloudEvents in the project's event stream:
 * stored (sealed) like any event, and delivered through the same path, so
 * they are signed, SSRF-checked, retried and replayable. The pseudo-source
 * `zenmesh` names them; only subscriptions that name their type receive them.
 */
import { newId } from "../../core/index.ts";
import type { Tx } from "../../db/index.ts";
import { buildEnvelope } from "../../ingest/cloudevents/index.ts";
import { fingerprint } from "../../ingest/store/fingerprint.ts";
import type { ZenLock } from "../../zenlock/index.ts";
import { type ExpandDeps, expandDeliveries } from "./expand.ts";

export type SystemEventDeps = ExpandDeps & { zenlock: ZenLock };

export const SYSTEM_SOURCE_ID = "zenmesh";

export async function emitSystemEvent(
  deps: SystemEventDeps,
  tx: Tx,
  e: {
    tenantId: string;
    projectId: string;
    type: string;
    subject: string;
    correlationId: string;
    aboutDestination?: string;
    data: Record<string, unknown>;
    now: Date;
  },
): Promise<string> {
  const id = newId("event");
  const body = Buffer.from(JSON.stringify(e.data), "utf8");
  const contentType = "application/json";
  const fpKey = await deps.zenlock.fingerprintKey(tx, e.tenantId);
  let fp: Buffer;
  try {
    fp = fingerprint(fpKey.key, SYSTEM_SOURCE_ID, contentType, Buffer.concat([Buffer.from(id), body]));
  } finally {
    fpKey.key.fill(0);
  }
  const sealed = await deps.zenlock.seal(
    tx,
    e.tenantId,
    { table: "events", column: "payload", rowId: id },
    body,
  );
  await tx.query(
    `insert into events (id, tenant_id, project_id, source_id, type, subject, time, datacontenttype, ce_source,
       received_at, correlation_id, fingerprint, fingerprint_version, payload_sealed, payload_bytes)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7, $10, $11, $12, $13, $14)`,
    [
      id,
      e.tenantId,
      e.projectId,
      SYSTEM_SOURCE_ID,
      e.type,
      e.subject,
      e.now,
      contentType,
      `/projects/${e.projectId}/sources/${SYSTEM_SOURCE_ID}`,
      e.correlationId,
      fp,
      fpKey.version,
      sealed,
      body.length,
    ],
  );
  const envelope = buildEnvelope({
    eventId: id,
    projectId: e.projectId,
    sourceId: SYSTEM_SOURCE_ID,
    type: e.type,
    subject: e.subject,
    time: e.now,
    datacontenttype: contentType,
    correlationId: e.correlationId,
  });
  await expandDeliveries(
    deps,
    tx,
    e.tenantId,
    [
      {
        envelope,
        projectId: e.projectId,
        sourceId: SYSTEM_SOURCE_ID,
        payload: body.toString("base64"),
        system: e.aboutDestination === undefined ? {} : { aboutDestination: e.aboutDestination },
      },
    ],
    e.now,
    { fastPath: false },
  );
  return id;
}
