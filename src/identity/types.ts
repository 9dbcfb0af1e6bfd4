/** A workload's X.509-SVID with its key and the trust bundle to check peers against. */
export interface Svid {
  /** `spiffe://<trust-domain>/<path>` */
  spiffeId: string;
  /** PEM: the leaf first, then any intermediates up to (not including) the root. */
  certChainPem: string;
  /** PEM (PKCS#8) private key of the leaf. Never logged, never sent anywhere. */
  keyPem: string;
  /** PEM: the trust anchors (roots) of the trust domain, possibly several during a rotation. */
  bundlePem: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Where a process gets its identity: the built-in CA (via the supervisor or a
 * join token), or SPIRE's Workload API. Updates arrive on renewal and on
 * trust-bundle changes; listeners hot-swap TLS contexts.
 */
export interface IdentitySource {
  current(): Svid;
  onUpdate(listener: (svid: Svid) => void): () => void;
  close(): Promise<void>;
}

/** The workload paths of zenmesh's roles. */
export const WORKLOADS = ["backend", "ingester", "egress", "bff", "operator"] as const;
export type Workload = (typeof WORKLOADS)[number];

export function workloadId(trustDomain: string, path: string): string {
  return `spiffe://${trustDomain}/${path.replace(/^\/+/, "")}`;
}
