/**
 * Who the client is. Without a trusted proxy it is the socket's peer and
 * X-Forwarded-For is ignored. With one, `ZENMESH_API_TRUST_PROXY` lists the
 * proxies (CIDRs) or says how many stand in front (a hop count): the client is
 * the rightmost X-Forwarded-For address that is not a listed proxy, since
 * everything left of it was written by the client itself. A non-address in
 * the header ends the walk at the hop that sent it: it is never believed.
 *
 * Per-address limits key on `clientBucket`: IPv6 clients by their /64 (one
 * subscriber usually holds a whole /64 and can pick any address in it).
 */
import type { FastifyRequest } from "fastify";
import type { Result } from "../core/index.ts";
import {
  type Cidr,
  cidrContains,
  formatIp,
  type IpAddress,
  parseCidrList,
  parseIpLiteral,
  unmapIpv4,
} from "../deliver/ssrf/ip.ts";

export type TrustProxy =
  | { kind: "none" }
  | { kind: "hops"; hops: number }
  | { kind: "cidrs"; cidrs: readonly Cidr[] };

export const MAX_TRUSTED_HOPS = 16;

const FORMS = `a comma-separated list of your proxies' CIDRs (e.g. "10.0.0.0/8,fd00::/8") or the number of proxies in front of the API (1..${MAX_TRUSTED_HOPS})`;

/**
 * The setting's text: unset, "" or "false" trust nobody. "true" is refused:
 * it used to believe whatever X-Forwarded-For said, which lets any client
 * pick its own address.
 */
export function parseTrustProxy(text: string): Result<TrustProxy, string> {
  const v = text.trim();
  if (v === "" || v.toLowerCase() === "false") return { ok: true, value: { kind: "none" } };
  if (v.toLowerCase() === "true") {
    return {
      ok: false,
      reason: `"true" would believe any X-Forwarded-For and let clients choose their address; give ${FORMS}`,
    };
  }
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops < 1 || hops > MAX_TRUSTED_HOPS) {
      return { ok: false, reason: `a hop count must be 1..${MAX_TRUSTED_HOPS}; or give ${FORMS}` };
    }
    return { ok: true, value: { kind: "hops", hops } };
  }
  const cidrs = parseCidrList(v);
  if (!cidrs.ok) return { ok: false, reason: `${cidrs.reason}; expected ${FORMS}` };
  return { ok: true, value: { kind: "cidrs", cidrs: cidrs.value } };
}

/** A strict address as a peer or a proxy writes it (no URL notations, no brackets or ports). */
function address(text: string): IpAddress | null {
  if (text === "" || text.startsWith("[") || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  const a = parseIpLiteral(text);
  if (a === null) return null;
  // parseIpLiteral also reads "10.1" or "0x7f.1" the way URLs do: refuse what is not written in full.
  if (a.family === 4 && !/^\d{1,3}(?:\.\d{1,3}){3}$/.test(text)) return null;
  return unmapIpv4(a);
}

function canonical(a: IpAddress): string {
  return formatIp(a.bytes, a.family);
}

/**
 * The client's address from the socket peer and the X-Forwarded-For header
 * (its values in order, several headers joined). `peer` undefined (a
 * destroyed socket) gives "0.0.0.0", one shared bucket rather than none.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trust: TrustProxy,
): string {
  const socket = peer === undefined ? null : address(peer);
  if (socket === null) return peer ?? "0.0.0.0";
  if (trust.kind === "none" || forwardedFor === undefined) return canonical(socket);
  const listed = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
    .split(",")
    .map((s) => s.trim());
  let current = socket;
  // hop 0 is the peer; the walk goes right to left while the current hop is a trusted proxy.
  for (let hop = 0; ; hop++) {
    const trusted =
      trust.kind === "hops" ? hop < trust.hops : cidrContains(trust.cidrs, current.bytes, current.family);
    if (!trusted) return canonical(current);
    const next = listed.pop();
    if (next === undefined) return canonical(current);
    const parsed = address(next);
    // A trusted proxy that forwards something that is not an address: stop at the proxy.
    if (parsed === null) return canonical(current);
    current = parsed;
  }
}

/** The key per-address limits count under: IPv4 as is, IPv6 by its /64. */
export function clientBucket(ip: string): string {
  const a = address(ip);
  if (a === null) return ip;
  if (a.family === 4) return canonical(a);
  const net = new Uint8Array(16);
  net.set(a.bytes.subarray(0, 8));
  return `${formatIp(net, 6)}/64`;
}

const addresses = new WeakMap<FastifyRequest, string>();

/** Called once per request, when it arrives. */
export function rememberClient(req: FastifyRequest, trust: TrustProxy): string {
  const ip = clientAddress(req.raw.socket.remoteAddress, req.headers["x-forwarded-for"], trust);
  addresses.set(req, ip);
  return ip;
}

/** The client's address as `rememberClient` worked it out; the socket's peer before that. */
export function clientIp(req: FastifyRequest): string {
  return addresses.get(req) ?? req.raw.socket.remoteAddress ?? "0.0.0.0";
}

function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  const a = address(host);
  if (a === null) return false;
  return a.family === 4 ? a.bytes[0] === 127 : a.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/**
 * What to say at start: a listener that others can reach with no proxy listed
 * counts every client behind a proxy as the proxy (one failure-limit bucket,
 * one address in the audit log).
 */
export function trustProxyNotice(trustProxy: string, listenHost: string): string | undefined {
  const trust = parseTrustProxy(trustProxy);
  if (!trust.ok || trust.value.kind !== "none" || isLoopbackHost(listenHost)) return undefined;
  return "ZENMESH_API_TRUST_PROXY is not set: the client address is the connection's peer. Behind a proxy or load balancer every client shares its address (one failed-authentication bucket, one address in the audit log); list the proxies' CIDRs or their number in ZENMESH_API_TRUST_PROXY";
}
