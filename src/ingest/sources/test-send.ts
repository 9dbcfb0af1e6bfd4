/**
 * Test sends: the source's provider sample, signed with the source's newest
 * secret as the provider signs, POSTed to the source's public ingest URL, so
 * it takes the path a real webhook takes (transport, media type, signature,
 * replay keys, storage, delivery to subscribers). Guards: the permission is
 * the one that rotates the secret (both let the caller act with it); every
 * send opens the secret, so each is audited in the same transaction that
 * opens it, and a source takes at most TEST_SENDS_PER_HOUR of them; a scheme
 * whose source holds only a public key is refused (SCHEME_CANNOT_SIGN), never
 * sent unsigned; the ingester's answer is read capped and reported by its
 * status and error code only.
 */
import { type ActionContext, ZenError } from "../../core/index.ts";
import { requirePermission } from "../../tenancy/index.ts";
import { getScheme, type SignatureScheme } from "../schemes/index.ts";
import {
  auditSource,
  loadSource,
  SECRET_SEAL,
  type SourceDeps,
  type SourceRow,
  secretRowId,
  toView,
} from "./common.ts";

/** Test sends one source takes in an hour: enough to wire a provider, too few to flood its subscribers. */
export const TEST_SENDS_PER_HOUR = 30;
const SEND_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 16 * 1024;

export type TestSendDeps = SourceDeps & {
  /** How the request reaches the ingest URL (default: global fetch). */
  fetch?: typeof fetch;
};

export interface TestSendResult {
  event_id: string;
  /** The ingester answered it as a redelivery of an event it already stored. */
  duplicate: boolean;
  scheme: string;
  ingest_url: string;
}

/** Refuses, with a stable code, a scheme zenmesh cannot sign for (see SignatureScheme.signs). */
export function assertSchemeSigns(scheme: SignatureScheme): void {
  if (scheme.signs === false) {
    throw new ZenError("SCHEME_CANNOT_SIGN", { details: { scheme: scheme.name } });
  }
}

/**
 * The request a provider would make for its sample event to `url`, signed with
 * `secret` (schemes that sign the URL called sign this one; a sample whose
 * provider signs a time inside the body is built for `now`).
 */
export function sampleRequest(
  scheme: SignatureScheme,
  secret: string,
  settings: Record<string, unknown>,
  now: Date,
  url: string,
): { body: Buffer; headers: Record<string, string> } {
  assertSchemeSigns(scheme);
  const sample = scheme.provider.sample;
  const unsigned = Buffer.from(sample.bodyAt?.(now) ?? sample.body, "utf8");
  // A provider whose proof is in the body (Graph's clientState) gets the secret put there.
  const body = scheme.signBody?.({ secret, body: unsigned, now, settings, url }) ?? unsigned;
  const signed = scheme.sign({ secret, body, now, settings, url });
  return {
    body,
    headers: {
      ...sample.headers,
      ...signed,
      "content-type": sample.contentType,
      "user-agent": "zenmesh-test-send",
    },
  };
}

export async function sendTestEvent(
  deps: TestSendDeps,
  ctx: ActionContext,
  sourceId: string,
): Promise<TestSendResult> {
  requirePermission(ctx, "sources:write");
  const now = deps.clock.now();
  const { source, secret } = await deps.db.withTenant(ctx.tenantId, async (tx) => {
    // The row lock serializes test sends of one source, so the hourly count cannot be raced past.
    const source = await loadSource(tx, ctx, sourceId, true);
    assertSchemeSigns(getScheme(source.scheme));
    if (!source.enabled) {
      throw new ZenError("CONFLICT", {
        message: "The source is disabled: the ingester refuses its webhooks. Enable it to send a test event.",
      });
    }
    // Audit entries are stamped by the wall clock, so the hour is measured by it (as rotation quotas are).
    const recent = await tx.query<{ n: number }>(
      `select count(*)::int as n from audit_log
        where tenant_id = $1 and occurred_at > $2 and action = 'source.test_send' and target_id = $3`,
      [ctx.tenantId, new Date(Date.now() - 3_600_000), sourceId],
    );
    if (Number(recent.rows[0]?.n ?? 0) >= TEST_SENDS_PER_HOUR) {
      throw new ZenError("RATE_LIMITED", {
        message: `This source already took ${TEST_SENDS_PER_HOUR} test sends in the last hour.`,
        headers: { "retry-after": "600" },
      });
    }
    const newest = await tx.query<{ version: number; sealed: string }>(
      `select version, sealed from source_secrets
        where tenant_id = $1 and source_id = $2 and (expires_at is null or expires_at > $3)
        order by version desc limit 1`,
      [ctx.tenantId, sourceId, now],
    );
    const row = newest.rows[0];
    if (!row) throw new ZenError("CONFLICT", { message: "The source holds no secret that verifies now." });
    const version = Number(row.version);
    const opened = await deps.zenlock.open(
      tx,
      ctx.tenantId,
      { ...SECRET_SEAL, rowId: secretRowId(sourceId, version) },
      row.sealed,
    );
    const secret = opened.toString("utf8");
    opened.fill(0);
    await auditSource(tx, ctx, "source.test_send", sourceId, {
      scheme: source.scheme,
      secret_version: version,
    });
    return { source, secret };
  });
  const url = toView(deps, source, []).ingest_url;
  return deliver(
    deps,
    source,
    url,
    sampleRequest(getScheme(source.scheme), secret, source.settings, now, url),
  );
}

/**
 * Ingesters learn of a source change within about a second (the backend's
 * push), so a test send made just after a source was created may find the
 * ingester not knowing it yet: an unknown source or an ingester not yet
 * ready is asked again, for a few seconds. Nothing was stored by those
 * answers, so the same signed request is sent again.
 */
const CATCH_UP_MS = 5_000;
const CATCH_UP_STEP_MS = 250;

async function deliver(
  deps: TestSendDeps,
  source: SourceRow,
  url: string,
  request: { body: Buffer; headers: Record<string, string> },
): Promise<TestSendResult> {
  const deadline = Date.now() + CATCH_UP_MS;
  for (;;) {
    const { status, answer } = await post(deps, url, request);
    if (status === 202 && typeof answer?.id === "string") {
      return {
        event_id: answer.id,
        duplicate: answer.duplicate === true,
        scheme: source.scheme,
        ingest_url: url,
      };
    }
    const code = answer?.error?.code;
    const catchingUp = code === "SOURCE_NOT_FOUND" || status === 503;
    if (catchingUp && Date.now() + CATCH_UP_STEP_MS < deadline) {
      await new Promise((r) => setTimeout(r, CATCH_UP_STEP_MS));
      continue;
    }
    // Only the ingester's stable code travels back: its message is not ours to repeat.
    const known = typeof code === "string" && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : null;
    throw new ZenError("TEST_SEND_FAILED", {
      message: `The ingester answered the test event ${status}${known ? ` ${known}` : ""}.`,
      details: { ingest_url: url, ingest_status: status, ingest_code: known },
    });
  }
}

async function post(
  deps: TestSendDeps,
  url: string,
  request: { body: Buffer; headers: Record<string, string> },
): Promise<{ status: number; answer: IngestAnswer | undefined }> {
  try {
    const r = await (deps.fetch ?? fetch)(url, {
      method: "POST",
      headers: request.headers,
      body: new Uint8Array(request.body),
      redirect: "manual",
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
    return { status: r.status, answer: parseAnswer(await readCapped(r)) };
  } catch (err) {
    throw new ZenError("TEST_SEND_FAILED", {
      message: "The ingester could not be reached at the source's ingest URL.",
      status: 502,
      cause: err,
      details: { ingest_url: url, reason: "unreachable" },
    });
  }
}

interface IngestAnswer {
  id?: unknown;
  duplicate?: unknown;
  error?: { code?: unknown };
}

function parseAnswer(text: string): IngestAnswer | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null ? (v as IngestAnswer) : undefined;
  } catch {
    return undefined;
  }
}

async function readCapped(r: Response): Promise<string> {
  if (!r.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of r.body) {
    size += chunk.byteLength;
    // Leaving the loop cancels the stream: the rest of an oversized answer is never read.
    if (size > MAX_ANSWER_BYTES) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
