-- Mesh identity and signed internal hops. Neither table holds tenant data:
-- they belong to the installation, not to a tenant, and carry no secret but
-- hashes.

-- One-time bootstrap credentials for roles joining in production. Only the
-- SHA-256 of the token is stored; a token is single use and short-lived.
CREATE TABLE join_tokens (
  id               text PRIMARY KEY,
  token_hash       bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  workload         text NOT NULL CHECK (workload ~ '^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$'),
  created_by       text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz,
  used_by          text
);
GRANT SELECT, INSERT, UPDATE ON join_tokens TO zenmesh_app;

-- Replay protection for signed internal hops in the embedded profile
-- (production keeps nonces in Redis with SET NX PX).
CREATE TABLE hop_nonces (
  signer      text NOT NULL,
  nonce       text NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (signer, nonce)
);
CREATE INDEX hop_nonces_expiry ON hop_nonces (expires_at);
GRANT SELECT, INSERT, DELETE ON hop_nonces TO zenmesh_app;
