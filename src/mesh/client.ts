/**
 * The internal HTTPS client every zenmesh hop uses (ARCHITECTURE.md sections
 * 4 and 5). Guards against talking to the wrong workload: the server's leaf
 * must be an SVID of our trust domain whose SPIFFE ID is on `expectServer`,
 * checked in the handshake (replacing hostname matching, which SPIFFE does not
 * use) and again on every response, because a reused or resumed connection
 * does not run `checkServerIdentity`. TLS session caching is off. Each SVID
 * gets its own keep-alive agent; on renewal a fresh agent takes new requests
 * and the previous one is destroyed once its in-flight requests finish.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { type Clock, systemClock, ZenError } from "../core/index.ts";
import type { IdentitySource, Svid } from "../identity/index.ts";
import { HOP_SIGNATURE_HEADER, type HopSigner } from "./hop-signature.ts";
import { compileAllowList, createPeerValidator, type PeerValidator, peerCertificateOf } from "./peer.ts";
import { clientTlsOptions } from "./tls-options.ts";

export interface InternalClientOptions {
  identity: IdentitySource;
  trustDomain: string;
  /** https://host:port of the internal server. */
  baseUrl: string;
  /** SPIFFE ID(s) or "…/*" prefixes the server must present. */
  expectServer: string | string[];
  hopSigner?: HopSigner;
  clock?: Clock;
  /** Whole-exchange deadline. Default 10 s. */
  timeoutMs?: number;
  /** Default 8 MiB. */
  maxResponseBytes?: number;
}

export interface InternalClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The server as checked on this response: its SPIFFE ID and certificate serial. */
  peer: { spiffeId: string; serial: string };
  json<T>(): T;
}

export interface InternalClient {
  request(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    options?: RequestOptions,
  ): Promise<InternalClientResponse>;
  close(): Promise<void>;
}

export interface RequestOptions {
  /** This exchange's deadline, instead of the client's (a long poll waits longer). */
  timeoutMs?: number;
  /** Abandons the exchange (a role stopping does not wait for its long poll). */
  signal?: AbortSignal;
}

interface AgentSlot {
  agent: Agent;
  inflight: number;
  retired: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE = 8 * 1024 * 1024;
// Below the internal server's 5 s keep-alive, so the client never reuses a socket the server is closing.
const IDLE_SOCKET_MS = 4000;

class ServerNotAllowed extends ZenError {
  constructor(message: string) {
    super("PEER_NOT_ALLOWED", { message });
  }
}

function encodeRequestBody(
  body: unknown,
  headers: Record<string, string>,
): { payload: Buffer; headers: Record<string, string> } {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  if (body === undefined) return { payload: Buffer.alloc(0), headers: out };
  if (body instanceof Uint8Array) {
    out["content-type"] ??= "application/octet-stream";
    return { payload: Buffer.from(body.buffer, body.byteOffset, body.byteLength), headers: out };
  }
  out["content-type"] ??= "application/json; charset=utf-8";
  return { payload: Buffer.from(JSON.stringify(body)), headers: out };
}

function isResetOnReusedSocket(err: unknown, reused: boolean, responded: boolean): boolean {
  const code = (err as { code?: unknown }).code;
  return reused && !responded && (code === "ECONNRESET" || code === "EPIPE");
}

export function createInternalClient(opts: InternalClientOptions): InternalClient {
  const base = new URL(opts.baseUrl);
  if (base.protocol !== "https:") throw new Error("internal clients speak https only");
  const clock = opts.clock ?? systemClock;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxResponse = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  const expected = compileAllowList(
    typeof opts.expectServer === "string" ? [opts.expectServer] : opts.expectServer,
    opts.trustDomain,
  );
  const peers: PeerValidator = createPeerValidator({ trustDomain: opts.trustDomain, clock });

  const checkServer = (
    leafDer: Uint8Array | undefined,
  ): { ok: true; spiffeId: string; notAfter: Date } | Error => {
    const verdict = peers.check(leafDer);
    if (!verdict.ok)
      return new ServerNotAllowed(
        `The internal server's certificate is not a valid SVID (${verdict.reason}).`,
      );
    if (!expected(verdict.value.spiffeId)) {
      return new ServerNotAllowed(
        `The internal server ${verdict.value.spiffeId} is not the expected workload.`,
      );
    }
    return { ok: true, spiffeId: verdict.value.spiffeId, notAfter: verdict.value.notAfter };
  };

  const makeAgent = (svid: Svid): Agent => {
    const agent = new Agent({
      keepAlive: true,
      timeout: IDLE_SOCKET_MS,
      ...clientTlsOptions(svid, (der) => {
        const v = checkServer(der);
        return v instanceof Error ? v : undefined;
      }),
    });
    // Typed as void in @types/node; at runtime it answers whether the socket stays pooled.
    const keep = agent.keepSocketAlive.bind(agent) as unknown as (socket: Duplex) => boolean;
    // A pooled socket must not outlive the server certificate it was verified with.
    agent.keepSocketAlive = ((socket: Duplex): boolean => {
      const v = checkServer(peerCertificateOf(socket as TLSSocket)?.raw);
      if (v instanceof Error) return false;
      const left = v.notAfter.getTime() - clock.now().getTime() - timeoutMs;
      if (left <= 0 || !keep(socket)) return false;
      (socket as TLSSocket).setTimeout(Math.min(IDLE_SOCKET_MS, left));
      return true;
    }) as unknown as Agent["keepSocketAlive"];
    return agent;
  };

  let current: AgentSlot = { agent: makeAgent(opts.identity.current()), inflight: 0, retired: false };
  let closed = false;
  const idle: Array<() => void> = [];

  const release = (slot: AgentSlot): void => {
    slot.inflight -= 1;
    if (slot.retired && slot.inflight === 0) slot.agent.destroy();
    if (closed && current.inflight === 0) for (const wake of idle.splice(0)) wake();
  };

  const unsubscribe = opts.identity.onUpdate((svid) => {
    const old = current;
    current = { agent: makeAgent(svid), inflight: 0, retired: false };
    peers.clear();
    old.retired = true;
    if (old.inflight === 0) old.agent.destroy();
  });

  const once = (
    slot: AgentSlot,
    method: string,
    path: string,
    payload: Buffer,
    headers: Record<string, string>,
    options: RequestOptions,
  ): Promise<InternalClientResponse> =>
    new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new ZenError("UNAVAILABLE", { message: "The internal request was abandoned." }));
        return;
      }
      const signed = { ...headers };
      if (opts.hopSigner !== undefined)
        signed[HOP_SIGNATURE_HEADER] = opts.hopSigner.sign(method, path, payload);
      signed["content-length"] = String(payload.byteLength);
      let responded = false;
      const req = httpsRequest({
        protocol: "https:",
        hostname: base.hostname.replace(/^\[|\]$/g, ""),
        port: base.port === "" ? 443 : Number(base.port),
        method,
        path,
        headers: signed,
        agent: slot.agent,
      });
      const timer = setTimeout(() => {
        req.destroy(new ZenError("UNAVAILABLE", { message: "The internal request timed out." }));
      }, options.timeoutMs ?? timeoutMs);
      const abandon = () =>
        req.destroy(new ZenError("UNAVAILABLE", { message: "The internal request was abandoned." }));
      options.signal?.addEventListener("abort", abandon, { once: true });
      req.on("close", () => options.signal?.removeEventListener("abort", abandon));
      req.on("error", (err: Error) => {
        clearTimeout(timer);
        if (isResetOnReusedSocket(err, req.reusedSocket, responded)) {
          reject(Object.assign(new Error("reset on reused socket"), { retry: true }));
          return;
        }
        reject(
          err instanceof ZenError
            ? err
            : new ZenError("UNAVAILABLE", { message: "The internal request failed.", cause: err }),
        );
      });
      req.on("response", (res: IncomingMessage) => {
        responded = true;
        // Belt and braces: the connection this response came on must still show an allowed server.
        const cert = peerCertificateOf(res.socket as TLSSocket);
        const v = checkServer(cert?.raw);
        if (v instanceof Error) {
          req.destroy(v);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > maxResponse) {
            req.destroy(new ZenError("UNAVAILABLE", { message: "The internal response is too large." }));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => {
          clearTimeout(timer);
          const body = Buffer.concat(chunks, size);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            peer: { spiffeId: v.spiffeId, serial: cert?.serialNumber ?? "" },
            json<T>(): T {
              return JSON.parse(body.toString("utf8")) as T;
            },
          });
        });
      });
      req.end(payload);
    });

  return {
    async request(method, path, body, headers = {}, options = {}) {
      if (closed) throw new ZenError("UNAVAILABLE", { message: "The internal client is closed." });
      if (!path.startsWith("/")) throw new Error("internal request paths start with /");
      const { payload, headers: h } = encodeRequestBody(body, headers);
      for (let attempt = 0; ; attempt++) {
        const slot = current;
        slot.inflight += 1;
        try {
          return await once(slot, method, path, payload, h, options);
        } catch (err) {
          // Node's documented race: the server closed an idle keep-alive socket as we reused it.
          // Nothing reached the server's handler, so one fresh attempt (new signature, new nonce) is safe.
          if ((err as { retry?: unknown }).retry === true && attempt === 0) continue;
          if ((err as { retry?: unknown }).retry === true) {
            throw new ZenError("UNAVAILABLE", { message: "The internal connection was reset." });
          }
          throw err;
        } finally {
          release(slot);
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      if (current.inflight > 0) await new Promise<void>((resolve) => idle.push(resolve));
      current.agent.destroy();
    },
  };
}
