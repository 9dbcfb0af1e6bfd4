/**
 * Destinations as the delivery engine needs them. Opens only the ZenLock
 * layer of the credentials and signing secrets: what leaves here are boxes
 * sealed to egress, which the backend cannot open, so handing them to egress
 * reveals nothing to the backend or to anything on the way.
 */
import type { Tx } from "../../db/index.ts";
import type { ZenLock } from "../../zenlock/index.ts";
import { MAX_SIGNING_SECRETS } from "../signing.ts";
import type { DispatchDestination as WireDestination } from "../types.ts";
import { credentialsSeal, openOuter, secretSeal } from "./credentials.ts";

/**
 * The wire shape egress receives (`credentials` the box itself, each of
 * `secrets` `v<version>:<box>`, since the version is part of the box's AAD),
 * plus what the backend decides with.
 */
export type DispatchDestination = WireDestination & {
  projectId: string;
  fifo: boolean;
  enabled: boolean;
  retrySchedule: number[];
  retryAfterCapSeconds: number;
  autoReplay: boolean;
};

interface Row {
  id: string;
  project_id: string;
  url: string;
  method: WireDestination["method"];
  headers: Record<string, string>;
  timeout_ms: number;
  format: WireDestination["format"];
  max_in_flight: number;
  rate_limit_per_second: number | null;
  fifo: boolean;
  enabled: boolean;
  allow_plain_http: boolean;
  credentials_sealed: string | null;
  retry_schedule: number[];
  retry_after_cap_seconds: number;
  auto_replay: boolean;
}

/** These destinations of the tenant (missing ids are absent from the map), with every secret that signs at `now`. */
export async function loadDestinationsForDispatch(
  deps: { zenlock: ZenLock },
  tx: Tx,
  tenantId: string,
  ids: readonly string[],
  now: Date,
): Promise<Map<string, DispatchDestination>> {
  const out = new Map<string, DispatchDestination>();
  if (ids.length === 0) return out;
  const rows = await tx.query<Row>(
    `select id, project_id, url, method, headers, timeout_ms, format, max_in_flight, rate_limit_per_second, fifo,
       enabled, allow_plain_http, credentials_sealed, retry_schedule, retry_after_cap_seconds, auto_replay
       from destinations where tenant_id = $1 and id = any($2::text[])`,
    [tenantId, ids],
  );
  const secrets = await tx.query<{ destination_id: string; version: number; sealed: string }>(
    `select destination_id, version, sealed from destination_secrets
      where tenant_id = $1 and destination_id = any($2::text[]) and (expires_at is null or expires_at > $3)
      order by destination_id, version desc`,
    [tenantId, ids, now],
  );
  for (const r of rows.rows) {
    const boxes: string[] = [];
    for (const s of secrets.rows) {
      if (s.destination_id !== r.id || boxes.length === MAX_SIGNING_SECRETS) continue;
      // The version travels beside its box: it is part of the box's AAD.
      const inner = await openOuter(
        deps.zenlock,
        tx,
        tenantId,
        secretSeal(r.id, Number(s.version)),
        s.sealed,
      );
      boxes.push(`v${Number(s.version)}:${inner}`);
    }
    out.set(r.id, {
      id: r.id,
      tenantId,
      projectId: r.project_id,
      url: r.url,
      method: r.method,
      headers: { ...r.headers },
      timeoutMs: Number(r.timeout_ms),
      format: r.format,
      maxInFlight: Number(r.max_in_flight),
      rateLimitPerSecond: r.rate_limit_per_second === null ? null : Number(r.rate_limit_per_second),
      fifo: r.fifo,
      enabled: r.enabled,
      allowPlainHttp: r.allow_plain_http,
      credentials:
        r.credentials_sealed === null
          ? null
          : await openOuter(deps.zenlock, tx, tenantId, credentialsSeal(r.id), r.credentials_sealed),
      secrets: boxes,
      retrySchedule: r.retry_schedule.map(Number),
      retryAfterCapSeconds: Number(r.retry_after_cap_seconds),
      autoReplay: r.auto_replay,
    });
  }
  return out;
}
