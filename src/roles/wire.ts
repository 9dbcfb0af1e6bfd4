/**
 * Messages between the `zenmesh up` supervisor and its role processes, over
 * the IPC channel of `child_process.fork` (never a socket, never a file): the
 * supervisor hands each child its SVID and its derived hop key, and pushes
 * renewed SVIDs; children report where they listen.
 */
import type { RoleName } from "../config/index.ts";
import type { Svid } from "../identity/types.ts";

export interface SvidWire {
  spiffeId: string;
  certChainPem: string;
  keyPem: string;
  bundlePem: string;
  notBefore: string;
  notAfter: string;
}

export interface BootMessage {
  type: "boot";
  role: RoleName;
  identity: SvidWire;
  /** The role's own hop-signing key (derived by the supervisor), base64. */
  hop: { keyId: string; key: string };
  /** Internal ports to bind (a restart reuses what the first start got). */
  ports: { internal: number; api?: number; ingest?: number; metrics?: number };
  /** Internal URLs of the roles this one talks to. */
  peers: Partial<Record<RoleName, string>>;
  /**
   * Egress's box key: the private half to egress only (it opens destination
   * secrets), the public half to the backend (it seals them), base64url.
   */
  box?: { privateKey?: string; publicKey?: string };
  /** The backend: the supervisor ran the migrations; serve without migrating or the owner connection. */
  migrated?: boolean;
}

export interface IdentityMessage {
  type: "identity";
  identity: SvidWire;
}

/**
 * Where other roles listen, once they do: the ingester's public URL (the
 * ingest URLs sources show) for the backend, egress's internal URL for the
 * backend and the ingester, and every listener of the system for egress
 * (which never delivers to them).
 */
export interface PeersMessage {
  type: "peers";
  ingestUrl?: string;
  egressUrl?: string;
  listeners?: string[];
}

export type ToChild = BootMessage | IdentityMessage | PeersMessage;

export interface ReadyMessage {
  type: "ready";
  role: RoleName;
  internal: string;
  /** Public listeners, by name (e.g. `api`). */
  public: Record<string, string>;
}

export type ToParent = ReadyMessage;

export function toWire(s: Svid): SvidWire {
  return { ...s, notBefore: s.notBefore.toISOString(), notAfter: s.notAfter.toISOString() };
}

export function fromWire(w: SvidWire): Svid {
  return { ...w, notBefore: new Date(w.notBefore), notAfter: new Date(w.notAfter) };
}
