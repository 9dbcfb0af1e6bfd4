export {
  createInternalClient,
  type InternalClient,
  type InternalClientOptions,
  type InternalClientResponse,
  type RequestOptions,
} from "./client.ts";
export {
  deriveHopKey,
  deriveMasterHopKey,
  HOP_KEY_LENGTH,
  SYSTEM_HOP_TENANT,
  systemHopKeyId,
} from "./hop-keys.ts";
export {
  createHopSigner,
  createHopVerifier,
  DEFAULT_HOP_TOLERANCE_SECONDS,
  formatHopSignature,
  HOP_SIGNATURE_HEADER,
  type HopRejectionMeta,
  type HopRejectReason,
  type HopSignatureParts,
  type HopSigner,
  type HopVerifier,
  type HopVerifierOptions,
  hopNonceTtlMs,
  hopSignedString,
  NONCE_MARGIN_SECONDS,
  parseHopSignature,
  type VerifiedHop,
} from "./hop-signature.ts";
export { createDbNonceStore, type DbNonceStoreOptions } from "./nonce-db.ts";
export { createRedisNonceStore } from "./nonce-redis.ts";
export type { NonceStore } from "./nonce-store.ts";
export {
  compileAllowList,
  createPeerValidator,
  type PeerFailure,
  type PeerIdentity,
  type PeerValidator,
} from "./peer.ts";
export {
  createInternalServer,
  type HopRejectionAudit,
  type HopSignaturePolicy,
  type InternalMethod,
  type InternalRequest,
  type InternalResponse,
  type InternalRoute,
  type InternalServer,
  type InternalServerOptions,
} from "./server.ts";
export { clientTlsOptions, MIN_TLS_VERSION, serverTlsOptions } from "./tls-options.ts";
