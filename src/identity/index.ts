export {
  type CaState,
  CertificateAuthority,
  CLOCK_SKEW_SECONDS,
  type CreateCaOptions,
  DEFAULT_INTERMEDIATE_TTL_SECONDS,
  DEFAULT_ROOT_TTL_SECONDS,
  DEFAULT_SVID_TTL_SECONDS,
  type SignedCsr,
} from "./ca.ts";
export { chainValidity, createKeyAndCsr, type KeyAndCsr, svidFromPem } from "./csr.ts";
export {
  type CreatedJoinToken,
  type CreateJoinTokenInput,
  createJoinToken,
  DEFAULT_JOIN_TOKEN_TTL_SECONDS,
  JOIN_TOKEN_PREFIX,
  type JoinTokenFailure,
  MAX_JOIN_TOKEN_TTL_SECONDS,
  type RedeemedJoinToken,
  type RedeemJoinTokenInput,
  redeemJoinToken,
} from "./join-tokens.ts";
export { createRenewingIdentity, type RenewingIdentity, type RenewingIdentityOptions } from "./renew.ts";
export {
  checkSpiffePath,
  isValidTrustDomain,
  MAX_SPIFFE_ID_BYTES,
  normalizeWorkloadPath,
  parseSpiffeId,
  type SpiffeId,
  type SpiffeIdFailure,
} from "./spiffe-id.ts";
export {
  createSpireIdentitySource,
  type SpireIdentitySourceOptions,
  startWorkloadApiServer,
  svidToMessage,
  type WorkloadApiServer,
  workloadApiEndpointFromEnv,
} from "./spire/index.ts";
export { type IdentitySource, type Svid, WORKLOADS, type Workload, workloadId } from "./types.ts";
export {
  DEFAULT_SVID_CACHE_ENTRIES,
  type SvidFailure,
  SvidLeafCache,
  type SvidLeafInfo,
  type ValidateSvidOptions,
  validateSvidLeaf,
  validateSvidLeafCached,
} from "./validate.ts";
