-- Ingest: sources (with sealed, rotating verification secrets), the events they
-- bring (payload sealed, CloudEvents envelope in columns), and replay keys.

CREATE TABLE sources (
  id                    text PRIMARY KEY,
  tenant_id             text NOT NULL REFERENCES tenants(id),
  project_id            text NOT NULL REFERENCES projects(id),
  name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  scheme                text NOT NULL CHECK (scheme ~ '^[a-z][a-z0-9_-]{1,40}$'),
  settings              jsonb NOT NULL DEFAULT '{}'::jsonb,
  signature_required    boolean NOT NULL DEFAULT true,
  allow_plain_http      boolean NOT NULL DEFAULT false,
  -- SHA-256 fingerprints (hex) of client certificates a source must present, when pinned.
  client_cert_pins      text[] NOT NULL DEFAULT '{}',
  max_body_bytes        integer NOT NULL DEFAULT 1048576 CHECK (max_body_bytes BETWEEN 1 AND 16777216),
  content_types         text[] NOT NULL DEFAULT '{application/json}',
  tolerance_seconds     integer NOT NULL DEFAULT 300 CHECK (tolerance_seconds BETWEEN 1 AND 86400),
  secret_overlap_seconds integer NOT NULL DEFAULT 86400 CHECK (secret_overlap_seconds BETWEEN 0 AND 2592000),
  enabled               boolean NOT NULL DEFAULT true,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sources_project ON sources (tenant_id, project_id, id);
ALTER TABLE sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE sources FORCE ROW LEVEL SECURITY;
CREATE POLICY sources_fence ON sources
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE, DELETE ON sources TO zenmesh_app;

-- Verification secrets, sealed with the tenant's data key. A rotated-out secret
-- stays valid until expires_at (the overlap), then verifies nothing.
CREATE TABLE source_secrets (
  tenant_id   text NOT NULL REFERENCES tenants(id),
  source_id   text NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
  version     integer NOT NULL CHECK (version > 0),
  sealed      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  PRIMARY KEY (source_id, version)
);
ALTER TABLE source_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE source_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY source_secrets_fence ON source_secrets
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE, DELETE ON source_secrets TO zenmesh_app;

-- Which source belongs to which tenant, and a global revision per change, so the
-- backend can tell ingesters what changed without reading across the fence.
-- Holds ids and numbers only.
CREATE SEQUENCE source_revision_seq;
CREATE TABLE source_directory (
  source_id   text PRIMARY KEY,
  tenant_id   text NOT NULL,
  revision    bigint NOT NULL,
  deleted     boolean NOT NULL DEFAULT false
);
CREATE INDEX source_directory_revision ON source_directory (revision);
GRANT SELECT, INSERT, UPDATE ON source_directory TO zenmesh_app;
GRANT USAGE ON SEQUENCE source_revision_seq TO zenmesh_app;

CREATE TABLE events (
  id                    text PRIMARY KEY,
  tenant_id             text NOT NULL REFERENCES tenants(id),
  project_id            text NOT NULL REFERENCES projects(id),
  source_id             text NOT NULL,
  -- CloudEvents 1.0 attributes
  type                  text NOT NULL,
  subject               text,
  time                  timestamptz NOT NULL,
  datacontenttype       text,
  dataschema            text,
  ce_source             text NOT NULL,
  extensions            jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- ingest facts
  received_at           timestamptz NOT NULL,
  correlation_id        text NOT NULL,
  provider_delivery_id  text,
  fingerprint           bytea NOT NULL CHECK (length(fingerprint) = 32),
  fingerprint_version   integer NOT NULL,
  payload_sealed        text NOT NULL,
  payload_bytes         integer NOT NULL,
  status                text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'delivered', 'failed', 'dead'))
);
CREATE INDEX events_project_time ON events (tenant_id, project_id, received_at DESC, id DESC);
CREATE INDEX events_fingerprint ON events (tenant_id, fingerprint);
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_fence ON events
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE ON events TO zenmesh_app;

-- Replay keys seen within the window: a provider delivery id, a Standard
-- Webhooks id, or a signature. Expired rows are swept.
CREATE TABLE ingest_replays (
  tenant_id   text NOT NULL REFERENCES tenants(id),
  source_id   text NOT NULL,
  replay_key  text NOT NULL,
  event_id    text NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, source_id, replay_key)
);
CREATE INDEX ingest_replays_expiry ON ingest_replays (expires_at);
ALTER TABLE ingest_replays ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest_replays FORCE ROW LEVEL SECURITY;
CREATE POLICY ingest_replays_fence ON ingest_replays
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
-- UPDATE re-arms a key whose window has passed.
GRANT SELECT, INSERT, UPDATE, DELETE ON ingest_replays TO zenmesh_app;
