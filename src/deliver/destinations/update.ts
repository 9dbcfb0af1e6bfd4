import type { ActionContext } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { createRecoveryJob } from "../deliveries/replay.ts";
import {
  auditDestination,
  DESTINATION_COLUMNS,
  type DeliverDeps,
  type DestinationRow,
  type DestinationView,
  loadDestination,
  projectOf,
  relatedOf,
  setGate,
  toView,
} from "./common.ts";
import {
  checkCredentialsAt,
  credentialKinds,
  credentialsDocument,
  credentialsSeal,
  requireEgressKey,
  sealTwice,
} from "./credentials.ts";
import {
  isPlainHttp,
  PLAIN_HTTP_MESSAGE,
  parseInput,
  type UpdateDestinationInput,
  updateDestinationInput,
  validationFailed,
} from "./input.ts";

/**
 * Changes the fields named. Credentials: null clears them, an object
 * replaces all of them. A URL with another origin (scheme, host, port)
 * clears them too, unless the same change brings credentials: what a customer
 * gave for one target never goes to another a key holder picks. Enabling closes the circuit-breaker gate afresh;
 * disabling marks the destination manually disabled and parks its gate.
 */
export async function updateDestination(
  deps: DeliverDeps,
  ctx: ActionContext,
  destinationId: string,
  input: UpdateDestinationInput,
): Promise<DestinationView> {
  requirePermission(ctx, "destinations:write");
  const projectId = projectOf(ctx);
  const v = parseInput(updateDestinationInput, input);
  const now = deps.clock.now();
  if (v.credentials) checkCredentialsAt(v.credentials, now);
  const egressKey = v.credentials ? requireEgressKey(deps.egressBoxKey) : undefined;
  return deps.db.withTenant(ctx.tenantId, async (tx) => {
    const before = await loadDestination(tx, ctx, destinationId, true);
    const url = v.url ?? before.url;
    const allowPlainHttp = v.allow_plain_http ?? before.allow_plain_http;
    // Checked against the result, so neither a new URL nor revoking the flag can leave plain HTTP behind.
    if (isPlainHttp(url) && !allowPlainHttp) {
      throw validationFailed([
        { path: v.url === undefined ? "allow_plain_http" : "url", message: PLAIN_HTTP_MESSAGE },
      ]);
    }
    const enabled = v.enabled ?? before.enabled;
    const toggled = enabled !== before.enabled;
    let sealed: string | null | undefined;
    let kinds = before.credential_kinds;
    // Credentials were given for one origin (scheme, host, port): a new origin gets none it was not given.
    const movedFrom = new URL(before.url).origin;
    const movedTo = new URL(url).origin;
    const moved = movedFrom !== movedTo;
    const cleared = moved && v.credentials === undefined && before.credential_kinds.length > 0;
    if (v.credentials === null || (moved && v.credentials === undefined)) {
      sealed = null;
      kinds = [];
    } else if (v.credentials !== undefined && egressKey !== undefined) {
      const document = credentialsDocument(v.credentials);
      sealed =
        document === null
          ? null
          : await sealTwice(
              deps.zenlock,
              tx,
              ctx.tenantId,
              egressKey,
              credentialsSeal(destinationId),
              document,
            );
      kinds = credentialKinds(v.credentials);
    }
    const r = await tx.query<DestinationRow>(
      `update destinations set name = $4, url = $5, method = $6, headers = $7::jsonb, timeout_ms = $8, format = $9,
         max_in_flight = $10, rate_limit_per_second = $11, fifo = $12, enabled = $13, disabled_reason = $14,
         disabled_at = $15, allow_plain_http = $16, auto_replay = $17, secret_overlap_seconds = $18,
         retry_schedule = $19::integer[], retry_after_cap_seconds = $20,
         credentials_sealed = case when $21::boolean then $22 else credentials_sealed end,
         credential_kinds = $23::text[], updated_at = $24
       where tenant_id = $1 and project_id = $2 and id = $3 returning ${DESTINATION_COLUMNS}`,
      [
        ctx.tenantId,
        projectId,
        destinationId,
        v.name ?? before.name,
        url,
        v.method ?? before.method,
        JSON.stringify(v.headers ?? before.headers),
        v.timeout_ms ?? before.timeout_ms,
        v.format ?? before.format,
        v.max_in_flight ?? before.max_in_flight,
        v.rate_limit_per_second === undefined ? before.rate_limit_per_second : v.rate_limit_per_second,
        v.fifo ?? before.fifo,
        enabled,
        toggled ? (enabled ? null : "manual") : before.disabled_reason,
        toggled ? (enabled ? null : now) : before.disabled_at,
        allowPlainHttp,
        v.auto_replay ?? before.auto_replay,
        v.secret_overlap_seconds ?? before.secret_overlap_seconds,
        v.retry?.schedule_seconds ?? before.retry_schedule,
        v.retry?.retry_after_cap_seconds ?? before.retry_after_cap_seconds,
        sealed !== undefined,
        sealed ?? null,
        kinds,
        now,
      ],
    );
    let recovery: string | undefined;
    if (toggled) {
      // Re-enabled with auto-replay: what died since the trouble began goes again.
      if (enabled && (v.auto_replay ?? before.auto_replay)) {
        const gate = await tx.query<{ failing_since: Date | null }>(
          "select failing_since from destination_gates where destination_id = $1 and tenant_id = $2",
          [destinationId, ctx.tenantId],
        );
        const since = gate.rows[0]?.failing_since ?? before.disabled_at;
        const job = await createRecoveryJob(
          tx,
          ctx.tenantId,
          projectId,
          destinationId,
          since === null ? null : new Date(since),
          now,
        );
        recovery = job.id;
      }
      await setGate(tx, ctx.tenantId, destinationId, enabled ? "closed" : "disabled", now);
    }
    if (v.fifo !== undefined && v.fifo !== before.fifo) {
      // Queued deliveries follow the destination's ordering from now on.
      await tx.query("update delivery_queue set fifo = $3 where destination_id = $1 and tenant_id = $2", [
        destinationId,
        ctx.tenantId,
        v.fifo,
      ]);
    }
    const fields = Object.keys(v)
      .filter((k) => v[k as keyof typeof v] !== undefined)
      .sort()
      .join(" ");
    await auditDestination(tx, ctx, "destination.update", destinationId, {
      fields,
      ...(v.url === undefined ? {} : { host: new URL(url).host }),
      ...(moved ? { origin_from: movedFrom, origin_to: movedTo, credentials_cleared: cleared } : {}),
      ...(v.credentials === undefined ? {} : { credential_kinds: kinds.join(" ") }),
      ...(recovery === undefined ? {} : { replay_job_id: recovery }),
    });
    return toView(r.rows[0]!, await relatedOf(tx, ctx.tenantId, [destinationId], now));
  });
}
