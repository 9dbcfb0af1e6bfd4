/**
 * zenmesh's own listeners (control API, ingest, the internal mTLS ports, the
 * join listener), as egress must never reach them: an operator who
 * allow-lists 127.0.0.1 for a receiver on this host has not opened the API
 * on the same address. The guard refuses an address and port that one of
 * them accepts connections on, whatever the allow-list says.
 *
 * A listener bound to a loopback address is taken to be reachable on every
 * loopback address (IPv4 and IPv6, in every spelling the guard reads), one
 * bound to the unspecified address on loopback and on every address of this
 * host's interfaces; any other on its own address.
 */
import { networkInterfaces } from "node:os";
import { classifyAddress, formatIp, type IpAddress, parseIpLiteral, unmapIpv4 } from "./ip.ts";

/** Where one of zenmesh's listeners accepts connections: an IP literal or `localhost`, and a port. */
export interface ListenerAddress {
  host: string;
  port: number;
}

function parseHost(host: string): IpAddress | null {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === "localhost") return parseIpLiteral("127.0.0.1");
  return parseIpLiteral(bare);
}

function text(addr: IpAddress): string {
  const u = unmapIpv4(addr);
  return formatIp(u.bytes, u.family);
}

function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const parsed = parseIpLiteral(a.address.split("%")[0] ?? "");
      if (parsed !== null) out.add(text(parsed));
    }
  }
  return out;
}

/**
 * The listener `addr`:`port` would reach, if it is one of ours. Listener
 * hosts that are not IP literals (or `localhost`) match nothing here: the
 * caller resolves names into addresses first.
 */
export function systemListenerAt(
  listeners: readonly ListenerAddress[],
  addr: IpAddress,
  port: number,
): ListenerAddress | undefined {
  let local: Set<string> | undefined;
  const target = text(addr);
  const loopback = classifyAddress(addr.bytes, addr.family) === "loopback";
  for (const l of listeners) {
    if (l.port !== port) continue;
    const bound = parseHost(l.host);
    if (bound === null) continue;
    const cls = classifyAddress(bound.bytes, bound.family);
    if (cls === "loopback" && loopback) return l;
    if (cls === "unspecified") {
      if (loopback) return l;
      local ??= hostAddresses();
      if (local.has(target)) return l;
    }
    if (text(bound) === target) return l;
  }
  return undefined;
}

/** `https://host:port` and `host:port` forms of a listener's URL, with the scheme's default port. */
export function listenerFromUrl(url: string): ListenerAddress | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const port =
    u.port === "" ? (u.protocol === "https:" ? 443 : u.protocol === "http:" ? 80 : 0) : Number(u.port);
  if (port === 0) return undefined;
  return { host: u.hostname, port };
}
