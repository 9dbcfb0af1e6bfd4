/**
 * The one place where internal-transport errors become HTTP responses:
 * `{ "error": { "code", "message", "correlation_id" } }`. Only a ZenError's
 * stable code and public message leave the process.
 */
import type { ServerResponse } from "node:http";
import { isZenError, ZenError } from "../core/index.ts";

export function toZenError(err: unknown): ZenError {
  return isZenError(err) ? err : new ZenError("INTERNAL", { cause: err });
}

export function send(
  res: ServerResponse,
  status: number,
  body: Buffer | undefined,
  headers: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader("cache-control", "no-store");
  if (body === undefined) {
    res.setHeader("content-length", "0");
    res.end();
    return;
  }
  res.setHeader("content-length", String(body.byteLength));
  res.end(body);
}

export function sendError(
  res: ServerResponse,
  err: unknown,
  correlationId: string,
  opts: { close?: boolean } = {},
): void {
  const z = toZenError(err);
  const headers: Record<string, string> = {
    ...(z.headers ?? {}),
    "content-type": "application/json; charset=utf-8",
    "x-correlation-id": correlationId,
  };
  // A peer refused at the door gets no further use of the connection.
  if (opts.close === true) headers.connection = "close";
  const body = Buffer.from(
    JSON.stringify({ error: { code: z.code, message: z.message, correlation_id: correlationId } }),
  );
  send(res, z.status, body, headers);
}
