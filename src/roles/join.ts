/**
 * Production bootstrap (ARCHITECTURE.md section 4): a role that has no
 * identity yet presents a one-time join token and a CSR over server-
 * authenticated TLS; the backend redeems the token (single use, short-lived,
 * stored hashed, audited) and signs the CSR for the workload the token names.
 * The client checks the backend's SVID against the trust bundle it was given
 * and the backend's SPIFFE ID, since hostnames mean nothing here.
 */
import { createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { PeerCertificate } from "node:tls";
import { createFailureLimiter } from "../api/rate-limit.ts";
import { isZenError, newId, systemClock, ZenError } from "../core/index.ts";
import {
  type CertificateAuthority,
  createKeyAndCsr,
  redeemJoinToken,
  svidFromPem,
  validateSvidLeaf,
} from "../identity/index.ts";
import type { IdentitySource, Svid } from "../identity/types.ts";
import type { Logger } from "../log/index.ts";
import type { Services } from "./services.ts";

const MAX_BODY = 16 * 1024;

export interface JoinServer {
  url: string;
  close(): Promise<void>;
}

function tlsOf(svid: Svid) {
  return { cert: svid.certChainPem, key: svid.keyPem, ca: svid.bundlePem };
}

export async function startJoinServer(opts: {
  svc: Services;
  ca: CertificateAuthority;
  identity: IdentitySource;
  logger: Logger;
  host: string;
  port: number;
  svidTtlSeconds: number;
}): Promise<JoinServer> {
  const limiter = createFailureLimiter({ limit: 10, windowSeconds: 300 });
  const server: Server = createServer(
    { ...tlsOf(opts.identity.current()), minVersion: "TLSv1.2" },
    (req, res) => {
      const correlationId = newId("correlation");
      const ip = req.socket.remoteAddress ?? "unknown";
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json", "x-correlation-id": correlationId });
        res.end(JSON.stringify(body));
      };
      const fail = (err: ZenError) =>
        answer(err.status, {
          error: { code: err.code, message: err.message, correlation_id: correlationId },
        });
      if (req.method !== "POST" || req.url !== "/join") return fail(new ZenError("NOT_FOUND"));
      const wait = limiter.blockedFor(ip, Date.now());
      if (wait > 0) {
        res.setHeader("retry-after", String(wait));
        return fail(new ZenError("RATE_LIMITED"));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on("end", async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            token?: unknown;
            csr?: unknown;
          };
          if (typeof body.token !== "string" || typeof body.csr !== "string") {
            throw new ZenError("VALIDATION_FAILED", { message: "token and csr are required" });
          }
          const r = await redeemJoinToken(opts.svc.db, {
            token: body.token,
            correlationId,
            clock: systemClock,
            ip,
          });
          if (!r.ok) {
            limiter.fail(ip, Date.now());
            throw new ZenError("UNAUTHENTICATED", { message: "The join token is not valid." });
          }
          const signed = await opts.ca.signCsr({
            csrPem: body.csr,
            path: r.value.workload,
            ttlSeconds: opts.svidTtlSeconds,
          });
          answer(200, { cert_chain_pem: signed.certChainPem, bundle_pem: opts.ca.bundlePem() });
        } catch (err) {
          const z = isZenError(err)
            ? err
            : err instanceof SyntaxError
              ? new ZenError("MALFORMED_REQUEST")
              : new ZenError("INTERNAL", { cause: err });
          if (z.status >= 500) opts.logger.error({ err, correlation_id: correlationId }, "join failed");
          fail(z);
        }
      });
    },
  );
  const unsubscribe = opts.identity.onUpdate((svid) => server.setSecureContext(tlsOf(svid)));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `https://${opts.host}:${addr.port}`,
    close: () =>
      new Promise<void>((r) => {
        unsubscribe();
        server.close(() => r());
      }),
  };
}

/** Checks a TLS peer as an SVID of the expected workload (replaces hostname matching). */
export function expectSpiffeId(trustDomain: string, expected: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const v = validateSvidLeaf(new Uint8Array(cert.raw), { trustDomain, now: new Date() });
    if (!v.ok) return new Error(`the server's certificate is not a valid SVID (${v.reason})`);
    if (v.value.spiffeId !== expected) return new Error(`the server is ${v.value.spiffeId}, not ${expected}`);
    return undefined;
  };
}

/** Redeems a join token: returns the role's first SVID. */
export async function joinWithToken(opts: {
  joinUrl: string;
  token: string;
  bundlePem: string;
  trustDomain: string;
  timeoutMs?: number;
}): Promise<Svid> {
  const { keyPem, csrPem } = await createKeyAndCsr();
  const url = new URL("/join", opts.joinUrl);
  const payload = JSON.stringify({ token: opts.token, csr: csrPem });
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        ca: opts.bundlePem,
        rejectUnauthorized: true,
        checkServerIdentity: expectSpiffeId(opts.trustDomain, `spiffe://${opts.trustDomain}/backend`),
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("join timed out")));
    req.on("error", reject);
    req.end(payload);
  }).catch((err: unknown) => {
    throw new ZenError("UNAVAILABLE", { message: "could not reach the backend's join endpoint", cause: err });
  });
  if (answer.status !== 200) {
    throw new ZenError("UNAUTHENTICATED", { message: `the backend refused the join (${answer.status})` });
  }
  const body = JSON.parse(answer.body) as { cert_chain_pem: string; bundle_pem: string };
  return svidFromChain(body.cert_chain_pem, keyPem, body.bundle_pem, opts.trustDomain);
}

/** Assembles an Svid from a signed chain, checking the leaf against the SVID rules first. */
export function svidFromChain(
  certChainPem: string,
  keyPem: string,
  bundlePem: string,
  trustDomain: string,
): Svid {
  const r = svidFromPem({ certChainPem, keyPem, bundlePem }, trustDomain, new Date());
  if (!r.ok)
    throw new ZenError("INTERNAL", { message: `the issued certificate is not a valid SVID (${r.reason})` });
  return r.value;
}
