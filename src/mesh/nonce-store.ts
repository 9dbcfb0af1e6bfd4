/**
 * Single-use nonces for signed hops. `claim` answers true exactly once per
 * (signer, nonce) within the ttl and throws when the store cannot answer, so
 * the verifier fails closed. One interface, two backends: PostgreSQL/PGlite
 * (`hop_nonces`, the embedded profile) and Redis (`SET NX PX`, production).
 */
export interface NonceStore {
  /** True the first time (signer, nonce) is seen within `ttlMs`; throws when unavailable. */
  claim(signer: string, nonce: string, ttlMs: number): Promise<boolean>;
}
