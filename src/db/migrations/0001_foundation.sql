-- zenmesh foundation schema: tenancy, identity, API keys, sessions, tenant keys, audit.
--
-- Tenant fence: every tenant table has tenant_id, ENABLE + FORCE ROW LEVEL
-- SECURITY and a policy on nullif(current_setting('app.tenant_id', true), '').
-- The application runs as zenmesh_app (NOSUPERUSER NOBYPASSRLS, owns nothing)
-- and sets the context transaction-locally in withTenant().
-- Identity tables (users, sessions, api_key_lookup) hold no tenant data and are
-- read before a tenant is known; they carry no secret but hashes.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'zenmesh_app') THEN
    CREATE ROLE zenmesh_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO zenmesh_app;

-- Tenants ---------------------------------------------------------------------

CREATE TABLE tenants (
  id          text PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_fence ON tenants
  USING (id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE ON tenants TO zenmesh_app;

CREATE TABLE projects (
  id          text PRIMARY KEY,
  tenant_id   text NOT NULL REFERENCES tenants(id),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_tenant ON projects (tenant_id, id);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY projects_fence ON projects
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO zenmesh_app;

-- Users, memberships, sessions -------------------------------------------------

CREATE TABLE users (
  id             text PRIMARY KEY,
  email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  password_hash  text NOT NULL,
  disabled_at    timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
GRANT SELECT, INSERT, UPDATE ON users TO zenmesh_app;

CREATE TABLE memberships (
  tenant_id   text NOT NULL REFERENCES tenants(id),
  user_id     text NOT NULL REFERENCES users(id),
  role        text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_fence ON memberships
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
-- A signed-in user may list their own memberships across tenants (read only).
CREATE POLICY memberships_self ON memberships FOR SELECT
  USING (user_id = nullif(current_setting('app.user_id', true), ''));
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships TO zenmesh_app;

-- Human sessions: only the SHA-256 of the 256-bit token is stored.
CREATE TABLE sessions (
  id                   text PRIMARY KEY,
  token_hash           bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  user_id              text NOT NULL REFERENCES users(id),
  created_at           timestamptz NOT NULL DEFAULT now(),
  last_seen_at         timestamptz NOT NULL DEFAULT now(),
  idle_expires_at      timestamptz NOT NULL,
  absolute_expires_at  timestamptz NOT NULL,
  revoked_at           timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO zenmesh_app;

-- API keys ---------------------------------------------------------------------

-- Salted SHA-256 of the raw key; the raw key exists only in the create response.
CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  tenant_id     text NOT NULL REFERENCES tenants(id),
  project_id    text NOT NULL REFERENCES projects(id),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  prefix        text NOT NULL,
  salt          bytea NOT NULL CHECK (length(salt) = 16),
  key_hash      bytea NOT NULL CHECK (length(key_hash) = 32),
  permissions   text[] NOT NULL,
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  revoked_at    timestamptz,
  last_used_at  timestamptz
);
CREATE INDEX api_keys_project ON api_keys (tenant_id, project_id, created_at);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_fence ON api_keys
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE ON api_keys TO zenmesh_app;

-- Routes a presented key to its tenant before any tenant context exists.
-- Holds the key's random lookup id (not secret on its own) and nothing else.
CREATE TABLE api_key_lookup (
  lookup     text PRIMARY KEY,
  tenant_id  text NOT NULL,
  key_id     text NOT NULL UNIQUE
);
GRANT SELECT, INSERT ON api_key_lookup TO zenmesh_app;

-- ZenLock: per-tenant data keys wrapped by the master key ---------------------

CREATE TABLE tenant_keys (
  tenant_id   text NOT NULL REFERENCES tenants(id),
  purpose     text NOT NULL CHECK (purpose IN ('data', 'fingerprint')),
  version     integer NOT NULL CHECK (version > 0),
  wrapped     text NOT NULL,
  state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired', 'destroyed')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, purpose, version)
);
ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_keys_fence ON tenant_keys
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE ON tenant_keys TO zenmesh_app;

-- Audit: append-only, hash-chained per tenant ---------------------------------
-- tenant_id is the chain: a tenant's id, or '_system' for events that belong to
-- no tenant (e.g. a failed login for an unknown key). No foreign key: the log
-- outlives the rows it speaks of.

CREATE TABLE audit_log (
  tenant_id       text NOT NULL,
  seq             integer NOT NULL CHECK (seq > 0),
  id              text NOT NULL UNIQUE,
  occurred_at     timestamptz NOT NULL,
  actor_type      text NOT NULL,
  actor_id        text,
  action          text NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  target_type     text,
  target_id       text,
  project_id      text,
  correlation_id  text NOT NULL,
  ip              text,
  details         jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash       bytea NOT NULL CHECK (length(prev_hash) = 32),
  entry_hash      bytea NOT NULL CHECK (length(entry_hash) = 32),
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_time ON audit_log (tenant_id, occurred_at);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_fence ON audit_log
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
-- Insert and read only: the runtime role can never rewrite history.
GRANT SELECT, INSERT ON audit_log TO zenmesh_app;

CREATE FUNCTION zm_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION zm_audit_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION zm_audit_is_append_only();

-- One row per chain, locked FOR UPDATE while appending so entries serialize.
CREATE TABLE audit_heads (
  tenant_id   text PRIMARY KEY,
  seq         integer NOT NULL,
  entry_hash  bytea NOT NULL
);
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_heads_fence ON audit_heads
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE ON audit_heads TO zenmesh_app;
