/**
 * TLS settings of internal connections, built from the current SVID
 * (ARCHITECTURE.md section 4). Mutual TLS with the trust bundle as the only
 * trust anchors, TLS 1.2 at least (1.3 is negotiated when both ends can), and
 * no session resumption on either side: a resumed session carries the
 * identity of an earlier handshake and skips Node's `checkServerIdentity`.
 */
import { constants } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import type { Svid } from "../identity/index.ts";

export const MIN_TLS_VERSION = "TLSv1.2";

export interface ServerTlsOptions {
  cert: string;
  key: string;
  ca: string;
  requestCert: true;
  rejectUnauthorized: true;
  minVersion: typeof MIN_TLS_VERSION;
  secureOptions: number;
  sessionTimeout: number;
}

/**
 * For `https.createServer` and `server.setSecureContext`. SSL_OP_NO_TICKET
 * stops TLS 1.2 tickets and turns TLS 1.3 tickets stateful; as Node keeps no
 * server-side session cache without a `resumeSession` listener, no session is
 * ever resumed.
 */
export function serverTlsOptions(svid: Svid): ServerTlsOptions {
  return {
    cert: svid.certChainPem,
    key: svid.keyPem,
    ca: svid.bundlePem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: MIN_TLS_VERSION,
    secureOptions: constants.SSL_OP_NO_TICKET,
    sessionTimeout: 1,
  };
}

export interface ClientTlsOptions {
  cert: string;
  key: string;
  ca: string;
  rejectUnauthorized: true;
  minVersion: typeof MIN_TLS_VERSION;
  maxCachedSessions: 0;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

/**
 * For an `https.Agent`. `checkServerIdentity` replaces hostname matching with
 * the SPIFFE check (SPIFFE X509-SVID spec section 5: the URI SAN is the
 * identity, DNS names are not consulted).
 */
export function clientTlsOptions(
  svid: Svid,
  checkServer: (leafDer: Buffer) => Error | undefined,
): ClientTlsOptions {
  return {
    cert: svid.certChainPem,
    key: svid.keyPem,
    ca: svid.bundlePem,
    rejectUnauthorized: true,
    minVersion: MIN_TLS_VERSION,
    maxCachedSessions: 0,
    checkServerIdentity: (_host, cert) => checkServer(cert.raw),
  };
}
