/** Test helpers for the mesh suites: a CA per test, fixed identities, raw TLS requests. */
import { type Agent, request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import { CertificateAuthority, type IdentitySource, type Svid } from "../../src/identity/index.ts";

export const TD = "mesh.test";
export const id = (path: string): string => `spiffe://${TD}/${path}`;

/** A clock whose offset from real time can be moved, for issuing already-expired SVIDs. */
export function shiftableClock(): { now(): Date; shift(ms: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    shift: (ms: number) => {
      offset = ms;
    },
  };
}

export async function testCa(trustDomain = TD) {
  const clock = shiftableClock();
  const ca = await CertificateAuthority.create({ trustDomain, clock });
  return {
    ca,
    clock,
    issue: (path: string, ttlSeconds = 600) => ca.issueSvid({ path, ttlSeconds }),
    /** An SVID that expired a minute ago, under a chain that is still valid. */
    async issueExpired(path: string): Promise<Svid> {
      clock.shift(-10 * 60_000);
      try {
        return await ca.issueSvid({ path, ttlSeconds: 60 });
      } finally {
        clock.shift(0);
      }
    },
  };
}

export function staticIdentity(svid: Svid): IdentitySource {
  return { current: () => svid, onUpdate: () => () => {}, close: async () => {} };
}

export interface RawResult {
  status: number;
  body: string;
  reused: boolean;
  serverSerial: string | undefined;
}

/** One request over node:https with whatever client credentials the test gives, no SPIFFE checks client-side. */
export function rawRequest(
  url: string,
  opts: {
    method?: string;
    path: string;
    svid?: Svid | undefined;
    ca: string;
    agent?: Agent | false;
    body?: string;
    headers?: Record<string, string>;
  },
): Promise<RawResult> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        hostname: u.hostname,
        port: Number(u.port),
        method: opts.method ?? "GET",
        path: opts.path,
        ca: opts.ca,
        ...(opts.svid === undefined ? {} : { cert: opts.svid.certChainPem, key: opts.svid.keyPem }),
        checkServerIdentity: () => undefined,
        agent: opts.agent ?? false,
        headers: opts.headers ?? {},
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const reused = socket.isSessionReused();
        const serverSerial = socket.getPeerX509Certificate()?.serialNumber;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            reused,
            serverSerial,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

export function errorCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs` naming `what`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
