export { appendAudit, appendAuditIn } from "./append.ts";
export { canonicalEntry, canonicalJson, entryHash, GENESIS_HASH, type HashedFields } from "./canonical.ts";
export { type AuditCheckpoint, auditCheckpoint } from "./checkpoint.ts";
export { type ListAuditOptions, listAudit, MAX_LIST_LIMIT } from "./list.ts";
export {
  EMPTY_TREE_ROOT,
  MerkleAccumulator,
  merkleInclusionProof,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  verifyMerkleInclusion,
} from "./merkle.ts";
export {
  type AppendedAudit,
  type AuditDetailValue,
  type AuditEntryInput,
  type AuditOutcome,
  type AuditRecord,
  type AuditVerification,
  SYSTEM_CHAIN,
} from "./types.ts";
export { MAX_DETAIL_KEYS, MAX_DETAIL_STRING, validateDetails } from "./validate.ts";
export { verifyAuditChain } from "./verify.ts";
