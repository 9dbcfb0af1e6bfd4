/**
 * The internal HTTPS server every zenmesh role listens with (ARCHITECTURE.md
 * sections 1, 4 and 5). Guards against: peers without a certificate from our
 * trust bundle (refused in the handshake), peers whose SVID is not allowed on
 * the endpoint (403 PEER_NOT_ALLOWED, checked on every request, since a
 * keep-alive or resumed connection carries an earlier handshake's identity),
 * unsigned, forged, stale or replayed hops where a route requires
 * `X-Zen-Signature`, hops signed with a key that is not the peer's own
 * (checked here for every signed route, against `hopKeyOwner`), and
 * oversized or slow requests. Certificates are hot-swapped on renewal with
 * `setSecureContext`, so new connections get the new SVID while in-flight
 * requests finish on the old one.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { type Clock, correlationIdFrom, type ErrorCode, systemClock, ZenError } from "../core/index.ts";
import type { IdentitySource } from "../identity/index.ts";
import { type Logger, pathOnly, serializeError } from "../log/index.ts";
import { HOP_SIGNATURE_HEADER, type HopRejectReason, type HopVerifier } from "./hop-signature.ts";
import { compileAllowList, createPeerValidator, peerCertificateOf } from "./peer.ts";
import { serverTlsOptions } from "./tls-options.ts";
import { send, sendError } from "./wire.ts";

export type InternalMethod = "GET" | "POST" | "PUT" | "DELETE";
export type HopSignaturePolicy = "required" | "optional" | "none";

export interface InternalRequest {
  peer: { spiffeId: string };
  method: InternalMethod;
  /** The request target as sent, query included. */
  url: string;
  body: Buffer;
  headers: IncomingHttpHeaders;
  correlationId: string;
  /** The verified hop signature's key id, when the request carried a valid one. */
  hopKeyId?: string;
}

export interface InternalResponse {
  status: number;
  /** A Buffer is sent as-is (application/octet-stream unless a content-type is given), anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface InternalRoute {
  method: InternalMethod;
  /** Matched exactly against the path (query excluded). */
  path: string;
  /** SPIFFE IDs, or prefixes such as "spiffe://td/agent/*". */
  allow: string[];
  /** Default: "required" when the server has a hop verifier, else "none". */
  signed?: HopSignaturePolicy;
  handler(req: InternalRequest): Promise<InternalResponse>;
}

export interface HopRejectionAudit {
  reason: HopRejectReason;
  peer: string;
  method: string;
  path: string;
  correlationId: string;
}

export interface InternalServerOptions {
  identity: IdentitySource;
  trustDomain: string;
  routes: InternalRoute[];
  logger?: Logger;
  host?: string;
  port?: number;
  hopVerifier?: HopVerifier;
  /**
   * The SPIFFE ID a hop key belongs to (undefined: nobody's). Required with a
   * hop verifier: a signature verifies only when its key belongs to the
   * workload of the client certificate, on every signed route.
   */
  hopKeyOwner?: (keyId: string) => string | undefined;
  clock?: Clock;
  /** Default 1 MiB; larger bodies get 413. */
  maxBodyBytes?: number;
  /** Whole-request deadline (headers and body). Default 30 s. */
  requestTimeoutMs?: number;
  /** Called for every refused hop signature, e.g. to write an audit entry. Failures are logged, not raised. */
  audit?: (entry: HopRejectionAudit) => Promise<void>;
}

export interface InternalServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 1024 * 1024;
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_HEADERS = 64;
const KEEP_ALIVE_MS = 5000;

const REJECTION_CODES: Record<HopRejectReason, ErrorCode> = {
  missing: "HOP_SIGNATURE_INVALID",
  malformed: "HOP_SIGNATURE_INVALID",
  unknown_key: "HOP_SIGNATURE_INVALID",
  foreign_key: "HOP_KEY_FOREIGN",
  bad_signature: "HOP_SIGNATURE_INVALID",
  stale: "HOP_STALE",
  future: "HOP_STALE",
  replayed: "HOP_REPLAYED",
  store_unavailable: "UNAVAILABLE",
};

interface CompiledRoute {
  route: InternalRoute;
  allowed: (spiffeId: string) => boolean;
  signed: HopSignaturePolicy;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        req.removeAllListeners("data");
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks, size)));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("request aborted")));
  });
}

function encodeBody(res: InternalResponse): { body: Buffer | undefined; contentType: string | undefined } {
  if (res.body === undefined) return { body: undefined, contentType: undefined };
  if (Buffer.isBuffer(res.body)) return { body: res.body, contentType: "application/octet-stream" };
  return { body: Buffer.from(JSON.stringify(res.body)), contentType: "application/json; charset=utf-8" };
}

function compileRoutes(opts: InternalServerOptions): Map<string, Map<InternalMethod, CompiledRoute>> {
  if (opts.hopVerifier !== undefined && opts.hopKeyOwner === undefined) {
    throw new Error("an internal server with a hop verifier needs hopKeyOwner");
  }
  const byPath = new Map<string, Map<InternalMethod, CompiledRoute>>();
  for (const route of opts.routes) {
    if (!route.path.startsWith("/") || /[?#]/.test(route.path)) {
      throw new Error(`internal route path must be an absolute path without query: ${route.path}`);
    }
    const signed = route.signed ?? (opts.hopVerifier === undefined ? "none" : "required");
    if (signed !== "none" && opts.hopVerifier === undefined) {
      throw new Error(`internal route ${route.method} ${route.path} needs a hop verifier`);
    }
    const methods = byPath.get(route.path) ?? new Map<InternalMethod, CompiledRoute>();
    if (methods.has(route.method)) throw new Error(`duplicate internal route ${route.method} ${route.path}`);
    methods.set(route.method, { route, allowed: compileAllowList(route.allow, opts.trustDomain), signed });
    byPath.set(route.path, methods);
  }
  return byPath;
}

export async function createInternalServer(opts: InternalServerOptions): Promise<InternalServer> {
  const routes = compileRoutes(opts);
  const clock = opts.clock ?? systemClock;
  const peers = createPeerValidator({ trustDomain: opts.trustDomain, clock });
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const log = opts.logger;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const correlationId = correlationIdFrom(req.headers);
    const socket = req.socket as TLSSocket;
    // Every request, keep-alive and resumed sessions included.
    const peer = peers.check(socket.authorized ? peerCertificateOf(socket)?.raw : undefined);
    if (!peer.ok) {
      log?.warn(
        { correlation_id: correlationId, reason: peer.reason },
        "internal request without a valid peer SVID",
      );
      sendError(res, new ZenError("UNAUTHENTICATED"), correlationId, { close: true });
      return;
    }
    const spiffeId = peer.value.spiffeId;
    const url = req.url ?? "";
    if (!url.startsWith("/")) {
      sendError(res, new ZenError("MALFORMED_REQUEST"), correlationId, { close: true });
      return;
    }
    const path = pathOnly(url);
    const methods = routes.get(path);
    if (methods === undefined) {
      sendError(res, new ZenError("NOT_FOUND"), correlationId);
      return;
    }
    const compiled = methods.get(req.method as InternalMethod);
    if (compiled === undefined) {
      sendError(
        res,
        new ZenError("METHOD_NOT_ALLOWED", { headers: { allow: [...methods.keys()].join(", ") } }),
        correlationId,
      );
      return;
    }
    if (!compiled.allowed(spiffeId)) {
      log?.warn({ correlation_id: correlationId, peer: spiffeId, path }, "internal peer not allowed");
      sendError(res, new ZenError("PEER_NOT_ALLOWED"), correlationId, { close: true });
      return;
    }

    let body: Buffer;
    try {
      body = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLarge)
        sendError(res, new ZenError("PAYLOAD_TOO_LARGE"), correlationId, { close: true });
      else res.destroy();
      return;
    }

    let hopKeyId: string | undefined;
    const header = req.headers[HOP_SIGNATURE_HEADER];
    if (compiled.signed === "required" || (compiled.signed === "optional" && header !== undefined)) {
      const verifier = opts.hopVerifier;
      const verdict =
        verifier === undefined
          ? ({ ok: false, reason: "missing" } as const)
          : await verifier.verify(
              req.method ?? "",
              url,
              body,
              typeof header === "string" ? header : undefined,
              (keyId) => opts.hopKeyOwner?.(keyId) === spiffeId,
            );
      if (!verdict.ok) {
        log?.warn(
          { correlation_id: correlationId, peer: spiffeId, path, reason: verdict.reason },
          "internal hop signature refused",
        );
        if (opts.audit !== undefined) {
          await opts
            .audit({ reason: verdict.reason, peer: spiffeId, method: req.method ?? "", path, correlationId })
            .catch((err: unknown) =>
              log?.error(
                { correlation_id: correlationId, err: serializeError(err) },
                "hop rejection audit failed",
              ),
            );
        }
        sendError(res, new ZenError(REJECTION_CODES[verdict.reason]), correlationId);
        return;
      }
      hopKeyId = verdict.value.keyId;
    }

    try {
      const out = await compiled.route.handler({
        peer: { spiffeId },
        method: compiled.route.method,
        url,
        body,
        headers: req.headers,
        correlationId,
        ...(hopKeyId === undefined ? {} : { hopKeyId }),
      });
      const encoded = encodeBody(out);
      const headers: Record<string, string> = {};
      if (encoded.contentType !== undefined) headers["content-type"] = encoded.contentType;
      Object.assign(headers, out.headers ?? {}, { "x-correlation-id": correlationId });
      send(res, out.status, encoded.body, headers);
    } catch (err) {
      if (!(err instanceof ZenError) || err.status >= 500) {
        log?.error(
          { correlation_id: correlationId, path, err: serializeError(err) },
          "internal handler failed",
        );
      }
      sendError(res, err, correlationId);
    }
  };

  const server = createServer(
    {
      ...serverTlsOptions(opts.identity.current()),
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      headersTimeout: 10_000,
      keepAliveTimeout: KEEP_ALIVE_MS,
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        log?.error({ err: serializeError(err) }, "internal request failed");
        res.destroy();
      });
    },
  );
  server.maxHeadersCount = MAX_HEADERS;
  server.on("tlsClientError", (err: Error & { code?: string }) => {
    log?.debug({ code: err.code }, "internal TLS handshake refused");
  });

  const unsubscribe = opts.identity.onUpdate((svid) => {
    try {
      server.setSecureContext(serverTlsOptions(svid));
      peers.clear();
      log?.info(
        { spiffe_id: svid.spiffeId, not_after: svid.notAfter.toISOString() },
        "internal server certificate swapped",
      );
    } catch (err) {
      // The previous context stays in place; its certificate keeps serving until it expires.
      log?.error({ err: serializeError(err) }, "internal server certificate swap failed");
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    unsubscribe();
    throw err;
  }
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;

  return {
    url: `https://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        const force = setTimeout(() => server.closeAllConnections(), 5000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
