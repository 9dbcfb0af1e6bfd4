-- Per-project quota overrides: an operator raises or lowers one project's
-- limits (`zenmesh quota set`); a null column keeps the configured default.
-- Fenced like every tenant table; a project's overrides go with it.
CREATE TABLE project_quotas (
  tenant_id         text NOT NULL,
  project_id        text NOT NULL,
  sources           integer CHECK (sources BETWEEN 0 AND 1000000),
  destinations      integer CHECK (destinations BETWEEN 0 AND 1000000),
  subscriptions     integer CHECK (subscriptions BETWEEN 0 AND 1000000),
  api_keys          integer CHECK (api_keys BETWEEN 0 AND 1000000),
  rotations_per_day integer CHECK (rotations_per_day BETWEEN 0 AND 10000),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, project_id),
  FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE
);
ALTER TABLE project_quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE project_quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY project_quotas_fence ON project_quotas
  USING (tenant_id = (SELECT zm_fence_tenant()))
  WITH CHECK (tenant_id = (SELECT zm_fence_tenant()));
GRANT SELECT, INSERT, UPDATE, DELETE ON project_quotas TO zenmesh_app;
