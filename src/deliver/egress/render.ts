/**
 * The outbound request for one attempt, built in egress at delivery time:
 * the body in the destination's format (CloudEvents structured or binary, or
 * the original payload), Standard Webhooks headers signed over exactly that
 * body (`webhook-id` is the event id, stable across retries and replays, so
 * it is the receiver's idempotency key), the correlation id, the static
 * headers, and the customer's credentials, opened from their box only here
 * and only for this request. Nothing built here is logged.
 */
import { toBinaryHeaders, toStructured } from "../../ingest/cloudevents/index.ts";
import { type BoxKeyPair, openBox } from "../box.ts";
import type { OutboundRequest } from "../http/sender.ts";
import { webhookHeaders } from "../signing.ts";
import type { DestinationCredentials, DispatchDestination, DispatchEvent } from "../types.ts";

export const credentialsAad = (destinationId: string) => `destinations:credentials:${destinationId}`;
export const secretAad = (destinationId: string, version: number) =>
  `destination_secrets:${destinationId}:v${version}`;

export interface RenderOptions {
  box: BoxKeyPair;
  now: Date;
  userAgent: string;
}

/** Opened secrets of a destination, newest first; each box names its version in its AAD. */
function openSecrets(box: BoxKeyPair, d: DispatchDestination): string[] {
  return d.secrets.map((sealed) => {
    const version = Number(/^v(\d+):/.exec(sealed)?.[1]);
    return openBox(box, secretAad(d.id, version), sealed.slice(sealed.indexOf(":") + 1)).toString("utf8");
  });
}

function openCredentials(box: BoxKeyPair, d: DispatchDestination): DestinationCredentials {
  if (d.credentials === null) return {};
  return JSON.parse(
    openBox(box, credentialsAad(d.id), d.credentials).toString("utf8"),
  ) as DestinationCredentials;
}

function body(
  d: DispatchDestination,
  event: DispatchEvent,
): { headers: Record<string, string>; body: Buffer } {
  const payload = Buffer.from(event.payload, "base64");
  switch (d.format) {
    case "cloudevents-structured":
      return {
        headers: { "content-type": "application/cloudevents+json; charset=utf-8" },
        body: Buffer.from(JSON.stringify(toStructured(event.envelope, payload)), "utf8"),
      };
    case "cloudevents-binary": {
      const headers = toBinaryHeaders(event.envelope);
      headers["content-type"] ??= "application/octet-stream";
      return { headers, body: payload };
    }
    case "original":
      return {
        headers: { "content-type": event.envelope.datacontenttype ?? "application/octet-stream" },
        body: payload,
      };
    default: {
      const never: never = d.format;
      throw new Error(`unknown delivery format ${String(never)}`);
    }
  }
}

export function renderRequest(
  d: DispatchDestination,
  event: DispatchEvent,
  opts: RenderOptions,
): OutboundRequest {
  const rendered = body(d, event);
  const creds = openCredentials(opts.box, d);
  const headers: Record<string, string> = {
    ...d.headers,
    ...rendered.headers,
    "user-agent": opts.userAgent,
    "x-correlation-id": event.envelope.correlationid,
    ...webhookHeaders({
      id: event.envelope.id,
      timestamp: Math.floor(opts.now.getTime() / 1000),
      body: rendered.body,
      secrets: openSecrets(opts.box, d),
    }),
  };
  const auth = creds.auth;
  if (auth?.type === "bearer") headers.authorization = `Bearer ${auth.token}`;
  else if (auth?.type === "basic") {
    headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64")}`;
  } else if (auth?.type === "header") headers[auth.name.toLowerCase()] = auth.value;
  const cert = creds.client_certificate;
  return {
    url: d.url,
    method: d.method,
    headers,
    body: rendered.body,
    timeoutMs: d.timeoutMs,
    clientCert: cert ? { certPem: cert.cert_pem, keyPem: cert.key_pem } : undefined,
    allowPlainHttp: d.allowPlainHttp,
  };
}
