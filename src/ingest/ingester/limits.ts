/**
 * Admission on the public ingest listener, before any body is read: open
 * connections and body bytes in flight, each capped in all and per client.
 * The ingester buffers a body until it is verified and committed, so
 * without these a few unauthenticated senders could make it hold gigabytes.
 * A client is its IPv4 address, or its IPv6 /64 (one subscriber's
 * allocation, so rotating addresses inside it buys nothing). Over a
 * per-client cap the answer is 429, over a global one 503, both with
 * Retry-After.
 */
import { isIP } from "node:net";
import { ZenError } from "../../core/index.ts";

export interface IngestLimits {
  maxConnections: number;
  maxConnectionsPerClient: number;
  maxInflightBytes: number;
  maxInflightBytesPerClient: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_INGEST_LIMITS: IngestLimits = {
  maxConnections: 4096,
  maxConnectionsPerClient: 128,
  maxInflightBytes: 256 * MiB,
  maxInflightBytesPerClient: 48 * MiB,
};

/** The bucket a peer address counts in: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const zone = address.indexOf("%");
  const bare = zone < 0 ? address : address.slice(0, zone);
  const [head = "", tail = ""] = bare.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = bare.includes("::")
    ? [...left, ...new Array<string>(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

export const clientLimited = () =>
  new ZenError("INGEST_CLIENT_LIMITED", { headers: { "retry-after": "2", connection: "close" } });
export const overloaded = () =>
  new ZenError("INGEST_OVERLOADED", { headers: { "retry-after": "2", connection: "close" } });

/** Counts per client and in all; a client's entry goes when it drops to zero. */
class Tally {
  total = 0;
  private readonly byClient = new Map<string, number>();
  of(client: string): number {
    return this.byClient.get(client) ?? 0;
  }
  add(client: string, n: number): void {
    this.total += n;
    const left = this.of(client) + n;
    if (left <= 0) this.byClient.delete(client);
    else this.byClient.set(client, left);
  }
  clients(): number {
    return this.byClient.size;
  }
}

/** Body bytes one request holds; grows as a body of unknown length streams in, released once. */
export interface Reservation {
  /** Adds `n` bytes; a ZenError (nothing added) when a cap would be passed. */
  grow(n: number): ZenError | undefined;
  release(): void;
}

export interface Admission {
  /** A new connection from `client`: undefined when admitted (call `closed` when it ends), else why not. */
  connect(client: string): ZenError | undefined;
  closed(client: string): void;
  reserve(client: string): Reservation;
  load(): { connections: number; inflightBytes: number; clients: number };
}

export function createAdmission(limits: IngestLimits): Admission {
  const connections = new Tally();
  const bytes = new Tally();
  return {
    connect(client) {
      if (connections.total >= limits.maxConnections) return overloaded();
      if (connections.of(client) >= limits.maxConnectionsPerClient) return clientLimited();
      connections.add(client, 1);
      return undefined;
    },
    closed(client) {
      connections.add(client, -1);
    },
    reserve(client) {
      let held = 0;
      let released = false;
      return {
        grow(n) {
          if (released) return overloaded();
          if (bytes.of(client) + n > limits.maxInflightBytesPerClient) return clientLimited();
          if (bytes.total + n > limits.maxInflightBytes) return overloaded();
          bytes.add(client, n);
          held += n;
          return undefined;
        },
        release() {
          if (released) return;
          released = true;
          bytes.add(client, -held);
          held = 0;
        },
      };
    },
    load: () => ({
      connections: connections.total,
      inflightBytes: bytes.total,
      clients: connections.clients(),
    }),
  };
}
