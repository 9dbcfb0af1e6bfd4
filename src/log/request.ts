/**
 * Request and response serializers for Fastify (and raw node:http objects).
 * Only metadata is logged: method, path, correlation id, client address and
 * status. Headers and bodies carry credentials and payloads, and the query
 * string may hold a token, so none of them is ever read.
 */

export interface SerializedRequest {
  method?: string;
  path?: string;
  correlationId?: string;
  remoteAddress?: string;
}

export interface SerializedResponse {
  statusCode?: number;
}

function field(source: object, key: string): unknown {
  return (source as Record<string, unknown>)[key];
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The path without query string or fragment. */
export function pathOnly(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

function serializeRequest(req: unknown): SerializedRequest {
  if (typeof req !== "object" || req === null) return {};
  const out: SerializedRequest = {};
  const method = str(field(req, "method"));
  if (method !== undefined) out.method = method;
  const url = str(field(req, "url"));
  if (url !== undefined) out.path = pathOnly(url);
  // Fastify's request id is the correlation id when the app's genReqId derives it.
  const id = str(field(req, "correlationId")) ?? str(field(req, "id"));
  if (id !== undefined) out.correlationId = id;
  const socket = field(req, "socket");
  const remote =
    str(field(req, "ip")) ??
    (typeof socket === "object" && socket !== null ? str(field(socket, "remoteAddress")) : undefined);
  if (remote !== undefined) out.remoteAddress = remote;
  return out;
}

function serializeResponse(res: unknown): SerializedResponse {
  if (typeof res !== "object" || res === null) return {};
  const status = field(res, "statusCode");
  return typeof status === "number" ? { statusCode: status } : {};
}

/** pino serializers for the `req` and `res` keys Fastify logs under. */
export const requestSerializers = {
  req: serializeRequest,
  res: serializeResponse,
} as const;
