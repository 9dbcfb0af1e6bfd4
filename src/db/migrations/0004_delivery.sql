-- Delivery: destinations (with sealed signing secrets and credentials),
-- subscriptions that route events to them, one delivery per event and
-- destination with every attempt recorded, and replay jobs. All under the
-- tenant fence. Two installation-wide tables hold ids, times and counters
-- only, so the scheduler can claim work across tenants without reading
-- across the fence: the delivery queue and the destination gates (circuit
-- breaker state).

CREATE TABLE destinations (
  id                       text PRIMARY KEY,
  tenant_id                text NOT NULL REFERENCES tenants(id),
  project_id               text NOT NULL REFERENCES projects(id),
  name                     text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  url                      text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
  method                   text NOT NULL DEFAULT 'POST' CHECK (method IN ('POST', 'PUT', 'PATCH')),
  -- Static, non-secret headers; credentials live sealed below.
  headers                  jsonb NOT NULL DEFAULT '{}'::jsonb,
  timeout_ms               integer NOT NULL DEFAULT 15000 CHECK (timeout_ms BETWEEN 1000 AND 60000),
  format                   text NOT NULL DEFAULT 'cloudevents-structured'
                           CHECK (format IN ('cloudevents-structured', 'cloudevents-binary', 'original')),
  max_in_flight            integer NOT NULL DEFAULT 10 CHECK (max_in_flight BETWEEN 1 AND 1000),
  rate_limit_per_second    integer CHECK (rate_limit_per_second BETWEEN 1 AND 100000),
  fifo                     boolean NOT NULL DEFAULT false,
  enabled                  boolean NOT NULL DEFAULT true,
  disabled_reason          text CHECK (disabled_reason IN ('manual', 'failing')),
  disabled_at              timestamptz,
  allow_plain_http         boolean NOT NULL DEFAULT false,
  -- Customer credentials: a box only egress can open, inside the tenant's ZenLock seal.
  credentials_sealed       text,
  credential_kinds         text[] NOT NULL DEFAULT '{}',
  -- Delays in seconds before attempts 2, 3, …; empty means a single attempt.
  retry_schedule           integer[] NOT NULL,
  retry_after_cap_seconds  integer NOT NULL DEFAULT 3600 CHECK (retry_after_cap_seconds BETWEEN 0 AND 86400),
  secret_overlap_seconds   integer NOT NULL DEFAULT 86400 CHECK (secret_overlap_seconds BETWEEN 0 AND 2592000),
  auto_replay              boolean NOT NULL DEFAULT false,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX destinations_project ON destinations (tenant_id, project_id, id);
ALTER TABLE destinations ENABLE ROW LEVEL SECURITY;
ALTER TABLE destinations FORCE ROW LEVEL SECURITY;
CREATE POLICY destinations_fence ON destinations
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE, DELETE ON destinations TO zenmesh_app;

-- Signing secrets (whsec_…), sealed like credentials. A rotated-out secret keeps
-- signing beside the new one until expires_at.
CREATE TABLE destination_secrets (
  tenant_id       text NOT NULL REFERENCES tenants(id),
  destination_id  text NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
  version         integer NOT NULL CHECK (version > 0),
  sealed          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz,
  PRIMARY KEY (destination_id, version)
);
ALTER TABLE destination_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE destination_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY destination_secrets_fence ON destination_secrets
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE, DELETE ON destination_secrets TO zenmesh_app;

CREATE TABLE subscriptions (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL REFERENCES tenants(id),
  project_id      text NOT NULL REFERENCES projects(id),
  destination_id  text NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- Empty: every source of the project.
  source_ids      text[] NOT NULL DEFAULT '{}',
  -- Empty: every event type.
  event_types     text[] NOT NULL DEFAULT '{}',
  conditions      jsonb NOT NULL DEFAULT '[]'::jsonb,
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_project ON subscriptions (tenant_id, project_id, id);
CREATE INDEX subscriptions_destination ON subscriptions (tenant_id, destination_id);
ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY subscriptions_fence ON subscriptions
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE, DELETE ON subscriptions TO zenmesh_app;

-- Ingest order across the installation: FIFO destinations deliver by it.
CREATE SEQUENCE delivery_seq;
GRANT USAGE ON SEQUENCE delivery_seq TO zenmesh_app;

CREATE TABLE deliveries (
  id               text PRIMARY KEY,
  tenant_id        text NOT NULL REFERENCES tenants(id),
  project_id       text NOT NULL REFERENCES projects(id),
  event_id         text NOT NULL REFERENCES events(id),
  destination_id   text NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
  subscription_id  text,
  seq              bigint NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  last_attempt_at  timestamptz,
  last_status      integer,
  last_error       text,
  replays          integer NOT NULL DEFAULT 0,
  -- Attempts made before the latest replay: a replay starts the retry schedule over.
  schedule_offset  integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  succeeded_at     timestamptz,
  dead_at          timestamptz,
  UNIQUE (event_id, destination_id)
);
CREATE INDEX deliveries_project ON deliveries (tenant_id, project_id, created_at DESC, id DESC);
CREATE INDEX deliveries_dead ON deliveries (tenant_id, project_id, dead_at DESC, id DESC) WHERE status = 'dead';
CREATE INDEX deliveries_destination ON deliveries (tenant_id, destination_id, status);
ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY deliveries_fence ON deliveries
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE ON deliveries TO zenmesh_app;

CREATE TABLE delivery_attempts (
  tenant_id      text NOT NULL REFERENCES tenants(id),
  delivery_id    text NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  attempt        integer NOT NULL CHECK (attempt > 0),
  started_at     timestamptz NOT NULL,
  latency_ms     integer NOT NULL,
  verdict        text NOT NULL CHECK (verdict IN ('success', 'retry', 'fail')),
  status_code    integer,
  error_class    text,
  -- A short, sanitized excerpt of the response or of the refusal: never a header.
  detail         text CHECK (length(detail) <= 1024),
  next_attempt_at timestamptz,
  PRIMARY KEY (delivery_id, attempt)
);
ALTER TABLE delivery_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE delivery_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY delivery_attempts_fence ON delivery_attempts
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT ON delivery_attempts TO zenmesh_app;

-- The work still to do, across tenants: ids and times only. A row leaves the
-- queue when its delivery succeeds or dead-letters. A lease marks an attempt
-- handed to egress; a lease that expires (egress died mid-request) makes the
-- row claimable again.
CREATE TABLE delivery_queue (
  delivery_id     text PRIMARY KEY,
  tenant_id       text NOT NULL,
  destination_id  text NOT NULL,
  seq             bigint NOT NULL,
  fifo            boolean NOT NULL,
  due_at          timestamptz NOT NULL,
  lease_until     timestamptz,
  lease_token     text
);
CREATE INDEX delivery_queue_due ON delivery_queue (due_at);
CREATE INDEX delivery_queue_destination ON delivery_queue (destination_id, seq);
GRANT SELECT, INSERT, UPDATE, DELETE ON delivery_queue TO zenmesh_app;

-- Circuit breaker state per destination, across tenants: ids, states and times only.
CREATE TABLE destination_gates (
  destination_id        text PRIMARY KEY,
  tenant_id             text NOT NULL,
  state                 text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open', 'disabled')),
  consecutive_failures  integer NOT NULL DEFAULT 0,
  opened_at             timestamptz,
  failing_since         timestamptz,
  updated_at            timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON destination_gates TO zenmesh_app;

-- Bulk replays run in the background and report progress.
CREATE TABLE replay_jobs (
  id           text PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenants(id),
  project_id   text NOT NULL REFERENCES projects(id),
  filter       jsonb NOT NULL,
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
  trigger      text NOT NULL CHECK (trigger IN ('api', 'recovery')),
  total        integer NOT NULL DEFAULT 0,
  replayed     integer NOT NULL DEFAULT 0,
  -- Keyset position of the last replayed delivery (dead_at, id), to resume after a restart.
  cursor_at    timestamptz,
  cursor_id    text,
  created_by   text,
  created_at   timestamptz NOT NULL,
  finished_at  timestamptz,
  error        text
);
CREATE INDEX replay_jobs_project ON replay_jobs (tenant_id, project_id, created_at DESC);
ALTER TABLE replay_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY replay_jobs_fence ON replay_jobs
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT, UPDATE ON replay_jobs TO zenmesh_app;

-- Which tenants have a running replay job, for the backend's job runner (ids only).
CREATE TABLE replay_job_directory (
  job_id     text PRIMARY KEY,
  tenant_id  text NOT NULL
);
GRANT SELECT, INSERT, DELETE ON replay_job_directory TO zenmesh_app;
