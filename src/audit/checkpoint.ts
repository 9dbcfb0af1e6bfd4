/**
 * A checkpoint of a chain: the RFC 6962 tree size and root over the chain's
 * entry hashes (32 raw bytes each, as leaf inputs, in seq order), for signing
 * and publishing. Computed only over a chain that verifies, so a checkpoint
 * never vouches for tampered history.
 */
import { ZenError } from "../core/index.ts";
import type { Database } from "../db/index.ts";
import { MerkleAccumulator } from "./merkle.ts";
import { SYSTEM_CHAIN } from "./types.ts";
import { walkAuditChain } from "./verify.ts";

export interface AuditCheckpoint {
  treeSize: number;
  /** Lower-case hex. */
  rootHash: string;
}

export async function auditCheckpoint(db: Database, tenantId: string | null): Promise<AuditCheckpoint> {
  const tree = new MerkleAccumulator();
  const result = await walkAuditChain(db, tenantId, (entry) => {
    tree.addLeafInput(Buffer.from(entry.entryHash, "hex"));
  });
  if (!result.ok) {
    throw new ZenError("AUDIT_CHAIN_BROKEN", {
      details: { chain: tenantId ?? SYSTEM_CHAIN, brokenAt: result.brokenAt, reason: result.reason },
    });
  }
  return { treeSize: tree.size, rootHash: tree.root().toString("hex") };
}
